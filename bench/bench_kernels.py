"""CPU kernel benchmarks: our Numba GEMM beside np.matmul (OpenBLAS) at the MNIST MLP shapes
(784-128-64-10; batch 64 and 1024; forward y = x @ W.T, dX = dY @ W, dW = dY.T @ X), small bmm
(256,5,6)@(256,6,7) beside np.matmul, softmax (1024x10) beside a NumPy softmax.

    python -m pytest bench/bench_kernels.py -o python_files='bench_*.py' --benchmark-only

A table (min times, GFLOP/s, NumPy/ours speed ratio) and the BLAS NumPy uses are printed at the end.
Caveat: OpenBLAS and Numba's OpenMP threads both spin-wait after a call; on 2 cores whichever runs
next can be starved for milliseconds. Warm-up is on and the table reports minima.
"""
import numpy as np
import pytest
from threadpoolctl import threadpool_info

from fastnn.kernels.bmm import cpu as bmm_cpu
from fastnn.kernels.gemm import cpu as gemm_cpu
from fastnn.kernels.softmax import cpu as softmax_cpu

LAYERS = [(784, 128), (128, 64), (64, 10)]  # (in, out) of the MLP's Linear layers
RESULTS = {}  # (case, impl) -> (seconds, flops)


@pytest.fixture(scope="module", autouse=True)
def _table(request):
    yield
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    if tr is None or not RESULTS:
        return
    blas = [f"{i['internal_api']} {i['version']} ({i.get('architecture')}, {i['num_threads']} threads)"
            for i in threadpool_info() if i["user_api"] == "blas"]
    tr.write_line(f"\nNumPy BLAS: {', '.join(blas) or 'none found'}")
    tr.write_line(f"{'case':38s} {'ours us':>10s} {'numpy us':>10s} {'ours GF/s':>10s} {'np GF/s':>9s} {'np/ours':>8s}")
    for case in sorted({c for c, _ in RESULTS}):
        (t1, fl), (t0, _) = RESULTS.get((case, "fastnn"), (np.nan, 0)), RESULTS.get((case, "numpy"), (np.nan, 0))
        gf = lambda t: fl / t / 1e9 if fl else float("nan")  # noqa: E731
        tr.write_line(f"{case:38s} {t1 * 1e6:10.1f} {t0 * 1e6:10.1f} {gf(t1):10.1f} {gf(t0):9.1f} {t0 / t1:8.2f}")


def _record(benchmark, case, impl, flops):
    benchmark.extra_info["case"] = case
    t = benchmark.stats.stats.min
    benchmark.extra_info["gflops"] = flops / t / 1e9 if flops else None
    RESULTS[(case, impl)] = (t, flops)


def _gemm_case(batch, layer, kind, rng):
    """(label, ours(), numpy(), flops) for one Linear GEMM; W is (out, in) like torch."""
    fin, fout = layer
    x = rng.standard_normal((batch, fin), dtype=np.float32)
    W = rng.standard_normal((fout, fin), dtype=np.float32)
    dy = rng.standard_normal((batch, fout), dtype=np.float32)
    if kind == "fwd":  # y (B,out) = x (B,in) @ W.T
        out = np.empty((batch, fout), np.float32)
        ours, ref = lambda: gemm_cpu.matmul_nt(out, x, W), lambda: np.matmul(x, W.T, out=out)
    elif kind == "dX":  # dX (B,in) = dY (B,out) @ W (out,in)
        out = np.empty((batch, fin), np.float32)
        ours, ref = lambda: gemm_cpu.matmul(out, dy, W), lambda: np.matmul(dy, W, out=out)
    else:  # dW (out,in) = dY.T (out,B) @ X (B,in)
        out = np.empty((fout, fin), np.float32)
        ours, ref = lambda: gemm_cpu.matmul_tn(out, dy, x), lambda: np.matmul(dy.T, x, out=out)
    return f"gemm {kind} B={batch} {fin}x{fout}", ours, ref, 2 * batch * fin * fout


@pytest.mark.benchmark(group="gemm", warmup=True)
@pytest.mark.parametrize("impl", ["fastnn", "numpy"])
@pytest.mark.parametrize("kind", ["fwd", "dX", "dW"])
@pytest.mark.parametrize("layer", LAYERS, ids=[f"{a}x{b}" for a, b in LAYERS])
@pytest.mark.parametrize("batch", [64, 1024])
def test_gemm(benchmark, batch, layer, kind, impl):
    case, ours, ref, flops = _gemm_case(batch, layer, kind, np.random.default_rng(0))
    benchmark(ours if impl == "fastnn" else ref)
    _record(benchmark, case, impl, flops)


@pytest.mark.benchmark(group="bmm", warmup=True)
@pytest.mark.parametrize("impl", ["fastnn", "numpy"])
def test_bmm_small(benchmark, impl):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((256, 5, 6), dtype=np.float32), rng.standard_normal((256, 6, 7), dtype=np.float32)
    out = np.empty((256, 5, 7), np.float32)
    benchmark((lambda: bmm_cpu.bmm(out, a, b)) if impl == "fastnn" else (lambda: np.matmul(a, b, out=out)))
    _record(benchmark, "bmm (256,5,6)@(256,6,7) f32", impl, 2 * 256 * 5 * 6 * 7)


def _np_softmax(out, x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.divide(e, e.sum(axis=1, keepdims=True), out=out)


@pytest.mark.benchmark(group="softmax", warmup=True)
@pytest.mark.parametrize("impl", ["fastnn", "numpy"])
def test_softmax(benchmark, impl):
    x = np.random.default_rng(0).standard_normal((1024, 10), dtype=np.float32)
    out = np.empty_like(x)
    benchmark((lambda: softmax_cpu.softmax(out, x)) if impl == "fastnn" else (lambda: _np_softmax(out, x)))
    _record(benchmark, "softmax (1024,10) f32", impl, 0)
