"""Per-image conv2d kernels (kernels/conv2d/cpu.py conv2d_image_*) against the multi-image ones
(kernels/conv2d/images.py) over chunks of b images: microseconds per image and GFLOP/s, float32, one
thread, CPU time, N images per measurement (median of --repeats). Picks IMAGES_COL_MAX / IMAGES_MAX_CKKP.

    python bench/conv_images.py [--images 256] [--chunks 1,4,8,16,32] [--repeats 5]
"""
import argparse
import sys
import time

import numba
import numpy as np

from fastnn.kernels.conv2d import images
from fastnn.kernels.conv2d.cpu import (conv2d_image_backward_input, conv2d_image_backward_weight,
                                       conv2d_image_forward, work_size)

SHAPES = {  # name: (C, O, H, W, K, pad)
    "lenet conv1 1->6 28x28 k5 p2": (1, 6, 28, 28, 5, 2),
    "lenet conv2 6->16 14x14 k5": (6, 16, 14, 14, 5, 0),
    "net conv1 1->32 28x28 k3": (1, 32, 28, 28, 3, 0),
    "net conv2 32->64 26x26 k3": (32, 64, 26, 26, 3, 0),
    "3->16 32x32 k3 p1": (3, 16, 32, 32, 3, 1),
    "8->16 16x16 k3 p1": (8, 16, 16, 16, 3, 1),
    "16->32 16x16 k3 p1": (16, 32, 16, 16, 3, 1),
}


@numba.njit(cache=True)
def per_image(which, out, x, w2, dw2, K, p, work):
    # which 0: forward, 1: weight gradient, 2: input gradient, image by image (conv2d/cpu.py)
    one = np.int64(1)
    for n in range(x.shape[0]):
        if which == 0:
            conv2d_image_forward(out[n], x[n], w2, K, K, one, one, p, p, one, one, one, work)
        elif which == 1:
            conv2d_image_backward_weight(dw2, out[n], x[n], K, K, one, one, p, p, one, one, one, work)
        else:
            conv2d_image_backward_input(x[n], out[n], w2, K, K, one, one, p, p, one, one, one, work)


@numba.njit(cache=True)
def multi_image(which, out, x, w2, dw2, K, p, b, work):
    # the same over chunks of b images (conv2d/images.py)
    one, N = np.int64(1), x.shape[0]
    none1, none2, none4 = dw2[0, :0], dw2[:0], x[:0]
    for n0 in range(0, N, b):
        n1 = min(N, n0 + b)
        if which == 0:
            images.forward(out[n0:n1], x[n0:n1], w2, none1, K, K, one, one, p, p, one, one, one, work)
        elif which == 1:
            images.backward(none4, dw2, none1, out[n0:n1], x[n0:n1], w2, K, K, one, one, p, p, one, one, one, work)
        else:
            images.backward(x[n0:n1], none2, none1, out[n0:n1], x[n0:n1], w2, K, K, one, one, p, p, one, one, one,
                            work)


def _time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        ts.append(time.process_time() - t)
    return float(np.median(ts))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--chunks", default="1,4,8,16,32")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shapes", default="", help="substring filter on the shape names")
    a = ap.parse_args(argv)
    numba.set_num_threads(1)
    chunks = [int(v) for v in a.chunks.split(",")]
    rng = np.random.default_rng(0)
    print("shape | pass | per-image us (GF/s) | " + " | ".join(f"b={b}" for b in chunks))
    for name, (C, O, H, W, K, p) in SHAPES.items():
        if a.shapes not in name:
            continue
        N, OH, OW = a.images, H + 2 * p - K + 1, W + 2 * p - K + 1
        x = rng.standard_normal((N, C, H, W)).astype(np.float32)
        out = rng.standard_normal((N, O, OH, OW)).astype(np.float32)
        w2 = rng.standard_normal((O, C * K * K)).astype(np.float32)
        dw2 = np.zeros_like(w2)
        flop = 2.0 * O * C * K * K * OH * OW
        k, pp = np.int64(K), np.int64(p)
        w1 = np.zeros(work_size(C, O, K, K, OH, OW, 1), np.float32)
        for which, pas in enumerate(("forward", "weight grad", "input grad")):
            per_image(np.int64(which), out, x, w2, dw2, k, pp, w1)
            t = _time(lambda: per_image(np.int64(which), out, x, w2, dw2, k, pp, w1), a.repeats) / N
            row = [f"{name} | {pas} | {t * 1e6:.1f} ({flop / t / 1e9:.0f})"]
            for b in chunks:
                wb = np.zeros(images.work_size(C, O, K, K, OH, OW, 1, b), np.float32)
                multi_image(np.int64(which), out, x, w2, dw2, k, pp, np.int64(b), wb)
                tb = _time(lambda: multi_image(np.int64(which), out, x, w2, dw2, k, pp, np.int64(b), wb),
                           a.repeats) / N
                row.append(f"{tb * 1e6:.1f} ({flop / tb / 1e9:.0f})")
            print(" | ".join(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
