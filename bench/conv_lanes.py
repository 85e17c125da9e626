"""The lane layout's convolution (kernels/conv2d/lanes.py) against conv2d/cpu.py's per-image drivers, float32,
batch 64: for each shape, us per image of the eager drivers (the "image" family: direct / im2col + GEMM)
and of the lane drivers (chunks of L images transposed in, the kernel, transposed out), forward, input
gradient and weight gradient, and the lane kernels alone on one chunk (no transposes: the fused CNN
step's case) in GFLOP/s. Best of 7 runs of wall time, side by side in one process. This is what
conv2d/cpu.py's LANES_MIN_TAPS / LANES_MAX_OHW rest on (DESIGN.md, "The lane layout").

    python bench/conv_lanes.py --threads 1
"""
import argparse
import time

import numpy as np

from fastnn.kernels.conv2d import cpu as conv
from fastnn.kernels.conv2d import lanes
from fastnn.kernels.simd import lanes as lanes_for

SHAPES = {   # name: (C, H, W, O, K, padding)
    "LeNet-5 conv1": (1, 28, 28, 6, 5, 2),
    "LeNet-5 conv2": (6, 14, 14, 16, 5, 0),
    "examples Net conv1": (1, 28, 28, 32, 3, 0),
    "bn-cnn conv1": (1, 28, 28, 32, 3, 1),
    "3->16 5x5 32x32": (3, 32, 32, 16, 5, 0),
}
I = np.int64


def best(f, reps=10):
    f()
    times = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(reps):
            f()
        times.append((time.perf_counter() - t) / reps)
    return min(times)


def drivers(N, C, H, W, O, K, p, T):
    """{kernel: (image family us/img, lanes us/img)} at this shape."""
    rng = np.random.default_rng(0)
    x, w2 = rng.standard_normal((N, C, H, W)).astype(np.float32), rng.standard_normal((O, C * K * K)).astype(np.float32)
    OH, OW = H + 2 * p - K + 1, W + 2 * p - K + 1
    out = np.empty((N, O, OH, OW), np.float32)
    dout, dx, dw = rng.standard_normal(out.shape).astype(np.float32), np.empty_like(x), np.empty_like(w2)
    Tn = max(1, min(T, N))
    work, part = np.empty((Tn, conv.work_size(C, O, K, K, OH, OW, 1)), np.float32), np.zeros((Tn, w2.size), np.float32)
    geo = tuple(I(v) for v in (K, K, 1, 1, p, p, 1, 1))

    def zeroed(f):
        def run():
            part[:] = 0
            f()
        return run
    pairs = {
        "forward": (lambda: conv._forward_images(out, x, w2, *geo, I(1), work),
                    lambda: lanes.forward_images(out, x, w2, w2[0, :0], *geo, I(Tn))),
        "input grad": (lambda: conv._backward_input_images(dx, dout, w2, *geo, I(1), work),
                       lambda: lanes.backward_images(dx, dw[:0], dw[0, :0], part[:, :0], dout, dx, w2, *geo)),
        "weight grad": (zeroed(lambda: conv._backward_weight_images(dw, part, dout, x, *geo, I(1), work)),
                        zeroed(lambda: lanes.backward_images(x[:0], dw, dw[0, :0], part, dout, x, w2, *geo))),
    }
    return {k: (best(a) / N * 1e6, best(b) / N * 1e6) for k, (a, b) in pairs.items()}


def kernels_alone(C, H, W, O, K, p):
    """GFLOP/s of the three lane kernels on one chunk of L images already in the lane layout."""
    L = lanes_for(np.dtype(np.float32))
    OH, OW = H + 2 * p - K + 1, W + 2 * p - K + 1
    pos, tap, opos = lanes.offsets_arrays(C, H, W, p, p, K, K, 1, 1, 1, 1, OH, OW, 0, 0, L)
    rng = np.random.default_rng(0)
    xl = rng.standard_normal(lanes.region_size(C, H, W, p, p, L)).astype(np.float32)
    ol = rng.standard_normal(lanes.region_size(O, OH, OW, 0, 0, L)).astype(np.float32)
    w2, none = rng.standard_normal((O, C * K * K)).astype(np.float32), np.zeros(0, np.float32)
    flop, plane = 2 * O * C * K * K * OH * OW * L, I(OH * OW * L)
    runs = (lambda: lanes.forward(ol, xl, w2, none, pos, tap, opos, plane),
            lambda: lanes.backward_input(xl, ol, w2, pos, tap, opos, plane),
            lambda: lanes.backward_weight(w2, none, ol, xl, pos, tap, opos, plane))
    return [flop / best(f, 50) / 1e9 for f in runs]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    a = ap.parse_args()
    import numba

    numba.set_num_threads(a.threads)
    print(f"float32, batch {a.batch}, {a.threads} thread(s), us per image: image family -> lanes "
          f"(lane kernels alone, GFLOP/s: forward / input grad / weight grad)")
    print("| shape | forward | input grad | weight grad | lane kernels alone |")
    print("|---|---:|---:|---:|---:|")
    for name, (C, H, W, O, K, p) in SHAPES.items():
        d = drivers(a.batch, C, H, W, O, K, p, a.threads)
        g = kernels_alone(C, H, W, O, K, p)
        cells = " | ".join(f"{u:.2f} -> {v:.2f}" for u, v in d.values())
        print(f"| {name} ({C}->{O}, {H}x{W}, {K}x{K}, pad {p}) | {cells} | {g[0]:.0f} / {g[1]:.0f} / {g[2]:.0f} |")


if __name__ == "__main__":
    main()
