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
