"""Top-level functions (fastnn.matmul, fastnn.cat, ...) that mirror torch's namespace. Some shadow Python
builtins (any, all, max, min, sum, abs, round), as torch's do: code here uses `builtins.` for those."""
import builtins

from .ops import elementwise as ew, shape as sh
from .tensor import Tensor


def _check_tensors(tensors, what):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError(f"{what}(): expected a non-empty list of Tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}(): expected a sequence of Tensors, got {type(t).__name__}")
    return tensors


def cat(tensors, dim=0):
    tensors = _check_tensors(tensors, "cat")
    ref = tensors[0]
    d = dim % ref.ndim if ref.ndim else 0
    for t in tensors[1:]:
        if t.ndim != ref.ndim or builtins.any(a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape)) if i != d):
            raise RuntimeError(f"Sizes of tensors must match except in dimension {dim}. Expected "
                               f"{list(ref.shape)} but got {list(t.shape)}")
    dt = tensors[0].dtype
    return sh.Cat.apply(*(t.to(dt) for t in tensors), dim=d)


concat = cat


def stack(tensors, dim=0):
    tensors = _check_tensors(tensors, "stack")
    for t in tensors[1:]:
        if tuple(t.shape) != tuple(tensors[0].shape):
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} "
                               f"at entry 0 and {list(t.shape)} at entry {tensors.index(t)}")
    d = dim % (tensors[0].ndim + 1)
    return sh.Stack.apply(*tensors, dim=d)


def where(condition, input, other):
    from .tensor_ops import _operands

    a, b = _operands(input, other)
    cond = condition if isinstance(condition, Tensor) else Tensor(condition)
    return ew.Where.apply(cond.detach(), a, b)


def _out(result, out):
    """torch's `out=`: `result` written into the tensor `out` (resized when its shape differs), which is
    returned. Like torch, refused when autograd would have to record it."""
    from .autograd import is_grad_enabled

    if out is None:
        return result
    if is_grad_enabled() and (result.requires_grad or out.requires_grad):
        raise RuntimeError("functions with out=... arguments don't support automatic differentiation, but "
                           "one of the arguments requires grad.")
    if tuple(out.shape) != tuple(result.shape):
        out._data = out.backend.xp.empty(result.shape, dtype=out._data.dtype)
    out._data[...] = result._data.astype(out._data.dtype, copy=False)
    return out


def matmul(input, other, out=None):
    return _out(input.matmul(other), out)


def mm(input, mat2):
    return input.mm(mat2)


def bmm(input, mat2):
    return input.bmm(mat2)


def dot(input, other):
    return input.dot(other)


def outer(input, vec2):
    return input.outer(vec2)


ger = outer


def sigmoid(input):
    return input.sigmoid()


def tanh(input):
    return input.tanh()


def relu(input):
    return input.relu()


def softmax(input, dim):
    return input.softmax(dim)


def log_softmax(input, dim):
    return input.log_softmax(dim)


def exp(input):
    return input.exp()


def log(input):
    return input.log()


def sqrt(input):
    return input.sqrt()


def abs(input):
    return input.abs()


def pow(input, exponent):
    return input.pow(exponent)


def clamp(input, min=None, max=None):
    return input.clamp(min, max)


def sum(input, dim=None, keepdim=False):
    return input.sum(dim, keepdim)


def mean(input, dim=None, keepdim=False):
    return input.mean(dim, keepdim)


def max(input, dim=None, keepdim=False):
    return input.max(dim, keepdim)


def min(input, dim=None, keepdim=False):
    return input.min(dim, keepdim)


def argmax(input, dim=None, keepdim=False):
    return input.argmax(dim, keepdim)


def argmin(input, dim=None, keepdim=False):
    return input.argmin(dim, keepdim)


def reshape(input, shape):
    return input.reshape(shape)


def flatten(input, start_dim=0, end_dim=-1):
    return input.flatten(start_dim, end_dim)


def squeeze(input, dim=None):
    return input.squeeze(dim)


def unsqueeze(input, dim):
    return input.unsqueeze(dim)


def transpose(input, dim0, dim1):
    return input.transpose(dim0, dim1)


def permute(input, dims):
    return input.permute(dims)


def allclose(input, other, rtol=1e-5, atol=1e-8):
    return input.allclose(other, rtol, atol)


def equal(input, other):
    return input.equal(other)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


# ---- torch's wider function namespace (methods in tensor_methods.py, ops in ops/index.py, ops/unary.py) ----
def _t(x, like=None):
    if isinstance(x, Tensor):
        return x
    return Tensor(x, device=like.device if isinstance(like, Tensor) else None)


def add(input, other, alpha=1, out=None):
    return _out(_t(input, other).add(other, alpha=alpha), out)


def sub(input, other, alpha=1, out=None):
    return _out(_t(input, other).sub(other, alpha=alpha), out)


subtract = sub


def mul(input, other, out=None):
    return _out(_t(input, other).mul(other), out)


multiply = mul


def div(input, other, rounding_mode=None, out=None):
    return _out(_div(_t(input, other), other, rounding_mode), out)


