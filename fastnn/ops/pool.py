"""Pooling ops with hand-derived backwards over per-axis window tables (kernels/pool2d/windows.py):
MaxPool (dx = dout added at the argmax) and AvgPool (dx = dout / divisor spread over each window)."""
from ..autograd import Function


class MaxPool(Function):
    """out[n,c,oh,ow] = max over the window of x (N,C,H,W); `box` (a list), when given, receives the
    int64 flat per-plane indices (torch's return_indices)."""

    def forward(self, x, tables=None, dilation=(1, 1), box=None):
        out, idx = self.backend.max_pool2d(x, *tables, *dilation, indices=box is not None)
        if box is not None:
            box.append(idx)
        self.save(idx, x if idx is None else None, x.shape, tables, dilation)   # no indices: x, to scan again
        return out

    def backward(self, dout, idx, x, x_shape, tables, dilation):
        return self.backend.max_pool2d_backward(dout, idx, x_shape, *tables, *dilation, x=x)


class AvgPool(Function):
    """out[n,c,oh,ow] = sum over the window of x / div[oh, ow]."""

    def forward(self, x, tables=None, div=None):
        self.save(x.shape, tables, div)
        return self.backend.avg_pool2d(x, *tables, div)

    def backward(self, dout, x_shape, tables, div):
        return self.backend.avg_pool2d_backward(dout, x_shape, *tables, div)
