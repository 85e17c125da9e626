"""Per-axis window tables: every pooling op in torch is separable, so a window is (first valid input
position, number of valid positions, step) per output row and per output column, and an average's
divisor is a product of per-axis factors (or torch's divisor_override). Plain Python/NumPy, shared by
the engine (which builds them) and the kernels (which read them).

    start[o], count[o]: input positions start[o] + k*step for k < count[o], all inside [0, n)
    div[o]:             the average's per-axis divisor factor
"""

import functools

import numpy as np


def pooled_size(n, k, s, p, d, ceil_mode):
    """torch's output size: floor/ceil((n + 2p - d(k-1) - 1) / s) + 1, minus a last window that would
    start in the right padding (ceil_mode)."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


@functools.lru_cache(maxsize=512)
def sliding(n, k, s, p, d, ceil_mode, count_include_pad=True):
    """(start, count, div, out) for MaxPool/AvgPool along one axis of size n. Cached per geometry (an
    eager step asks for the same tables every step: ~15 us a call): the arrays are shared, and no caller
    writes them."""
    out = pooled_size(n, k, s, p, d, ceil_mode)
    start, count, div = (np.zeros(max(out, 0), np.int64) for _ in range(3))
    for o in range(max(out, 0)):
        lo = o * s - p
        first = lo if lo >= 0 else lo + (-(-(-lo) // d)) * d          # first position >= 0 on the grid
        last = min(lo + d * (k - 1), n - 1)
        start[o], count[o] = first, max(0, (last - first) // d + 1)
        # torch's avg divisor: window clipped to the padded extent [-p, n + p), or to [0, n)
        div[o] = (min(lo + k, n + p) - lo) if count_include_pad else count[o]
    return start, count, div, out


def adaptive(n, out):
    """(start, count, div) of torch's adaptive bins: [floor(o*n/out), ceil((o+1)*n/out))."""
    start = np.array([(o * n) // out for o in range(out)], np.int64)
    end = np.array([-(-((o + 1) * n) // out) for o in range(out)], np.int64)
    return start, end - start, (end - start).astype(np.int64)


def check_windows(count, what):
    if count.size and count.min() < 1:
        raise RuntimeError(f"{what}: a pooling window lies entirely in the padding")


def divisor_table(hdiv, wdiv, override=None):
    """(OH, OW) float64 divisors: hdiv[oh] * wdiv[ow], or torch's divisor_override everywhere."""
    if override is not None:
        return np.full((hdiv.size, wdiv.size), float(override))
    return np.outer(hdiv, wdiv).astype(np.float64)

