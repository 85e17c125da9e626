"""Honest skips: the emulated cuda backend is unavailable only without a C++20 compiler, anything else
fails loudly, and FASTNN_REQUIRE_CUDA_EMULATOR=1 (set by .ci/run) turns a missing compiler into an error."""
import os
import pathlib
import subprocess
import sys

import pytest

import conftest_cuda
import cuda_emulator
from cuda_emulator import emulator

ROOT = pathlib.Path(__file__).resolve().parents[1]
MISSING = "/nonexistent/fastnn-test-g++"


def test_missing_compiler_is_the_documented_unavailable(monkeypatch):
    monkeypatch.setenv("FASTNN_EMU_CXX", MISSING)
    assert cuda_emulator.available.__wrapped__() is False
    assert MISSING in cuda_emulator.no_compiler_reason() and "not installed" in cuda_emulator.no_compiler_reason()


def test_a_broken_emulator_raises_instead_of_reporting_unavailable(monkeypatch):
    if cuda_emulator.no_compiler_reason() is not None:
        pytest.skip(f"needs a C++20 compiler: {cuda_emulator.no_compiler_reason()}")

    def broken_load(*a, **k):
        raise emulator.EmulatorError("the probe module failed to load")

    monkeypatch.setattr(emulator, "load", broken_load)
    with pytest.raises(emulator.EmulatorError, match="probe module failed"):
        cuda_emulator.available.__wrapped__()


def test_require_env_turns_a_missing_compiler_into_an_error(monkeypatch):
    monkeypatch.setenv("FASTNN_EMU_CXX", MISSING)
    monkeypatch.setattr(cuda_emulator, "available", cuda_emulator.available.__wrapped__)
    monkeypatch.setattr(conftest_cuda, "real_gpu_available", lambda: False)
    monkeypatch.delenv(conftest_cuda.REQUIRE_ENV, raising=False)
    assert "not installed" in conftest_cuda.emulator_skip_reason()          # without it: a reasoned skip
    assert conftest_cuda.install_cuda_standin() is False
    monkeypatch.setenv(conftest_cuda.REQUIRE_ENV, "1")
    with pytest.raises(RuntimeError, match="FASTNN_REQUIRE_CUDA_EMULATOR=1 but the CUDA emulator unusable"):
        conftest_cuda.install_cuda_standin()


def _pytest(tmp_path, env):
    """Run one cuda primitive test in a fresh pytest outside the source tree (the installed fastnn)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
           str(ROOT / "tests" / "kernels" / "test_reduce.py"), "-k", "sum_rows_primitive and cuda"]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(conftest_cuda.real_gpu_available(), reason="a real GPU serves device 'cuda' here")
def test_require_env_fails_a_pytest_run_with_a_missing_compiler(tmp_path):
    """End to end: a deliberately broken emulator (FASTNN_EMU_CXX names a missing compiler) makes the
    cuda cases skip with the reason, and with FASTNN_REQUIRE_CUDA_EMULATOR=1 fails the run instead."""
    env = {k: v for k, v in os.environ.items() if k != conftest_cuda.REQUIRE_ENV}
    env["FASTNN_EMU_CXX"] = MISSING
    plain = _pytest(tmp_path, env)
    assert plain.returncode == 0 and "1 skipped" in plain.stdout, plain.stdout[-2000:] + plain.stderr[-2000:]
    assert "CUDA emulator unusable here" in plain.stdout and MISSING in plain.stdout   # -ra: the reason
    required = _pytest(tmp_path, {**env, conftest_cuda.REQUIRE_ENV: "1"})
    out = required.stdout + required.stderr
    assert required.returncode != 0 and "skipped" not in out, out[-3000:]
    assert "FASTNN_REQUIRE_CUDA_EMULATOR=1 but the CUDA emulator unusable" in out, out[-3000:]


def test_ci_sets_the_require_variable_before_running_pytest():
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("export FASTNN_REQUIRE_CUDA_EMULATOR=1") < ci.index("pytest")
