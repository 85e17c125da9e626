"""How much of a fused CNN epoch (kernels/fused_cnn) is the conv2d / max-pool kernels that kernels/conv2d
and kernels/pool2d provide: one thread, the fused epoch over N images against a jitted loop that makes
only the fused step's conv and pool calls (kernels/fused_cnn/cpu.py's conv_forward_ / conv_backward_,
which pick conv2d/images.py's multi-image kernels or conv2d/cpu.py's per-image ones, and the max pool over
a batch's planes), forward and backward, with the same geometry on batches of the same size. The share
predicts how a faster conv2d/pool2d changes the fused epoch: new time ~ old * (1 - share) + kernel time after.

    python bench/fused_cnn_share.py --model lenet5 --images 3200 --batch 64
"""
import argparse
import sys
import time

import numba
import numpy as np


@numba.njit(cache=True)
def kernels_only(prog, tabs, sizes, acts, g, idx, params, grads, work, n_images, wino):
    # for each batch of B = acts.shape[0] images: the conv2d / max-pool calls of kernels/fused_cnn/cpu.py's
    # shard_forward and shard_backward (same arguments and geometry), and nothing else
    B = acts.shape[0]
    off = np.zeros(sizes.size, np.int64)
    for k in range(1, sizes.size):
        off[k] = off[k - 1] + B * sizes[k - 1]
    af, k0 = acts.reshape(-1), 0
    while prog[k0, P.F_OP] != CONV:
        k0 += 1
    for _ in range(0, n_images, B):
        for k in range(prog.shape[0]):
            r = prog[k]
            C, H, W, O, OH, OW = r[P.F_C], r[P.F_H], r[P.F_W], r[P.F_O], r[P.F_OH], r[P.F_OW]
            x = af[off[k]:off[k] + B * C * H * W].reshape((B, C, H, W))
            out = af[off[k + 1]:off[k + 1] + B * O * OH * OW].reshape((B, O, OH, OW))
            if r[P.F_OP] == CONV:
                conv_forward_(out, x, r, params, work, wino)
            elif r[P.F_OP] == MAXPOOL:
                hs, hn, ws, wn = _pool_tabs(tabs, r)
                max_image_forward(out.reshape((B * O, OH, OW)), idx[k, :B * O * OH * OW].reshape((B * O, OH, OW)),
                                  x.reshape((B * C, H, W)), hs, hn, ws, wn, r[P.F_DH], r[P.F_DW])
        for k in range(prog.shape[0] - 1, k0 - 1, -1):
            r = prog[k]
            C, H, W, O, OH, OW = r[P.F_C], r[P.F_H], r[P.F_W], r[P.F_O], r[P.F_OH], r[P.F_OW]
            dout = g[0, :B * O * OH * OW].reshape((B, O, OH, OW))
            din = g[1, :B * C * H * W].reshape((B, C, H, W))
            if r[P.F_OP] == CONV:
                x = af[off[k]:off[k] + B * C * H * W].reshape((B, C, H, W))
                conv_backward_(din[:B if k > k0 else 0], grads, dout, x, r, params, work, wino)
            elif r[P.F_OP] == MAXPOOL:
                _, hn, _, wn = _pool_tabs(tabs, r)
                max_image_backward(din.reshape((B * C, H, W)), dout.reshape((B * O, OH, OW)),
                                   idx[k, :B * O * OH * OW].reshape((B * O, OH, OW)), hn, wn)
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
    acts = np.zeros((a.batch, int(pr.sizes.sum())), np.float32)
    acts[:, :pr.sizes[0]] = X[:a.batch].reshape(a.batch, -1)
    g = rng.standard_normal((2, a.batch * int(pr.sizes.max()))).astype(np.float32)
    idx = np.zeros((len(pr.prog), a.batch * int(pr.sizes.max())), np.int64)
    work, grads = np.zeros(pr.work_size(a.batch), np.float32), np.zeros(pr.P, np.float32)
    params, wino = fc.impl.params, (True if pr.winograd else None)
    fc.epoch(X[:a.batch], Y[:a.batch], a.batch)                                   # compile / load
    kernels_only(pr.prog, pr.tabs, pr.sizes, acts, g, idx, params, grads, work, a.batch, wino)
    for r in range(a.repeats):
        t = time.process_time()
        fc.epoch(X, Y, a.batch)
        fused = time.process_time() - t
        t = time.process_time()
        kernels_only(pr.prog, pr.tabs, pr.sizes, acts, g, idx, params, grads, work, a.images, wino)
        kern = time.process_time() - t
        print(f"{a.model} batch {a.batch}, {a.images} images, 1 thread, CPU s: fused epoch {fused:.3f} "
              f"(= {fused * 60000 / a.images:.1f} s per 60k), conv2d+pool2d kernels alone {kern:.3f}: "
              f"share {kern / fused:.0%}", flush=True)
    return 0


from fastnn.kernels.fused_cnn import program as P  # noqa: E402
from fastnn.kernels.fused_cnn.cpu import _pool_tabs, conv_backward_, conv_forward_  # noqa: E402
from fastnn.kernels.pool2d.cpu import max_image_backward, max_image_forward  # noqa: E402

CONV, MAXPOOL = P.OP["conv"], P.OP["maxpool"]

if __name__ == "__main__":
    sys.exit(main())
