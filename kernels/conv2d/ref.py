"""Plain NumPy reference 2-D convolution (torch.nn.functional.conv2d semantics, NCHW), forward and the
two gradients, written as a sum over the KH*KW kernel offsets of strided slices (obviously correct,
float64 capable). Oracle for cpu.py and conv2d.cu.

    x (N, C, H, W), w (O, C // groups, KH, KW), out (N, O, OH, OW)
    OH = (H + 2*ph - dh*(KH-1) - 1) // sh + 1     (likewise OW)
    out[n, o, y, z] = sum_{c, i, j} xpad[n, g*Cg + c, y*sh + i*dh, z*sw + j*dw] * w[o, c, i, j],  g = o // Og
`xp` is the array module (numpy or cupy): the CUDA backend runs this file for non-float32 dtypes.
"""
import numpy as np


def out_size(H, K, stride, pad, dil):
    return (H + 2 * pad - dil * (K - 1) - 1) // stride + 1


def _geometry(x_shape, w_shape, stride, padding, dilation):
    (N, C, H, W), (O, Cg, KH, KW) = x_shape, w_shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    return N, C, H, W, O, Cg, KH, KW, out_size(H, KH, sh, ph, dh), out_size(W, KW, sw, pw, dw)


def _window(xpad, i, j, OH, OW, stride, dilation):
    """xpad[:, :, i*dh + y*sh, j*dw + z*sw] for y < OH, z < OW: (N, C, OH, OW) strided view."""
    (sh, sw), (dh, dw) = stride, dilation
    return xpad[:, :, i * dh: i * dh + sh * (OH - 1) + 1: sh, j * dw: j * dw + sw * (OW - 1) + 1: sw]


def conv2d_forward(x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, xp=np):
    # out (N,O,OH,OW) = conv2d(x (N,C,H,W), w (O,C/groups,KH,KW)), no bias
    N, C, H, W, O, Cg, KH, KW, OH, OW = _geometry(x.shape, w.shape, stride, padding, dilation)
    (ph, pw), Og = padding, O // groups
    xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = xp.zeros((N, O, max(OH, 0), max(OW, 0)), dtype=x.dtype)
    for g in range(groups):
        xg, wg = xpad[:, g * Cg:(g + 1) * Cg], w[g * Og:(g + 1) * Og]
        for i in range(KH):
            for j in range(KW):
                patch = _window(xg, i, j, OH, OW, stride, dilation)
                out[:, g * Og:(g + 1) * Og] += xp.einsum("nchw,oc->nohw", patch, wg[:, :, i, j])
    return out


def conv2d_backward_input(dout, w, x_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, xp=np):
    # dx (N,C,H,W) = d conv2d / dx applied to dout (N,O,OH,OW)
    N, C, H, W, O, Cg, KH, KW, OH, OW = _geometry(x_shape, w.shape, stride, padding, dilation)
    (ph, pw), Og = padding, O // groups
    dxpad = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dout.dtype)
    for g in range(groups):
        dg, wg = dout[:, g * Og:(g + 1) * Og], w[g * Og:(g + 1) * Og]
        dxg = dxpad[:, g * Cg:(g + 1) * Cg]
        for i in range(KH):
            for j in range(KW):
                _window(dxg, i, j, OH, OW, stride, dilation)[...] += xp.einsum("nohw,oc->nchw", dg, wg[:, :, i, j])
    return dxpad[:, :, ph:ph + H, pw:pw + W].copy()


def conv2d_backward_weight(dout, x, w_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, xp=np):
    # dw (O,C/groups,KH,KW) = d conv2d / dw applied to dout (N,O,OH,OW)
    N, C, H, W, O, Cg, KH, KW, OH, OW = _geometry(x.shape, w_shape, stride, padding, dilation)
    (ph, pw), Og = padding, O // groups
    xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dw = xp.zeros(w_shape, dtype=dout.dtype)
    for g in range(groups):
        dg, xg = dout[:, g * Og:(g + 1) * Og], xpad[:, g * Cg:(g + 1) * Cg]
        for i in range(KH):
            for j in range(KW):
                patch = _window(xg, i, j, OH, OW, stride, dilation)
                dw[g * Og:(g + 1) * Og, :, i, j] = xp.einsum("nohw,nchw->oc", dg, patch)
    return dw
