"""Registers the emulated cuda backend (tests/cupy_standin on tests/cuda_emulator) when no real GPU is
usable, so every test using the `backend` fixture also runs on device 'cuda'. Imported by conftest.py:

    from conftest_cuda import install_cuda_standin
    install_cuda_standin()
"""
import functools
import os


@functools.lru_cache(maxsize=None)
def real_gpu_available():
    """True when the real CuPy imports and sees a usable CUDA device."""
    try:
        import cupy

        return bool(cupy.is_available())
    except Exception:  # noqa: BLE001 — not installed / broken driver: no GPU
        return False


REQUIRE_ENV = "FASTNN_REQUIRE_CUDA_EMULATOR"   # .ci/run sets it: a missing emulated backend is an error


def standin_usable():
    """True when the CUDA emulator works; False only when g++ (C++20) is missing (see available())."""
    import cuda_emulator

    return cuda_emulator.available()


def install_cuda_standin():
    """Make get_backend('cuda') build CUDABackend over the stand-in (no-op with a real GPU).
    Returns True when the emulated backend was registered. With FASTNN_REQUIRE_CUDA_EMULATOR=1 a
    machine that can run neither a GPU nor the emulator is an error, not a skip."""
    if real_gpu_available():
        return False
    if not standin_usable():
        if os.environ.get(REQUIRE_ENV) == "1":
            raise RuntimeError(f"{REQUIRE_ENV}=1 but the CUDA emulator is unusable here (g++ with C++20 "
                               "is needed): the cuda tests would all skip")
        return False
    import cupy_standin
    from fastnn.backends import register_backend
    from fastnn.backends.cuda import CUDABackend

    register_backend("cuda", lambda: CUDABackend(cp=cupy_standin))
    return True
