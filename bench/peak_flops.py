"""The host's peak float32 FLOP/s per core: a register-only loop of independent vector FMAs (kernels/simd.py
vectors: zmm on AVX-512 hosts, ymm otherwise), no memory traffic, one thread, time.thread_time, best of
5. This is the roofline every per-core GFLOP/s figure in DESIGN.md and the README is measured against
(bench/conv_kernels.py's convolutions, gemm_serial). Also prints the CPU's family/model and vector width:
AMD family 25 (Zen 3 / Zen 4) runs a 512-bit FMA as two 256-bit halves, so its peak is 32 float32
FLOP per cycle whatever the register width; Zen 5 and Intel's AVX-512 server cores reach 64.

    python bench/peak_flops.py [--seconds 0.5]
"""
import argparse
import time

import numpy as np

from fastnn.kernels._numba import jit
from fastnn.kernels.simd import VEC_BYTES, lanes, vfma, vsplat, vsum

CHAINS = 12  # independent accumulators: more than FMA latency (4) x pipes (2), so the pipes stay full


@jit
def fma_loop(x, n):
    # n iterations of CHAINS independent vector FMAs acc_k = acc_k * a + b; returns a sum (kept live)
    f = x.dtype.type
    a, b = vsplat(f(0.999999)), vsplat(f(1e-7))
    c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = c8 = c9 = c10 = c11 = vsplat(x[0])
    for _ in range(n):
        c0, c1, c2, c3 = vfma(c0, a, b), vfma(c1, a, b), vfma(c2, a, b), vfma(c3, a, b)
        c4, c5, c6, c7 = vfma(c4, a, b), vfma(c5, a, b), vfma(c6, a, b), vfma(c7, a, b)
        c8, c9, c10, c11 = vfma(c8, a, b), vfma(c9, a, b), vfma(c10, a, b), vfma(c11, a, b)
    return vsum(c0) + vsum(c1) + vsum(c2) + vsum(c3) + vsum(c4) + vsum(c5) + vsum(c6) + vsum(c7) + \
        vsum(c8) + vsum(c9) + vsum(c10) + vsum(c11)


def _cpu():
    fields = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields.setdefault(k.strip(), v.strip())
            if not line.strip():
                break
    return (f"{fields.get('vendor_id', '?')} family {fields.get('cpu family', '?')} model {fields.get('model', '?')} "
            f"({fields.get('model name', '?')}), {fields.get('cpu MHz', '?')} MHz nominal")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=0.5, help="time per measurement (default 0.5)")
    a = p.parse_args()
    x = np.ones(1, np.float32)
    L = lanes(np.dtype(np.float32))
    fma_loop(x, 10)
    n = 1000
    while True:                                             # iterations that take ~--seconds
        t = time.thread_time()
        fma_loop(x, n)
        dt = time.thread_time() - t
        if dt > a.seconds / 4:
            n = int(n * a.seconds / dt)
            break
        n *= 4
    best = min(_timed(x, n) for _ in range(5))
    gf = 2 * L * CHAINS * n / best / 1e9
    print(f"{_cpu()}; vectors {8 * VEC_BYTES} bits ({L} float32 lanes)")
    print(f"peak float32 FMA throughput, one thread: {gf:.1f} GFLOP/s")


def _timed(x, n):
    t = time.thread_time()
    fma_loop(x, n)
    return time.thread_time() - t


if __name__ == "__main__":
    main()
