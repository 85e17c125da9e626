"""Fused MLP training (kernels/fused_mlp) and the eager path (fastnn.nn + autograd + fastnn.optim) vs a
hand-written NumPy MLP: 784-128-64-10 ReLU, Adam(1e-3), CrossEntropyLoss, synthetic MNIST-shaped data
(60,000 x 784 float32 in [-1, 1]); batch 64 and 1024, 1 and 2 threads. One training step (fused, eager,
NumPy) and one epoch (fused, NumPy), each beside NumPy in the same run.

    python -m pytest bench/bench_fused.py -o python_files='bench_*.py' --benchmark-only
    python bench/bench_fused.py        # interleaved medians, s/epoch, plus the GEMM-only / rest split

Also times the step split in two: the step's eight GEMMs alone, and everything else alone
(bias+act, loss, backward elementwise, Adam) so one sees where the time of a fused step goes.
"""
import os
import sys
import time

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from fastnn.kernels.fused_mlp import cpu
from fastnn.kernels.gemm.cpu import gemm

sys.path.insert(0, os.path.dirname(__file__))
from numpy_mlp import NumpyMLP  # noqa: E402  (bench/numpy_mlp.py, the hand-written NumPy peer)

N, DIMS = 60000, [784, 128, 64, 10]


def make_data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, DIMS[0])).astype(np.float32), rng.integers(0, 10, n)


class threads:
    """Numba and BLAS pools both limited to n threads inside the block."""

    def __init__(self, n):
        self.n, self.lim = n, threadpool_limits(n)

    def __enter__(self):
        self.old = numba.get_num_threads()
        numba.set_num_threads(min(self.n, numba.config.NUMBA_NUM_THREADS))
        self.lim.__enter__()

    def __exit__(self, *exc):
        self.lim.__exit__(*exc)
        numba.set_num_threads(self.old)


def fused_trainer(batch):
    """The cpu backend's fused MLP (backends/cpu_fused.CPUFusedMLP) of the model, built by the public
    fastnn.fused.FusedMLP. Its nthreads is None: the kernel follows numba.get_num_threads(), set by
    `threads(n)` below."""
    import fastnn
    from fastnn import nn, optim
    from fastnn.fused import FusedMLP

    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    tr = FusedMLP(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3)).impl
    X, Y = make_data(4 * batch, seed=1)
    tr.epoch(X, Y, batch, np.arange(len(X)))  # compile (or load the cache) outside the timing
    return tr


def numpy_epoch(model, X, Y, batch, perm):
    for s in range(0, len(perm), batch):
        idx = perm[s:s + batch]
        model.train_step(X[idx], Y[idx])


@numba.njit(cache=True, nogil=True)
def gemms_only_epoch(nsteps, xT, x, W1, W2, W3, z1T, z2T, z3T, h1, h2, d1, d2, d3, dW1, dW2, dW3, nthreads):
    # the eight GEMMs of one fused step (same forms as cpu.forward_backward), nsteps times
    for _ in range(nsteps):
        gemm(z1T, W1, xT, False, False, False, nthreads)   # forward, feature-major: zT = W @ aT
        gemm(z2T, W2, z1T, False, False, False, nthreads)
        gemm(z3T, W3, z2T, False, False, False, nthreads)
        gemm(dW3, d3, h2, True, False, False, nthreads)    # backward: dW = dz.T @ a, da = dz @ W
        gemm(d2, d3, W3, False, False, False, nthreads)
        gemm(dW2, d2, h1, True, False, False, nthreads)
        gemm(d1, d2, W2, False, False, False, nthreads)
        gemm(dW1, d1, x, True, False, False, nthreads)


@numba.njit(cache=True, nogil=True)
def rest_only_epoch(nsteps, x, xT, params, grads, state, hp, z1T, z2T, z3T, h1, h2, h3, d1, d2, d3, y, b_off,
                    nthreads):
    # everything of a fused step except GEMMs: transpose x, bias+relu, softmax-CE fwd/bwd, relu bwd + db, Adam
    for s in range(1, nsteps + 1):
        cpu.transpose_(xT, x)
        cpu.bias_act_t_(h1, z1T, params, b_off[0], 1, h1, 0.0, 0, s, 0, 0)
        cpu.bias_act_t_(h2, z2T, params, b_off[1], 1, h2, 0.0, 0, s, 1, 0)
        cpu.bias_act_t_(h3, z3T, params, b_off[2], 0, h3, 0.0, 0, s, 2, 0)
        cpu.cross_entropy_(d3, h3, y, y.shape[0])
        cpu.hidden_backward_(d3, grads[0], b_off[2], h3, 0, 0.0, 0, s, 2, 0)
        cpu.hidden_backward_(d2, grads[0], b_off[1], h2, 1, 0.0, 0, s, 1, 0)
        cpu.hidden_backward_(d1, grads[0], b_off[0], h1, 1, 0.0, 0, s, 0, 0)
        cpu.update(params, state, grads, hp, 3, s, nthreads, 0.0, np.int64(0), np.int64(0))


