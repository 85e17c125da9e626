"""fastnn.linalg: torch.linalg's vector norms (vector_norm, and norm for vector orders and Frobenius),
composed from differentiable Tensor ops."""
import math

__all__ = ["vector_norm", "norm"]


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.vector_norm: the ord-norm of x flattened (dim=None) or along dim (int or tuple)."""
    if not x.dtype.is_floating_point and dtype is None:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {str(x.dtype).replace('fastnn.', '')}")
    if dtype is not None:
        x = x.to(dtype)
    if dim is None:
        x, dim = x.reshape(-1), 0
        if keepdim:
            raise NotImplementedError("fastnn.linalg.vector_norm: keepdim=True with dim=None")
    a = x.abs()
    if math.isinf(ord):
        if a.numel() == 0:
            raise RuntimeError(f"linalg.vector_norm cannot compute the {ord} norm on an empty tensor because "
                               "the operation does not have an identity")
        return _max_over(a, dim, keepdim) if ord > 0 else -_max_over(-a, dim, keepdim)
    if ord == 0:
        return (a != 0).to(x.dtype).sum(dim, keepdim)
    if ord == 1:
        return a.sum(dim, keepdim)
    if ord == 2:
        return (x * x).sum(dim, keepdim).sqrt()
    return (a ** ord).sum(dim, keepdim) ** (1.0 / ord)


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm for ord=None (2-norm of the flattened input, i.e. Frobenius for matrices),
    ord='fro', and vector orders with an int dim or a 1-D input. Matrix orders (nuc, 2, -2, ...)
    need an SVD fastnn does not have: NotImplementedError."""
    if ord is None or ord == "fro":
        if ord == "fro" and A.ndim != 2 and (dim is None or isinstance(dim, int)):
            raise RuntimeError("linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
                               f"Got {A.ndim}D.")
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if A.ndim == 1 or isinstance(dim, int):
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    raise NotImplementedError(f"fastnn.linalg.norm: matrix norm ord={ord!r} (needs an SVD or a matrix reduction "
                              "fastnn does not have); use vector_norm or ord='fro'")


def _max_over(a, dim, keepdim):
    """Differentiable max of a over dim (an int or a tuple of ints): the dims are moved last and merged."""
    dims = sorted(d % a.ndim for d in ((dim,) if isinstance(dim, int) else dim))
    if len(dims) == 1:
        return a.max(dims[0], keepdim)[0]
    rest = [d for d in range(a.ndim) if d not in dims]
    kept = [a.shape[d] for d in rest]
    out = a.permute(*rest, *dims).reshape(*kept, -1).max(-1)[0]
    return out.reshape(*[1 if d in dims else a.shape[d] for d in range(a.ndim)]) if keepdim else out
