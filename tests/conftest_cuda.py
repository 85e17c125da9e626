"""Registers the emulated cuda backend (tests/cupy_standin on tests/cuda_emulator) when no real GPU is
usable, so every test using the `backend` fixture also runs on device 'cuda'. Imported by conftest.py:

    from conftest_cuda import install_cuda_standin
    install_cuda_standin()
"""
import functools


@functools.lru_cache(maxsize=None)
def real_gpu_available():
    """True when the real CuPy imports and sees a usable CUDA device."""
    try:
        import cupy

        return bool(cupy.is_available())
    except Exception:  # noqa: BLE001 — not installed / broken driver: no GPU
        return False


def standin_usable():
    try:
        import cuda_emulator

        return cuda_emulator.available()
    except Exception:  # noqa: BLE001
        return False


def install_cuda_standin():
    """Make get_backend('cuda') build CUDABackend over the stand-in (no-op with a real GPU).
    Returns True when the emulated backend was registered."""
    if real_gpu_available() or not standin_usable():
        return False
    import cupy_standin
    from fastnn.backends import register_backend
    from fastnn.backends.cuda import CUDABackend

    register_backend("cuda", lambda: CUDABackend(cp=cupy_standin))
    return True
