"""Thread control: one setting for Numba's pool and the BLAS pool, so they never oversubscribe."""
import os


def set_num_threads(n):
    """Use n threads for Numba parallel kernels and for BLAS (OpenBLAS/MKL via threadpoolctl)."""
    import numba
    from threadpoolctl import threadpool_limits

    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    if n > 1:
        bounded_spin()  # before numba.set_num_threads starts the OpenMP pool (libgomp reads it then)
    n = min(n, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n)
    threadpool_limits(limits=n)
    _state["n"] = n


def get_num_threads():
    return _state.get("n") or int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1))


_state = {}


def passive_wait_when_loaded():
    """Let idle OpenMP threads sleep at once (OMP_WAIT_POLICY=passive) instead of spinning, when the
    machine is already busy (1-minute load average >= its core count) and the user set no policy.
    A spinning worker that loses its core to another process stalls every fork/join of the fused
    kernel (two per step). Measured on the shared 2-core host at load ~9, a fused epoch of 20k MNIST-
    shaped rows on 2 threads: 13.2 s spinning, 0.5-0.7 s passive (1 thread: 0.5 s). On an idle host
    spinning is kept (it saves the wake-up latency). Takes effect only before the first parallel
    kernel starts Numba's OpenMP pool (libgomp reads it then); `fastnn` calls it first thing.
    Returns True when it set the policy."""
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return False
    try:
        busy = os.getloadavg()[0] >= (os.cpu_count() or 1)
    except (OSError, AttributeError):
        return False
    if busy:
        os.environ["OMP_WAIT_POLICY"] = "passive"
    return busy


SPIN_COUNT = 10000  # GOMP_SPINCOUNT: ~0.1-0.2 ms of spinning before an idle OpenMP thread sleeps


def bounded_spin():
    """Let idle OpenMP threads spin SPIN_COUNT rounds, then sleep (GOMP_SPINCOUNT), unless the user set
    a policy. libgomp's default spins ~300k rounds: between the many short parallel regions of an eager
    step a spinning worker that the kernel deschedules on a busy host stalls the next fork/join, and it
    burns CPU the other threads need. Measured on the shared 2-core host, the LeNet-5 eager step at
    batch 64, 2 threads (bench/cnn_step_cpu.py, median wall ms, alternating): at load ~7.7 default 388/259,
    OMP_WAIT_POLICY=passive 148/193, GOMP_SPINCOUNT=10000 96/126 (PyTorch 146/223); at load 4-6, three
    rounds, default (300000) 164/172/168, 10000 77/91/83, passive 16/79/78, PyTorch 433/432/436. One
    thread: 10 ms. On that host two threads lose to one at any spin count; the bound halves the loss
    against libgomp's default and, unlike passive, keeps spinning across the short gaps of a quiet host.
    Takes effect only before the OpenMP pool starts. Returns True when it set the count."""
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return False
    os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
    return True
