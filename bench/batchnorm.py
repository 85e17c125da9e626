"""Batch-norm training step (forward + running-stat update + backward) on the CPU: the fused kernels
(kernels/batchnorm through backend.batch_norm / batch_norm_backward) against the NumPy expressions the
BatchNorm op ran before them.

    python bench/batchnorm.py [--repeat 7]   # speed table (Markdown)
    python bench/batchnorm.py --cold         # compile cost of the first BatchNorm2d training step

Speed: old and new run alternately, `repeat` rounds of a few steps each; the table gives the median
per step and old/new (above 1: the kernels are faster). Both sides are array-level (no autograd), float32,
affine, with running statistics. Cold: a fresh process with an empty NUMBA_CACHE_DIR times the first
nn.BatchNorm2d(32) training step (forward + backward) at (64, 32, 28, 28), then the same with the cache warm.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

SHAPES = [(64, 32, 28, 28), (64, 64, 14, 14), (64, 128)]


def old_step(x, w, b, rm, rv, dout, momentum=0.1, eps=1e-5):
    """The previous op's arithmetic (fastnn/ops/nn.py BatchNorm before kernels/batchnorm), training."""
    x = x.reshape(x.shape[0], x.shape[1], -1)
    dout = dout.reshape(x.shape)
    axes, bshape = (0, 2), (1, -1, 1)
    n = x.size // x.shape[1]
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    rm *= 1 - momentum
    rm += momentum * mean
    rv *= 1 - momentum
    rv += momentum * (var * (n / (n - 1)))
    invstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
    xhat = (x - mean.reshape(bshape)) * invstd.reshape(bshape)
    out = xhat * w.reshape(bshape) + b.reshape(bshape)
    dxhat = dout * w.reshape(bshape)
    s1 = dxhat.sum(axis=axes, keepdims=True)
    s2 = (dxhat * xhat).sum(axis=axes, keepdims=True)
    dx = (invstd.reshape(bshape) / n) * (n * dxhat - s1 - xhat * s2)
    return out, dx, (dout * xhat).sum(axis=axes), dout.sum(axis=axes)


def new_step(be, x, w, b, rm, rv, dout, momentum=0.1, eps=1e-5):
    """What the BatchNorm op runs now: the fused forward, the running-stat update, the fused backward."""
    out, mean, invstd, var = be.batch_norm(x, w, b, eps)
    n = x.size // x.shape[1]
    rm *= 1 - momentum
    rm += momentum * mean
    rv *= 1 - momentum
    rv += momentum * (var * (n / (n - 1)))
    dx, dw, db = be.batch_norm_backward(dout, x, w, mean, invstd, True)
    return out, dx, dw, db


def speed(repeat):
    from fastnn.backends import get_backend

    be = get_backend("cpu")
    rng = np.random.default_rng(0)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| shape (float32) | old xp ms | fused ms | old/new per round |\n|---|---:|---:|---|")
    for shape in SHAPES:
        x = rng.standard_normal(shape).astype(np.float32) * 2 + 1
        dout = rng.standard_normal(shape).astype(np.float32)
        C = shape[1]
        w, b = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
        o, n_ = old_step(x, w, b, np.zeros(C, np.float32), np.ones(C, np.float32), dout), \
            new_step(be, x, w, b, np.zeros(C, np.float32), np.ones(C, np.float32), dout)
        for a, c in zip(o, n_):  # same results (float32 rounding apart) before timing
            np.testing.assert_allclose(a.reshape(c.shape), c, rtol=1e-3, atol=1e-3 * np.abs(c).max())
        calls = max(1, int(2e6 // x.size))
        times = {"old": [], "new": []}
        for _ in range(repeat):
            for name in ("old", "new"):
                rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)
                t = time.perf_counter()
                for _ in range(calls):
                    old_step(x, w, b, rm, rv, dout) if name == "old" else new_step(be, x, w, b, rm, rv, dout)
                times[name].append((time.perf_counter() - t) / calls * 1e3)
        ratios = [o_ / n_ for o_, n_ in zip(times["old"], times["new"])]
        print(f"| {shape} | {np.median(times['old']):.3f} | {np.median(times['new']):.3f} | "
              f"{' '.join(f'{r:.2f}' for r in ratios)} |")


_COLD = """
import time
t0 = time.perf_counter()
import numpy as np
import fastnn, fastnn.nn as nn
t1 = time.perf_counter()
bn = nn.BatchNorm2d(32)
x = fastnn.tensor(np.random.default_rng(0).standard_normal((64, 32, 28, 28)).astype(np.float32), requires_grad=True)
bn(x).sum().backward()
t2 = time.perf_counter()
print(f"import {t1 - t0:.2f} s, first BatchNorm2d training step {t2 - t1:.2f} s")
"""


def cold():
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold (empty NUMBA_CACHE_DIR)", "warm (same cache)"):
            r = subprocess.run([sys.executable, "-c", _COLD], env=env, capture_output=True, text=True,
                               cwd=tempfile.gettempdir(), check=True)
            print(f"{label}: {r.stdout.strip()}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--cold", action="store_true")
    args = ap.parse_args()
    cold() if args.cold else speed(args.repeat)
