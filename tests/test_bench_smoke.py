"""The pytest-benchmark files under bench/ still run (each body once, nothing timed: --benchmark-disable)."""
import pathlib
import subprocess
import sys

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize("name", ["bench_kernels.py", "bench_fused.py"])
def test_benchmark_file_runs(tmp_path, name):
    r = subprocess.run([sys.executable, "-m", "pytest", str(BENCH / name), "-o", "python_files=bench_*.py",
                        "--benchmark-disable", "-q", "-p", "no:cacheprovider"],
                       capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert " passed" in r.stdout.splitlines()[-1]


def test_kernel_runs_summary_takes_the_median_ratio_over_runs():
    import importlib.util
    spec = importlib.util.spec_from_file_location("kernel_runs", BENCH / "kernel_runs.py")
    kr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kr)
    # three runs of two cases; ratio = numpy / ours: gemm 0.8, 1.0, 1.2 and bmm 2.0, 4.0, 5.0
    runs = [{"gemm fwd": {"fastnn": 10e-6, "numpy": 8e-6}, "bmm small": {"fastnn": 1e-6, "numpy": 2e-6}},
            {"gemm fwd": {"fastnn": 10e-6, "numpy": 10e-6}, "bmm small": {"fastnn": 1e-6, "numpy": 4e-6}},
            {"gemm fwd": {"fastnn": 10e-6, "numpy": 12e-6}, "bmm small": {"fastnn": 2e-6, "numpy": 10e-6}}]
    rows = {r[0]: r[1:] for r in kr.summarize(runs)}
    assert rows["gemm fwd"] == pytest.approx((10.0, 10.0, 1.0, 0.8, 1.2, 0.9))
    assert rows["bmm small"] == pytest.approx((1.0, 4.0, 4.0, 2.0, 5.0, 3.0))
    text = kr.table(kr.summarize(runs), 3, "NumPy BLAS: test")
    assert "| gemm fwd | 10.0 | 10.0 | 1.00 | 0.80-1.20 | 0.9x met |" in text
