"""conv2d's bias on the CPU (Numba), the eager drivers: add it over each channel plane (forward) and sum
the output gradient per channel (backward), thread t on its contiguous images [N*t/T, N*(t+1)/T), L lanes
at a time; the sums accumulate in per-thread partials (T, O) added serially after the parallel region.
The fused CNN step and conv2d/images.py fold the bias into their own passes; these serve the eager op.
Layouts: out/dout (N,O,OH,OW) C-contiguous, bias/db (O,); float32/float64.
"""
from numba import prange

from .._numba import pjit
from ..simd import lanes_of, vadd, vload, vsplat, vstore
from .images import bias_backward
from .lanes import sum_rows


@pjit
def bias_forward_(out, bias, T):
    # out (N,O,OH,OW) += bias (O,) over each plane, in place; T threads
    N, O, P = out.shape[0], out.shape[1], out.shape[2] * out.shape[3]
    L, of = lanes_of(out), out.reshape(-1)
    for t in prange(T):
        for pl in range(N * t // T * O, N * (t + 1) // T * O):
            b, base = vsplat(bias[pl % O]), pl * P
            for q in range(0, P, L):
                n = min(L, P - q)
                vstore(of, base + q, vadd(vload(of, base + q, n), b), n)


@pjit
def bias_backward_drv(db, partial, dout):
    # db (O,) = dout (N,O,OH,OW) summed over images and pixels; partial (T, O) zero-filled scratch
    N, T = dout.shape[0], partial.shape[0]
    for t in prange(T):
        bias_backward(partial[t], dout[N * t // T:N * (t + 1) // T])
    sum_rows(db, partial, 0)       # (conv2d/lanes.py's: one definition of the partials' sum)
