"""Thread control: one setting for Numba's pool and the BLAS pool, so they never oversubscribe."""
import os


def set_num_threads(n):
    """Use n threads for Numba parallel kernels and for BLAS (OpenBLAS/MKL via threadpoolctl)."""
    import numba
    from threadpoolctl import threadpool_limits

    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    n = min(n, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n)
    threadpool_limits(limits=n)
    _state["n"] = n


def get_num_threads():
    return _state.get("n") or int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1))


_state = {}
