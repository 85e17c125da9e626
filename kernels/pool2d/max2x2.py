"""2x2 max pooling at stride 2 with no padding, dilation 1 and floor mode (every window whole), without
saved indices (Numba, explicit SIMD from kernels/simd.py): the fused CNN step's pool (kernels/fused_cnn),
where the pool's input stays saved anyway, so the backward replays each window's scan from it instead
of storing and reading an int64 index per output (the examples Net: 74 KB written and read per image).

Both kernels take the planes of a batch as one stack x (P, H, W) (P = images * channels) and run along
output rows: L outputs a vector, the two input rows of a window row read as 2L contiguous elements each
and split by column parity (simd.vunzip), so a window's four elements are four vectors:

    v00 = x[2oh, 2ow]   v01 = x[2oh, 2ow+1]   v10 = x[2oh+1, 2ow]   v11 = x[2oh+1, 2ow+1]

scanned in that (row-major) order with torch's rule (simd.vtake: take v when v > max or v is NaN; the
first maximum wins ties, the last NaN wins), the same rule as cpu.py's general kernels and ref.py.
Input rows or columns past 2*OH, 2*OW (odd H or W) belong to no window: their gradient is 0.
Layouts C-contiguous; float32/float64. forward and backward are serial (the fused step parallelizes over
its shards); forward_planes / backward_planes split the planes over threads for the eager max_pool2d
(backends/cpu.py, when no indices are asked for: its backward replays the scan on the saved input).
"""
from numba import prange

from .._numba import jit, pjit
from ..simd import lanes_of, vload, vstore, vtake, vunzip, vzeros, vzip


@jit
def _window_row(xf, top, W, n):
    # v00, v01, v10, v11 of the n windows whose top-left elements are xf[top + 2j], j < n (2n <= W)
    L = lanes_of(xf)
    a0, a1 = vload(xf, top, min(2 * n, L)), vload(xf, top + L, max(0, 2 * n - L))
    b0, b1 = vload(xf, top + W, min(2 * n, L)), vload(xf, top + W + L, max(0, 2 * n - L))
    return vunzip(a0, a1, 0), vunzip(a0, a1, 1), vunzip(b0, b1, 0), vunzip(b0, b1, 1)


def usable(H, W, hs, hn, ws, wn, dh, dw):
    """True where a pool's window tables (windows.sliding) over an H x W input are exactly the 2x2
    stride-2 grid these kernels assume (every window whole: no padding, no ceil_mode window cut short)
    at dilation 1 (plain Python: the fused CNN's Program asks once per pool)."""
    OH, OW = len(hs), len(ws)
    return (dh == 1 and dw == 1 and 2 * OH <= H and 2 * OW <= W
            and all(int(hs[i]) == 2 * i and int(hn[i]) == 2 for i in range(OH))
            and all(int(ws[j]) == 2 * j and int(wn[j]) == 2 for j in range(OW)))


@jit
def scan(v00, v01, v10, v11):
    # the windows' maxima, scanned in row-major order with torch's rule (also pool2d/lanes.py's)
    best = vtake(v01, v00, v01, v00)
    best = vtake(v10, best, v10, best)
    return vtake(v11, best, v11, best)


@jit
def route(v00, v01, v10, v11, g):
    # (d00, d01, d10, d11): g on the lanes where the scan's final maximum is that element, else 0 (d_k holds
    # g on the lanes whose current maximum is element k: the forward's scan replayed)
    zero = vzeros(g)
    d00, best = g, v00
    d00, d01 = vtake(v01, best, zero, d00), vtake(v01, best, g, zero)
    best = vtake(v01, best, v01, best)
    d00, d01, d10 = vtake(v10, best, zero, d00), vtake(v10, best, zero, d01), vtake(v10, best, g, zero)
    best = vtake(v10, best, v10, best)
    d00, d01 = vtake(v11, best, zero, d00), vtake(v11, best, zero, d01)
    return d00, d01, vtake(v11, best, zero, d10), vtake(v11, best, g, zero)


@jit
def forward(out, x):
    # out (P,OH,OW) = the max of each 2x2 window of x (P,H,W) at stride 2 (OH <= H//2, OW <= W//2)
    P, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    L, xf, of = lanes_of(x), x.reshape(-1), out.reshape(-1)
    for pl in range(P):
        for oh in range(OH):
            for ow0 in range(0, OW, L):
                n = min(L, OW - ow0)
                v00, v01, v10, v11 = _window_row(xf, (pl * H + 2 * oh) * W + 2 * ow0, W, n)
                vstore(of, (pl * OH + oh) * OW + ow0, scan(v00, v01, v10, v11), n)


@jit
def backward(dx, dout, x):
    # dx (P,H,W) = dout (P,OH,OW) routed to each window's maximum in x (P,H,W) (the forward's scan,
    # replayed: d_k holds dout on the lanes whose current maximum is element k); dx is overwritten
    P, H, W = x.shape
    OH, OW = dout.shape[1], dout.shape[2]
    L, xf, gf, df = lanes_of(x), x.reshape(-1), dx.reshape(-1), dout.reshape(-1)
    for pl in range(P):
        for oh in range(OH):
            top = (pl * H + 2 * oh) * W
            for ow0 in range(0, OW, L):
                n = min(L, OW - ow0)
                v00, v01, v10, v11 = _window_row(xf, top + 2 * ow0, W, n)
                d00, d01, d10, d11 = route(v00, v01, v10, v11, vload(df, (pl * OH + oh) * OW + ow0, n))
                vstore(gf, top + 2 * ow0, vzip(d00, d01), 2 * n)
                vstore(gf, top + W + 2 * ow0, vzip(d10, d11), 2 * n)
            for r in range(2):                 # a last odd column belongs to no window
                for c in range(2 * OW, W):
                    gf[top + r * W + c] = 0
        for r in range(2 * OH, H):             # nor does a last odd row
            gf[(pl * H + r) * W:(pl * H + r + 1) * W] = 0


@pjit
def forward_planes(out, x, T):
    # forward over T threads, each a contiguous block of the P planes (the eager max_pool2d without indices)
    P = x.shape[0]
    for t in prange(T):
        forward(out[P * t // T:P * (t + 1) // T], x[P * t // T:P * (t + 1) // T])


@pjit
def backward_planes(dx, dout, x, T):
    # backward over T threads, as forward_planes
    P = x.shape[0]
    for t in prange(T):
        p0, p1 = P * t // T, P * (t + 1) // T
        backward(dx[p0:p1], dout[p0:p1], x[p0:p1])