def split_args(tr, batch, X, Y, nthreads=1):
    """Arguments of gemms_only_epoch and rest_only_epoch (the last one, nthreads, may be replaced)."""
    f = lambda *s: np.ones(s, np.float32) * 0.01
    Ws = [tr.params[tr.w_off[l]:tr.w_off[l] + DIMS[l + 1] * DIMS[l]].reshape(DIMS[l + 1], DIMS[l]) for l in range(3)]
    x = np.ascontiguousarray(X[:batch])
    xT, z1T, z2T, z3T = f(784, batch), f(128, batch), f(64, batch), f(10, batch)
    h1, h2, h3, d1, d2, d3 = f(batch, 128), f(batch, 64), f(batch, 10), f(batch, 128), f(batch, 64), f(batch, 10)
    g = (N // batch, xT, x, *Ws, z1T, z2T, z3T, h1, h2, d1, d2, d3, f(128, 784), f(64, 128), f(10, 64), nthreads)
    r = (N // batch, x, xT, tr.params.copy(), tr.grads.copy()[None], tr.state.copy(), tr.hp[1], z1T, z2T, z3T,
         h1, h2, h3, d1, d2, d3, Y[:batch].astype(np.int64), tr.b_off, nthreads)
    return g, r


@pytest.fixture(scope="module")
def data():
    return make_data()


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("batch", [64, 1024])
def test_fused_epoch(benchmark, data, batch, nthreads):
    X, Y = data
    tr = fused_trainer(batch)
    with threads(nthreads):
        benchmark.pedantic(tr.epoch, args=(X, Y, batch, np.random.default_rng(0).permutation(len(X))), rounds=3,
                           iterations=1, warmup_rounds=0)


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("batch", [64, 1024])
def test_fused_step(benchmark, data, batch, nthreads):
    X, Y = data
    tr = fused_trainer(batch)
    x, y = np.ascontiguousarray(X[:batch]), Y[:batch]
    with threads(nthreads):
        benchmark(tr.step, x, y)


def eager_step_fn(batch):
    """One eager training step of the same MLP (forward, CrossEntropyLoss, backward, Adam.step)."""
    import fastnn
    from fastnn import nn, optim

    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    opt, loss_fn = optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss()
    X, Y = make_data(batch, seed=1)
    x, y = fastnn.from_numpy(X), fastnn.from_numpy(Y.astype(np.int64))

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("batch", [64, 1024])
def test_eager_step(benchmark, batch, nthreads):
    step = eager_step_fn(batch)
    step()  # compile (or load the cache) outside the timing
    with threads(nthreads):
        benchmark(step)


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("batch", [64, 1024])
def test_numpy_step(benchmark, data, batch, nthreads):
    X, Y = data
    model, x, y = NumpyMLP(DIMS), np.ascontiguousarray(X[:batch]), Y[:batch]
    with threads(nthreads):
        benchmark(model.train_step, x, y)


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("batch", [64, 1024])
def test_numpy_epoch(benchmark, data, batch, nthreads):
    X, Y = data
    model = NumpyMLP(DIMS)
    perm = np.random.default_rng(0).permutation(N)
    with threads(nthreads):
        benchmark.pedantic(numpy_epoch, args=(model, X, Y, batch, perm), rounds=3, iterations=1)


@pytest.mark.parametrize("part", ["gemms_only", "rest_only"])
@pytest.mark.parametrize("batch", [64, 1024])
def test_fused_epoch_split(benchmark, data, batch, part):
    X, Y = data
    tr = fused_trainer(batch)
    g, r = split_args(tr, batch, X, Y)
    fn, args = (gemms_only_epoch, g) if part == "gemms_only" else (rest_only_epoch, r)
    fn(1, *args[1:])
    with threads(1):  # the split is measured single-threaded: it shows where one thread's time goes
        benchmark.pedantic(fn, args=args, rounds=3, iterations=1)


def main(reps=5):
    """Interleaved medians (the second core may be noisy): s/epoch per (batch, threads, variant)."""
    X, Y = make_data()
    res = {}
    for batch in (64, 1024):
        tr, model = fused_trainer(batch), NumpyMLP(DIMS)
        g, r = split_args(tr, batch, X, Y)
        gemms_only_epoch(1, *g[1:])
        rest_only_epoch(1, *r[1:])
        perm = np.random.default_rng(0).permutation(N)
        for rep in range(reps):
            for nt in (1, 2):
                with threads(nt):
                    for name, fn in (("fused", lambda: tr.epoch(X, Y, batch, perm)),
                                     ("numpy", lambda: numpy_epoch(model, X, Y, batch, perm)),
                                     ("gemms_only", lambda: gemms_only_epoch(*g[:-1], nt)),
                                     ("rest_only", lambda: rest_only_epoch(*r[:-1], nt))):
                        t0, c0 = time.perf_counter(), time.process_time()
                        fn()
                        t, c = time.perf_counter() - t0, time.process_time() - c0
                        res.setdefault((batch, nt, name), []).append((t, c))
    print("wall = elapsed s/epoch; cpu = process CPU s/epoch (robust to a busy machine for 1 thread)")
    for (batch, nt, name), ts in sorted(res.items()):
        w, c = np.array(ts).T
        print(f"batch {batch:5d}  threads {nt}  {name:11s} wall median {np.median(w):.3f} min {w.min():.3f}"
              f"   cpu median {np.median(c):.3f} min {c.min():.3f}")


if __name__ == "__main__":
    main()