def _div(input, other, rounding_mode):
    if rounding_mode is None:
        return input.div(other)
    if rounding_mode not in ("trunc", "floor"):
        raise RuntimeError("div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                           f"'{rounding_mode}'")
    from .tensor_ops import _operands

    a, b = _operands(input, other)
    if a._data.dtype.kind in "biu":
        xp = a.backend.xp
        q = xp.floor_divide(a._data, b._data)
        if rounding_mode == "trunc":
            q = q + ((q < 0) & (q * b._data != a._data))
        return Tensor._wrap(q, a.backend)
    q = a.div(b)
    return q.floor() if rounding_mode == "floor" else q.trunc()


divide = div


def topk(input, k, dim=-1, largest=True, sorted=True):
    return input.topk(k, dim, largest, sorted)


def sort(input, dim=-1, descending=False, stable=False):
    return input.sort(dim, descending, stable)


def argsort(input, dim=-1, descending=False, stable=False):
    return input.argsort(dim, descending, stable)


def gather(input, dim, index, sparse_grad=False):
    return input.gather(dim, index)


def scatter(input, dim, index, src=None, value=None):
    return input.scatter(dim, index, src, value)


def scatter_add(input, dim, index, src):
    return input.scatter_add(dim, index, src)


def index_select(input, dim, index):
    return input.index_select(dim, index)


def masked_fill(input, mask, value):
    return input.masked_fill(mask, value)


def masked_select(input, mask):
    return input.masked_select(mask)


def chunk(input, chunks, dim=0):
    return input.chunk(chunks, dim)


def split(tensor, split_size_or_sections, dim=0):
    return tensor.split(split_size_or_sections, dim)


def narrow(input, dim, start, length):
    return input.narrow(dim, start, length)


def cumsum(input, dim, dtype=None):
    return input.cumsum(dim, dtype=dtype)


def cumprod(input, dim, dtype=None):
    return input.cumprod(dim, dtype=dtype)


def prod(input, dim=None, keepdim=False, dtype=None):
    return input.prod(dim, keepdim, dtype=dtype)


def var(input, dim=None, unbiased=None, keepdim=False, correction=None):
    return input.var(dim, unbiased, keepdim, correction=correction)


def std(input, dim=None, unbiased=None, keepdim=False, correction=None):
    return input.std(dim, unbiased, keepdim, correction=correction)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    return input.norm(p, dim, keepdim)


def any(input, dim=None, keepdim=False):
    return input.any(dim, keepdim)


def all(input, dim=None, keepdim=False):
    return input.all(dim, keepdim)


def logsumexp(input, dim, keepdim=False):
    return input.logsumexp(dim, keepdim)


def tril(input, diagonal=0):
    return input.tril(diagonal)


def triu(input, diagonal=0):
    return input.triu(diagonal)


def isnan(input):
    return input.isnan()


def isinf(input):
    return input.isinf()


def isfinite(input):
    return input.isfinite()


def round(input, decimals=0):
    return input.round() if decimals == 0 else (input * 10.0 ** decimals).round() / 10.0 ** decimals


def floor(input):
    return input.floor()


def ceil(input):
    return input.ceil()


def sign(input):
    return input.sign()


def trunc(input):
    return input.trunc()


fix = trunc


def clip(input, min=None, max=None):
    return input.clamp(min, max)


def maximum(input, other):
    return input.maximum(other)


def minimum(input, other):
    return input.minimum(other)


def roll(input, shifts, dims=None):
    return input.roll(shifts, dims)


def flip(input, dims):
    return input.flip(dims)


def diag(input, diagonal=0):
    return input.diag(diagonal)


def clone(input):
    return input.clone()


def isclose(input, other, rtol=1e-5, atol=1e-8, equal_nan=False):
    return input.isclose(other, rtol, atol, equal_nan)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    return input.nan_to_num(nan, posinf, neginf)


def log1p(input):
    return input.log1p()


def expm1(input):
    return input.expm1()


def exp2(input):
    return input.exp2()


def square(input):
    return input.square()


def rsqrt(input):
    return input.rsqrt()


def sin(input):
    return input.sin()


def cos(input):
    return input.cos()


def neg(input):
    return -input


def reciprocal(input):
    return input.reciprocal()


def mv(input, vec):
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {vec.ndim}")
    if input.shape[1] != vec.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({input.shape[0]}), mat ({input.shape[0]}x{input.shape[1]}), "
                           f"vec ({vec.shape[0]})")
    return input.matmul(vec)


def addmm(input, mat1, mat2, beta=1, alpha=1):
    prod_ = mat1.mm(mat2)
    prod_ = prod_ if alpha == 1 else prod_ * alpha
    if beta == 0:
        return prod_
    return (input if beta == 1 else input * beta) + prod_


def baddbmm(input, batch1, batch2, beta=1, alpha=1):
    prod_ = batch1.bmm(batch2)
    prod_ = prod_ if alpha == 1 else prod_ * alpha
    if beta == 0:
        return prod_
    return (input if beta == 1 else input * beta) + prod_


