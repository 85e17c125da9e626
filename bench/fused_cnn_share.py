"""How much of a fused CNN epoch (kernels/fused_cnn) is the per-image conv2d / max-pool kernels that
kernels/conv2d and kernels/pool2d provide: one thread, the fused epoch over N images against a jitted loop
that calls only those kernels (forward, weight gradient, input gradient but the first conv's, pool
forward/backward) with the same geometry on the same number of images. The share predicts how a faster
conv2d/pool2d changes the fused epoch: new time ~ old * (1 - share) + kernel time after.

    python bench/fused_cnn_share.py --model lenet5 --images 3200 --batch 64
"""
import argparse
import sys
import time

import numba
import numpy as np


@numba.njit(cache=True)
def kernels_only(prog, tabs, sizes, acts, g, idx, params, grads, work, n_images):
    # for each image: the conv2d / max-pool per-image kernel calls of kernels/fused_cnn/cpu.py's
    # image_forward and image_backward (same arguments and geometry), and nothing else
    off = np.zeros(sizes.size, np.int64)
    for k in range(1, sizes.size):
        off[k] = off[k - 1] + sizes[k - 1]
    k0 = 0
    while prog[k0, P.F_OP] != CONV:
        k0 += 1
    for n in range(n_images):
        a, ix = acts[n % acts.shape[0]], idx[n % acts.shape[0]]
        for k in range(prog.shape[0]):
            r = prog[k]
            C, H, W, O, OH, OW = r[P.F_C], r[P.F_H], r[P.F_W], r[P.F_O], r[P.F_OH], r[P.F_OW]
            x = a[off[k]:off[k] + C * H * W].reshape((C, H, W))
            out = a[off[k + 1]:off[k + 1] + O * OH * OW].reshape((O, OH, OW))
            if r[P.F_OP] == CONV:
                CKK = (C // r[P.F_GROUPS]) * r[P.F_KH] * r[P.F_KW]
                w2 = params[r[P.F_WOFF]:r[P.F_WOFF] + O * CKK].reshape((O, CKK))
                conv2d_image_forward(out, x, w2, r[P.F_KH], r[P.F_KW], r[P.F_SH], r[P.F_SW], r[P.F_PH], r[P.F_PW],
                                     r[P.F_DH], r[P.F_DW], r[P.F_GROUPS], work)
            elif r[P.F_OP] == MAXPOOL:
                t = r[P.F_TAB]
                max_image_forward(out, ix[r[P.F_IDX]:r[P.F_IDX] + O * OH * OW].reshape((O, OH, OW)), x,
                                  tabs[t:t + OH], tabs[t + OH:t + 2 * OH], tabs[t + 2 * OH:t + 2 * OH + OW],
                                  tabs[t + 2 * OH + OW:t + 2 * OH + 2 * OW], r[P.F_DH], r[P.F_DW])
        for k in range(prog.shape[0] - 1, k0 - 1, -1):
            r = prog[k]
            C, H, W, O, OH, OW = r[P.F_C], r[P.F_H], r[P.F_W], r[P.F_O], r[P.F_OH], r[P.F_OW]
            dout = g[0][:O * OH * OW].reshape((O, OH, OW))
            din = g[1][:C * H * W].reshape((C, H, W))
            if r[P.F_OP] == CONV:
                CKK = (C // r[P.F_GROUPS]) * r[P.F_KH] * r[P.F_KW]
                x = a[off[k]:off[k] + C * H * W].reshape((C, H, W))
                dw2 = grads[r[P.F_WOFF]:r[P.F_WOFF] + O * CKK].reshape((O, CKK))
                conv2d_image_backward_weight(dw2, dout, x, r[P.F_KH], r[P.F_KW], r[P.F_SH], r[P.F_SW], r[P.F_PH],
                                             r[P.F_PW], r[P.F_DH], r[P.F_DW], r[P.F_GROUPS], work)
                if k > k0:
                    w2 = params[r[P.F_WOFF]:r[P.F_WOFF] + O * CKK].reshape((O, CKK))
                    conv2d_image_backward_input(din, dout, w2, r[P.F_KH], r[P.F_KW], r[P.F_SH], r[P.F_SW],
                                                r[P.F_PH], r[P.F_PW], r[P.F_DH], r[P.F_DW], r[P.F_GROUPS], work)
            elif r[P.F_OP] == MAXPOOL:
                t = r[P.F_TAB]
                max_image_backward(din, dout, ix[r[P.F_IDX]:r[P.F_IDX] + O * OH * OW].reshape((O, OH, OW)),
                                   tabs[t + OH:t + 2 * OH], tabs[t + 2 * OH + OW:t + 2 * OH + 2 * OW])
    return n_images


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="lenet5", choices=("lenet5", "mnist-net"))
    p.add_argument("--images", type=int, default=3200)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    import fastnn
    from fastnn import nn, optim
    from fastnn.fused_cnn import FusedCNN
    from fastnn.vision.models import lenet5, mnist_net

    fastnn.set_num_threads(1)
    fastnn.manual_seed(0)
    model = lenet5() if a.model == "lenet5" else mnist_net()
    fc = FusedCNN(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3), (1, 28, 28))
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (a.images, 1, 28, 28)).astype(np.float32)
    Y = rng.integers(0, 10, a.images)
    pr = fc.impl.program
    per_image = np.zeros((8, int(pr.sizes.sum())), np.float32)
    per_image[:, :pr.sizes[0]] = X[:8].reshape(8, -1)
    g = np.zeros((2, int(pr.sizes.max())), np.float32)
    g[:] = rng.standard_normal(g.shape)
    idx = np.zeros((8, pr.idx_size), np.int64)
    work, grads = np.zeros(pr.work_size(1), np.float32), np.zeros(pr.P, np.float32)
    params = fc.impl.params
    fc.epoch(X[:a.batch], Y[:a.batch], a.batch)                                   # compile / load
    kernels_only(pr.prog, pr.tabs, pr.sizes, per_image, g, idx, params, grads, work, 1)
    for r in range(a.repeats):
        t = time.process_time()
        fc.epoch(X, Y, a.batch)
        fused = time.process_time() - t
        t = time.process_time()
        kernels_only(pr.prog, pr.tabs, pr.sizes, per_image, g, idx, params, grads, work, a.images)
        kern = time.process_time() - t
        print(f"{a.model} batch {a.batch}, {a.images} images, 1 thread, CPU s: fused epoch {fused:.3f} "
              f"(= {fused * 60000 / a.images:.1f} s per 60k), conv2d+pool2d kernels alone {kern:.3f}: "
              f"share {kern / fused:.0%}", flush=True)
    return 0


from fastnn.kernels.conv2d.cpu import (conv2d_image_backward_input, conv2d_image_backward_weight,  # noqa: E402
                                       conv2d_image_forward)
from fastnn.kernels.fused_cnn import program as P  # noqa: E402
from fastnn.kernels.pool2d.cpu import max_image_backward, max_image_forward  # noqa: E402

CONV, MAXPOOL = P.OP["conv"], P.OP["maxpool"]

if __name__ == "__main__":
    sys.exit(main())
