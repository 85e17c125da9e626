"""Heap retention for the cpu backend: freed arrays stay in the process for the next step (glibc mallopt).

An eager training step allocates and frees the same arrays every step (activations, gradients, scratch;
0.1-10 MB each). glibc serves blocks over its mmap threshold with fresh mappings and returns the free top
of the heap to the OS once it exceeds the trim threshold, so every step touched fresh pages again: on the
2-core Firecracker host, LeNet-5 at batch 64 took 1430 minor page faults and 2.7 ms of system time per
9.3 ms step, the examples Net 5900 faults and 19 ms of a 95 ms step (`resource.getrusage` around 50 steps
of bench/cnn_step_cpu.py's loop). With blocks up to 32 MiB from the heap (glibc's largest mmap
threshold on 64-bit) and a 1 GiB trim threshold, the same loop takes ~1 fault per step.

What it costs: memory freed by one step stays resident for the next (up to the trim threshold beyond
what is in use), so resident memory is the high-water mark of the working set rather than falling
between steps; the peak is unchanged. Arrays over 32 MiB (data sets) still get their own mappings.
Opt out with FASTNN_MALLOC=system; a user's own MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_
(glibc's tunables) are respected. Other C libraries: nothing is changed.
"""
import ctypes
import ctypes.util
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # glibc <malloc.h>
MMAP_THRESHOLD = 32 << 20    # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit glibc: mallopt refuses more
TRIM_THRESHOLD = 1 << 30

_done = []


def retain_freed_memory():
    """Set glibc's mmap and trim thresholds once per process (see the module docstring). Returns True
    when this call changed them."""
    if _done:
        return False
    _done.append(True)
    if os.environ.get("FASTNN_MALLOC", "") == "system" or platform.libc_ver()[0] != "glibc":
        return False
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD,
                                                                                   TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False
