"""2x2 max pooling at stride 2 (pool2d/max2x2.py's windows and scan) over a chunk of up to L images held as
SIMD lanes (Numba, explicit SIMD from kernels/simd.py): the fused CNN step's lane layout
(kernels/conv2d/lanes.py: a (C, H, W) tensor stored (C, H + 2ph, W + 2pw, L), border ph, pw). Every
window element is one whole vector (one value of each of the L images): no de-interleaving by column.
The scan is max2x2's: v00, v01, v10, v11 in row-major order with torch's rule (simd.vtake: take v where
v > max or v is NaN; the first maximum wins ties); the backward replays it on the saved input. Input
rows or columns past 2*OH, 2*OW belong to no window: their gradient is 0. Serial; float32/float64.
"""
from .._numba import jit
from ..simd import lanes_of, vload, vstore, vzeros
from .max2x2 import route, scan


@jit
def _at(C, H, W, ph, pw, c, h, w, L):
    # offset of element (c, h, w) in a lane region of (C, H, W) with border ph, pw
    return ((c * (H + 2 * ph) + h + ph) * (W + 2 * pw) + w + pw) * L


@jit
def forward(ol, xl, C, H, W, ph, pw, OH, OW, oph, opw):
    # ol (region of (C, OH, OW), border oph, opw: its interior) = the max of each 2x2 window of xl (region of
    # (C, H, W), border ph, pw) at stride 2 (OH <= H//2, OW <= W//2)
    L = lanes_of(xl)
    row = (W + 2 * pw) * L
    for c in range(C):
        for oh in range(OH):
            top, dst = _at(C, H, W, ph, pw, c, 2 * oh, 0, L), _at(C, OH, OW, oph, opw, c, oh, 0, L)
            for ow in range(OW):
                a = top + 2 * ow * L
                v00, v01 = vload(xl, a, L), vload(xl, a + L, L)
                v10, v11 = vload(xl, a + row, L), vload(xl, a + row + L, L)
                vstore(ol, dst + ow * L, scan(v00, v01, v10, v11), L)


@jit
def backward(dxl, dl, xl, C, H, W, ph, pw, OH, OW, oph, opw):
    # dxl (region of (C, H, W), border ph, pw: its interior, every element written) = dl (region of
    # (C, OH, OW), border oph, opw) routed to each window's maximum in xl (the forward's scan, replayed)
    L = lanes_of(xl)
    row, zero = (W + 2 * pw) * L, vzeros(xl)
    for c in range(C):
        for h in range(2 * OH, H):            # a last odd row belongs to no window
            a = _at(C, H, W, ph, pw, c, h, 0, L)
            for w in range(W):
                vstore(dxl, a + w * L, zero, L)
        for oh in range(OH):
            top, src = _at(C, H, W, ph, pw, c, 2 * oh, 0, L), _at(C, OH, OW, oph, opw, c, oh, 0, L)
            for ow in range(OW):
                a = top + 2 * ow * L
                v00, v01 = vload(xl, a, L), vload(xl, a + L, L)
                v10, v11 = vload(xl, a + row, L), vload(xl, a + row + L, L)
                d00, d01, d10, d11 = route(v00, v01, v10, v11, vload(dl, src + ow * L, L))
                vstore(dxl, a, d00, L)
                vstore(dxl, a + L, d01, L)
                vstore(dxl, a + row, d10, L)
                vstore(dxl, a + row + L, d11, L)
            for w in range(2 * OW, W):        # a last odd column neither
                vstore(dxl, top + w * L, zero, L)
                vstore(dxl, top + row + w * L, zero, L)