def addmv(input, mat, vec, beta=1, alpha=1):
    p = mv(mat, vec)
    return (input if beta == 1 else input * beta) + (p if alpha == 1 else p * alpha)


def tensordot(a, b, dims=2):
    """Contract a's last `dims` axes with b's first (or the listed axes) via permute + reshape + matmul."""
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([dims[0]] if isinstance(dims[0], int) else list(dims[0])), \
                 ([dims[1]] if isinstance(dims[1], int) else list(dims[1]))
    da = [d % a.ndim for d in da]
    db = [d % b.ndim for d in db]
    for x, y in zip(da, db):
        if a.shape[x] != b.shape[y]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {a.shape[x]} in dim {x} "
                               f"and second has size {b.shape[y]} in dim {y}")
    fa = [d for d in range(a.ndim) if d not in da]
    fb = [d for d in range(b.ndim) if d not in db]
    k = 1
    for d in da:
        k *= a.shape[d]
    am = a.permute(*(fa + da)).reshape(-1 if a.numel() else 0, k) if fa else a.permute(*da).reshape(1, k)
    bm = b.permute(*(db + fb)).reshape(k, -1 if b.numel() else 0) if fb else b.permute(*db).reshape(k, 1)
    out = am.matmul(bm)
    return out.reshape(tuple(a.shape[d] for d in fa) + tuple(b.shape[d] for d in fb))


def einsum(equation, *operands):
    """einsum with explicit or implicit output ('ij,jk->ik', 'ii', 'i,i'); no '...' broadcasting."""
    from .ops.unary import Einsum

    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    eq = equation.replace(" ", "")
    if "..." in eq:
        raise NotImplementedError("einsum(): '...' (ellipsis) is not supported by fastnn yet")
    ins, _, out = eq.partition("->")
    ins = ins.split(",")
    if len(ins) != len(operands):
        raise RuntimeError(f"einsum(): more operands were provided than specified in the equation"
                           if len(operands) > len(ins) else "einsum(): fewer operands were provided than specified in the equation")
    if not _:
        counts = {}
        for c in "".join(ins):
            counts[c] = counts.get(c, 0) + 1
        out = "".join(sorted(c for c, n in counts.items() if n == 1))
    for sub, op in zip(ins, operands):
        if len(sub) != op.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(sub)}) does not match the "
                               f"number of dimensions ({op.ndim}) for operand {operands.index(op)} and no ellipsis was given")
    from .ops._util import promote

    dt = operands[0]._data.dtype
    for op in operands[1:]:
        dt = promote(dt, op._data.dtype)
    return Einsum.apply(*(op.to(dt) for op in operands), spec=(tuple(ins), out))


def logspace(start, end, steps, base=10.0, dtype=None, device=None):
    from .creation import linspace

    return base ** linspace(start, end, steps, dtype=dtype or "float32", device=device)


def normal(mean=0.0, std=1.0, size=None, generator=None, dtype=None, device=None):
    from .creation import randn

    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        shape = ref.shape if size is None else size
        return randn(*shape, dtype=ref.dtype, device=ref.device).detach() * std + mean
    if size is None:
        raise TypeError("normal() missing the 'size' argument for float mean and std")
    return randn(*size, dtype=dtype, device=device) * std + mean


def bernoulli(input, p=None, generator=None):
    from .creation import rand_like

    prob = input if p is None else p
    u = rand_like(input)
    return (u < prob).to(input.dtype)


def multinomial(input, num_samples, replacement=False, generator=None):
    """num_samples category indices per row of (unnormalised) non-negative weights."""
    import numpy as np

    w = input.detach().cpu().numpy().astype(np.float64)
    if w.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    rows = w.reshape(-1, w.shape[-1])
    if (rows < 0).any() or not np.isfinite(rows).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if not replacement and num_samples > rows.shape[1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    from .backends import get_backend

    rng = get_backend("cpu").rng
    out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
    for i, r in enumerate(rows):
        if r.sum() == 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        out[i] = rng.choice(r.size, size=num_samples, replace=replacement, p=r / r.sum())
    return Tensor(out.reshape(w.shape[:-1] + (num_samples,)), device=input.device)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    from . import printing

    printing.set_printoptions(precision=precision, threshold=threshold, edgeitems=edgeitems,
                              linewidth=linewidth, profile=profile, sci_mode=sci_mode)


def remainder(input, other):
    return _t(input, other).remainder(other)


def floor_divide(input, other):
    return _t(input, other).floor_divide(other)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values of `input` (flattened, or the distinct slices along `dim`), in ascending
    order, optionally with the inverse indices (input's shape) and the counts. No gradient."""
    xp = input.backend.xp
    values, inverse, counts = xp.unique(input._data, return_inverse=True, return_counts=True, axis=dim)
    wrap = lambda a: Tensor._wrap(a, input.backend)  # noqa: E731
    out = (wrap(values),)
    if return_inverse:
        out += (wrap(inverse.reshape(input._data.shape if dim is None else -1).astype("int64")),)
    if return_counts:
        out += (wrap(counts.astype("int64")),)
    return out[0] if len(out) == 1 else out
