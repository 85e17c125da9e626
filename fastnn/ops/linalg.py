"""Linear algebra: matmul with torch's batch broadcasting, and the fused Linear (x @ W.T + b)."""
from ..autograd import Function
from ._util import prod, unbroadcast


def _shape_str(shape):
    return "x".join(str(n) for n in shape)


def check_same_dtype(a, b, what="matmul"):
    if a.dtype != b.dtype:
        raise RuntimeError(f"{what}: expected both operands to have the same dtype, but got {a.dtype} != {b.dtype}")


class MatMul(Function):
    """torch.matmul: 1-D operands are promoted to matrices and the added dim removed afterwards;
    leading dims broadcast. (…,M,K) @ (K,N) folds the batch into M: one GEMM, no copies."""

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise RuntimeError("both arguments to matmul need to be at least 1D, but they are "
                               f"{a.ndim}D and {b.ndim}D")
        check_same_dtype(a, b)
        a2 = a if a.ndim > 1 else a.reshape(1, -1)
        b2 = b if b.ndim > 1 else b.reshape(-1, 1)
        if a2.shape[-1] != b2.shape[-2]:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({_shape_str(a2.shape[-2:])} and "
                               f"{_shape_str(b2.shape[-2:])})" if a.ndim <= 2 and b.ndim <= 2 else
                               f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
                               f"(inner dimensions {a2.shape[-1]} and {b2.shape[-2]} differ)")
        out3 = self._mm(a2, b2).astype(a.dtype, copy=False)
        self.save(a, b, a2, b2, out3.shape)
        shape = out3.shape
        if a.ndim == 1:
            shape = shape[:-2] + shape[-1:]
        if b.ndim == 1:
            shape = shape[:-1]
        return out3.reshape(shape)

    def _mm(self, a2, b2):
        be, xp = self.backend, self.xp
        if a2.ndim == 2 and b2.ndim == 2:
            return be.matmul(a2, b2)
        if b2.ndim == 2:  # fold the batch into M
            out = be.matmul(a2.reshape(prod(a2.shape[:-1]), a2.shape[-1]), b2)
            return out.reshape(a2.shape[:-1] + (b2.shape[-1],))
        A, B, batch = self._batched(a2, b2)
        return be.bmm(A, B).reshape(batch + (a2.shape[-2], b2.shape[-1]))

    def _batched(self, a2, b2):
        xp = self.xp
        batch = tuple(xp.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]))
        A = xp.broadcast_to(a2, batch + a2.shape[-2:]).reshape((prod(batch),) + a2.shape[-2:])
        B = xp.broadcast_to(b2, batch + b2.shape[-2:]).reshape((prod(batch),) + b2.shape[-2:])
        return A, B, batch

    def backward(self, dout, a, b, a2, b2, out3_shape):
        be, xp = self.backend, self.xp
        d3 = dout.reshape(out3_shape)
        da = db = None
        if a2.ndim == 2 and b2.ndim == 2:
            da = be.matmul(d3, b2, trans_b=True) if self.needs_input_grad[0] else None
            db = be.matmul(a2, d3, trans_a=True) if self.needs_input_grad[1] else None
        elif b2.ndim == 2:
            d2 = d3.reshape(prod(d3.shape[:-1]), d3.shape[-1])
            if self.needs_input_grad[0]:
                da = be.matmul(d2, b2, trans_b=True).reshape(a2.shape)
            if self.needs_input_grad[1]:
                db = be.matmul(a2.reshape(prod(a2.shape[:-1]), a2.shape[-1]), d2, trans_a=True)
        else:
            A, B, batch = self._batched(a2, b2)
            d3b = d3.reshape((prod(batch),) + d3.shape[-2:])
            if self.needs_input_grad[0]:
                da = unbroadcast(xp, be.bmm(d3b, B, trans_b=True).reshape(batch + a2.shape[-2:]), a2.shape)
            if self.needs_input_grad[1]:
                db = unbroadcast(xp, be.bmm(A, d3b, trans_a=True).reshape(batch + b2.shape[-2:]), b2.shape)
        da = None if da is None else da.astype(a.dtype, copy=False).reshape(a.shape)
        db = None if db is None else db.astype(b.dtype, copy=False).reshape(b.shape)
        return da, db


class Linear(Function):
    """out (…,out) = x (…,in) @ W (out,in).T + b (out,); torch's layout, one GEMM each way."""

    def forward(self, x, W, b=None):
        check_same_dtype(x, W, "linear")
        if x.shape[-1] != W.shape[1]:
            rows = prod(x.shape[:-1])
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{x.shape[-1]} and "
                               f"{W.shape[1]}x{W.shape[0]})")
        x2 = x.reshape(prod(x.shape[:-1]), x.shape[-1])
        out = self.backend.matmul(x2, W, trans_b=True)
        if b is not None:
            out += b
        self.save(x2, W, x.shape)
        return out.reshape(x.shape[:-1] + (W.shape[0],))

    def backward(self, dout, x2, W, x_shape):
        be = self.backend
        d2 = dout.reshape(prod(dout.shape[:-1]), W.shape[0])
        dx = be.matmul(d2, W).reshape(x_shape) if self.needs_input_grad[0] else None
        dW = be.matmul(d2, x2, trans_a=True) if self.needs_input_grad[1] else None
        if len(self.inputs) == 2:
            return dx, dW
        db = be.sum_rows(d2) if self.needs_input_grad[2] else None
        return dx, dW, db
