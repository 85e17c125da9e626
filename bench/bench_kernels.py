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
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():
        _write_table(tr)


def _write_table(tr):
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
    if benchmark.stats is None:  # --benchmark-disable: the body ran once as a smoke test, nothing timed
        return
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


GEMM_CASES = [(b, layer, kind) for b in (64, 1024) for layer in LAYERS for kind in ("fwd", "dX", "dW")]
GEMM_IDS = [f"{k}-B{b}-{l[0]}x{l[1]}" for b, l, k in GEMM_CASES]
BENCH = dict(warmup=True, max_time=0.3, min_rounds=20)


def _bmm_case():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((256, 5, 6), dtype=np.float32), rng.standard_normal((256, 6, 7), dtype=np.float32)
    out = np.empty((256, 5, 7), np.float32)
    return lambda: bmm_cpu.bmm(out, a, b), lambda: np.matmul(a, b, out=out)


def _np_softmax(out, x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.divide(e, e.sum(axis=1, keepdims=True), out=out)


def _softmax_case():
    x = np.random.default_rng(0).standard_normal((1024, 10), dtype=np.float32)
    out = np.empty_like(x)
    return lambda: softmax_cpu.softmax(out, x), lambda: _np_softmax(out, x)


# All fastnn cases run first, then all NumPy cases: interleaving them lets one runtime's spinning
# threads starve the other's on 2 cores (see the module docstring).
@pytest.mark.benchmark(group="gemm", **BENCH)
@pytest.mark.parametrize("batch,layer,kind", GEMM_CASES, ids=GEMM_IDS)
def test_fastnn_gemm(benchmark, batch, layer, kind):
    case, ours, _, flops = _gemm_case(batch, layer, kind, np.random.default_rng(0))
    benchmark(ours)
    _record(benchmark, case, "fastnn", flops)


@pytest.mark.benchmark(group="bmm", **BENCH)
def test_fastnn_bmm_small(benchmark):
    benchmark(_bmm_case()[0])
    _record(benchmark, "bmm (256,5,6)@(256,6,7) f32", "fastnn", 2 * 256 * 5 * 6 * 7)


@pytest.mark.benchmark(group="softmax", **BENCH)
def test_fastnn_softmax(benchmark):
    benchmark(_softmax_case()[0])
    _record(benchmark, "softmax (1024,10) f32", "fastnn", 0)


@pytest.mark.benchmark(group="gemm", **BENCH)
@pytest.mark.parametrize("batch,layer,kind", GEMM_CASES, ids=GEMM_IDS)
def test_numpy_gemm(benchmark, batch, layer, kind):
    case, _, ref, flops = _gemm_case(batch, layer, kind, np.random.default_rng(0))
    benchmark(ref)
    _record(benchmark, case, "numpy", flops)


@pytest.mark.benchmark(group="bmm", **BENCH)
def test_numpy_bmm_small(benchmark):
    benchmark(_bmm_case()[1])
    _record(benchmark, "bmm (256,5,6)@(256,6,7) f32", "numpy", 2 * 256 * 5 * 6 * 7)


@pytest.mark.benchmark(group="softmax", **BENCH)
def test_numpy_softmax(benchmark):
    benchmark(_softmax_case()[1])
    _record(benchmark, "softmax (1024,10) f32", "numpy", 0)
