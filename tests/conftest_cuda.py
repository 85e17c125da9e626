"""Registers the emulated cuda backend (tests/cupy_standin on tests/cuda_emulator) when no real GPU is
usable, so every test using the `backend` fixture also runs on device 'cuda'. Imported by conftest.py:

    from conftest_cuda import install_cuda_standin, needs_emulator
    install_cuda_standin()
    pytestmark = needs_emulator          # in a test file that launches .cu kernels on the emulator

Honest skips: the only reasons a cuda case may skip are the documented ones (CuPy not installed / no
GPU for the real device; no C++20 compiler for the emulator). Anything else raises. With
FASTNN_REQUIRE_CUDA_EMULATOR=1 (.ci/run sets it) a missing emulator is an error too.
"""
import functools
import os

import pytest

REQUIRE_ENV = "FASTNN_REQUIRE_CUDA_EMULATOR"   # .ci/run sets it: a missing emulated backend is an error


@functools.lru_cache(maxsize=None)
def real_gpu_available():
    """True when CuPy is installed and sees a usable CUDA device (cupy.is_available() reports a missing
    driver or device as False itself); False when CuPy is not installed."""
    try:
        import cupy
    except ImportError:
        return False
    return bool(cupy.is_available())


def emulator_skip_reason():
    """None when the CUDA emulator works here; else why not (no C++20 compiler, the one documented
    reason). A broken emulator raises (cuda_emulator.available()); with FASTNN_REQUIRE_CUDA_EMULATOR=1 a
    missing compiler raises too."""
    import cuda_emulator

    if cuda_emulator.available():
        return None
    reason = f"CUDA emulator unusable here: {cuda_emulator.no_compiler_reason()}"
    if os.environ.get(REQUIRE_ENV) == "1":
        raise RuntimeError(f"{REQUIRE_ENV}=1 but the {reason}: the cuda tests would all skip")
    return reason


def standin_usable():
    """True when the CUDA emulator works; False only when no C++20 compiler is installed."""
    return emulator_skip_reason() is None


def install_cuda_standin():
    """Make get_backend('cuda') build CUDABackend over the stand-in (no-op with a real GPU).
    Returns True when the emulated backend was registered. With FASTNN_REQUIRE_CUDA_EMULATOR=1 a
    machine that can run neither a GPU nor the emulator is an error, not a skip."""
    if real_gpu_available() or not standin_usable():
        return False
    import cupy_standin
    from fastnn.backends import register_backend
    from fastnn.backends.cuda import CUDABackend

    register_backend("cuda", lambda: CUDABackend(cp=cupy_standin))
    return True


# module-level mark of the tests that launch .cu kernels on the emulator directly
needs_emulator = pytest.mark.skipif(not standin_usable(), reason=emulator_skip_reason() or "")
