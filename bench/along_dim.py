"""The along-a-dim kernels (kernels/index, scan, sort, reduce) against the NumPy calls they replaced, on the CPU.

    python bench/along_dim.py [--rows 1024 --cols 1000 --repeat 7] [--only sum]   # speed table (Markdown)
    python bench/along_dim.py --cold                                  # compile cost of first use

Speed: each pair (old NumPy path, new backend primitive) runs alternately, `repeat` rounds of a few
calls each; the table gives the median per call and old/new (above 1: the kernel is faster). Both
sides include their wrappers. Cold: a fresh process with an empty NUMBA_CACHE_DIR times `import fastnn`
and the first call of each primitive (float32), then the same with the cache warm.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def _old_scatter_add(out, index, src, dim):
    idx = list(np.indices(index.shape, sparse=True))
    idx[dim] = index
    np.add.at(out, tuple(idx), src)
    return out


def _old_cumprod_backward(dout, x, d):
    """The O(N^2) loop the Cumprod op ran before (one cumprod per position)."""
    xm, gm = np.moveaxis(x, d, -1), np.moveaxis(dout, d, -1)
    dx = np.zeros_like(xm)
    for k in range(xm.shape[-1]):
        others = np.array(xm, copy=True)
        others[..., k] = 1
        dx[..., k] = (gm[..., k:] * np.cumprod(others, axis=-1)[..., k:]).sum(axis=-1)
    return np.moveaxis(dx, -1, d)


def _old_sort(x, d, descending):
    order = np.argsort(-x if descending else x, axis=d, kind="stable")
    return np.take_along_axis(x, order, axis=d), order


def _old_topk(x, k, d, largest):
    order = np.take(np.argsort(-x if largest else x, axis=d, kind="stable"), np.arange(k), axis=d)
    return np.take_along_axis(x, order, axis=d), order


def _old_max(x, d):
    """What the MaxDim op ran before: argmax, then the values picked by take_along_axis."""
    idx = np.argmax(x, axis=d)
    return np.take_along_axis(x, np.expand_dims(idx, d), axis=d), idx


def reduce_cases(be, x):
    out = []
    for d in (1, 0):
        out += [(f"sum dim={d}", lambda d=d: x.sum(axis=d), lambda d=d: be.reduce_dim("sum", x, d)),
                (f"prod dim={d}", lambda d=d: x.prod(axis=d), lambda d=d: be.reduce_dim("prod", x, d)),
                (f"max+indices dim={d}", lambda d=d: _old_max(x, d), lambda d=d: be.max_dim(x, d)),
                (f"argmax dim={d}", lambda d=d: np.argmax(x, axis=d), lambda d=d: be.max_dim(x, d)[1])]
    return out


def cases(be, M, N, rng):
    x = rng.standard_normal((M, N)).astype(np.float32)
    out = []
    for d in (1, 0):
        idx = rng.integers(0, x.shape[d], x.shape)
        # d=d, idx=idx: bind this iteration's values (a plain closure would see the last d for both rows)
        out += [(f"gather dim={d}", lambda d=d, idx=idx: np.take_along_axis(x, idx, axis=d),
                 lambda d=d, idx=idx: be.gather(x, idx, d)),
                (f"scatter_add dim={d}", lambda d=d, idx=idx: _old_scatter_add(np.zeros_like(x), idx, x, d),
                 lambda d=d, idx=idx: be.scatter_add(np.zeros_like(x), idx, x, d)),
                (f"cumsum dim={d}", lambda d=d: np.cumsum(x, axis=d), lambda d=d: be.cumsum(x, d)),
                (f"cumprod dim={d}", lambda d=d: np.cumprod(x, axis=d), lambda d=d: be.cumprod(x, d))]
    out += [("sort dim=1", lambda: _old_sort(x, 1, False), lambda: be.sort(x, 1, False)),
            ("sort dim=1 descending", lambda: _old_sort(x, 1, True), lambda: be.sort(x, 1, True)),
            ("sort dim=0", lambda: _old_sort(x, 0, False), lambda: be.sort(x, 0, False)),
            ("topk k=10 dim=1", lambda: _old_topk(x, 10, 1, True), lambda: be.topk(x, 10, 1, True)),
            ("topk k=100 dim=1", lambda: _old_topk(x, 100, 1, True), lambda: be.topk(x, 100, 1, True))]
    emb_idx = rng.integers(0, 10000, 4096)
    emb_rows = rng.standard_normal((4096, 128)).astype(np.float32)
    out += [("index_add rows (10000,128) <- (4096,128)", lambda: np.add.at(np.zeros((10000, 128), np.float32), emb_idx,
                                                                           emb_rows),
             lambda: be.index_add(np.zeros((10000, 128), np.float32), emb_idx, emb_rows))]
    small = x[:, :100]
    out += [("cumprod backward (M,100) dim=1", lambda: _old_cumprod_backward(small, small, 1),
             lambda: be.cumprod_backward(small, small, np.cumprod(small, 1), 1))]
    return out + reduce_cases(be, x)


def speed(M, N, repeat, only=""):
    from fastnn.backends import get_backend
    import numba

    be, rng = get_backend("cpu"), np.random.default_rng(0)
    print(f"(M, N) = ({M}, {N}) float32, {numba.get_num_threads()} Numba threads; median ms per call\n")
    print("| op | NumPy (old) | kernel (new) | old/new |\n|---|---:|---:|---:|")
    for name, old, new in cases(be, M, N, rng):
        if only not in name:
            continue
        old(), new()                                   # compile / warm up
        t = {old: [], new: []}
        n = 3 if "backward" not in name else 1
        for _ in range(repeat):
            for f in (old, new):                       # alternating
                t0 = time.perf_counter()
                for _ in range(n):
                    f()
                t[f].append((time.perf_counter() - t0) / n)
        a, b = np.median(t[old]) * 1e3, np.median(t[new]) * 1e3
        print(f"| {name} | {a:.2f} | {b:.2f} | {a / b:.2f} |", flush=True)


COLD = r"""
import json, time
import numpy as np
t0 = time.perf_counter()
import fastnn
from fastnn.backends import get_backend
res = {"import fastnn": time.perf_counter() - t0}
be = get_backend("cpu")
x = np.random.default_rng(0).standard_normal((64, 50)).astype(np.float32)
i = np.zeros((64, 50), np.int64)
for name, f in [("gather", lambda: be.gather(x, i, 1)), ("scatter_add", lambda: be.scatter_add(x.copy(), i, x, 1)),
                ("cumsum+cumprod", lambda: (be.cumsum(x, 1), be.cumprod(x, 1))),
                ("cumprod_backward", lambda: be.cumprod_backward(x, x, x, 1)),
                ("sort", lambda: be.sort(x, 1)), ("topk k=5", lambda: be.topk(x, 5, 1)),
                ("index_add rows", lambda: be.index_add(x.copy(), i[:, 0], x)),
                ("sum+prod dims 0,1", lambda: [be.reduce_dim(op, x, d) for op in ("sum", "prod") for d in (0, 1)]),
                ("max_dim dims 0,1", lambda: [be.max_dim(x, d, m) for m in (False, True) for d in (0, 1)])]:
    t0 = time.perf_counter(); f(); res[name] = time.perf_counter() - t0
print(json.dumps(res))
"""


def cold():
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as cwd:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold (empty cache)", "warm (cached)"):
            r = subprocess.run([sys.executable, "-c", COLD], env=env, cwd=cwd, capture_output=True, text=True)
            res = json.loads(r.stdout.strip().splitlines()[-1])
            print(label, " ".join(f"{k}={v:.2f}s" for k, v in res.items()), f"total={sum(res.values()):.2f}s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--cols", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--only", default="", help="run the cases whose name contains this")
    ap.add_argument("--cold", action="store_true")
    a = ap.parse_args()
    cold() if a.cold else speed(a.rows, a.cols, a.repeat, a.only)
