"""Top-level functions (fastnn.matmul, fastnn.cat, ...) that mirror torch's namespace."""
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
        if t.ndim != ref.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape)) if i != d):
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


def matmul(input, other):
    return input.matmul(other)


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
