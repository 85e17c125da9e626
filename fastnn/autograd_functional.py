"""fastnn.autograd.grad (gradients of outputs w.r.t. chosen inputs, leaving every .grad alone) and
inference_mode (context manager and decorator), with torch's signatures and error wording.

Higher order is not available: every backward runs on backend arrays outside the graph, so
create_graph=True raises NotImplementedError (as does is_grads_batched=True).
"""
import functools
import threading

from .autograd import Function, _run_hooks, _topological_order, backward, is_grad_enabled, set_grad_enabled
from .autograd_function import FREED

_inference = threading.local()


def is_inference_mode_enabled():
    return getattr(_inference, "enabled", False)


class inference_mode:
    """torch.inference_mode(mode=True): `with inference_mode():`, `@inference_mode()` or bare
    `@inference_mode`. mode=True turns recording off; mode=False turns it on (torch's InferenceMode(false)
    sets grad mode). Tensors made inside are ordinary tensors (torch marks them as inference tensors)."""

    def __new__(cls, mode=True):
        if mode is None or isinstance(mode, bool):
            return super().__new__(cls)
        return cls()(mode)                    # bare decorator: @inference_mode

    def __init__(self, mode=True):
        self.mode = bool(mode) if mode is not None else True

    def __enter__(self):
        self._prev = (is_grad_enabled(), is_inference_mode_enabled())
        set_grad_enabled(not self.mode)
        _inference.enabled = self.mode
        return self

    def __exit__(self, *exc):
        set_grad_enabled(self._prev[0])
        _inference.enabled = self._prev[1]
        return False

    def __call__(self, func):
        mode = self.mode

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return func(*args, **kwargs)
        return wrapper


def _as_tuple(x):
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


class _Roots:
    """A node above every output, so one topological sort covers them all."""

    def __init__(self, outputs):
        self.inputs = outputs


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """torch.autograd.grad: a tuple with d(sum of outputs . grad_outputs)/d input per input (None for an
    unused input when allow_unused); a dict of inputs gives a dict. No .grad is touched."""
    from .tensor import Tensor

    if create_graph:
        raise NotImplementedError("fastnn.autograd.grad: create_graph=True (higher-order gradients) is not "
                                  "supported: backward functions run on backend arrays outside the graph")
    if is_grads_batched:
        raise NotImplementedError("fastnn.autograd.grad: is_grads_batched=True is not supported")
    if allow_unused is None:
        allow_unused = materialize_grads
    elif materialize_grads and not allow_unused:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, "
                         "but got: allow_unused=False.")
    names = list(inputs) if isinstance(inputs, dict) else None
    outputs = _as_tuple(outputs)
    inputs = tuple(inputs.values()) if names is not None else _as_tuple(inputs)
    for t in outputs + inputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element of outputs and inputs, but got {type(t).__name__}")
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    dgrads = _root_grads(outputs, grad_outputs)
    found = _backprop(outputs, dgrads, inputs, bool(retain_graph))
    result = []
    for k, t in enumerate(inputs):
        g = found.get(id(t))
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"The differentiated Tensor at index {k} appears to not have been used in the "
                                   "graph. Set allow_unused=True if this is the desired behavior.")
            result.append(t.backend.xp.zeros_like(t._data) if materialize_grads else None)
        else:
            result.append(t.backend.xp.array(g, dtype=t._data.dtype, copy=True))
    result = tuple(None if g is None else Tensor._wrap(g, t.backend) for g, t in zip(result, inputs))
    return dict(zip(names, result)) if names is not None else result


class _SeedGrads(Function):
    """The node above several tensors backward() starts from: hands each its given gradient."""

    def backward(self, dout, *grads):
        return grads


def backward_sequence(tensors, grad_tensors=None, retain_graph=None):
    """torch.autograd.backward over a list of tensors: one pass accumulating every leaf's .grad."""
    from .tensor import Tensor, common_backend

    tensors = tuple(tensors)
    node = _SeedGrads(common_backend(tensors), tensors)
    node.save(*_root_grads(tensors, grad_tensors))
    top = Tensor._wrap(node.xp.zeros((), dtype=tensors[0]._data.dtype), node.backend)
    top.requires_grad, top.grad_fn = True, node
    backward(top, None, bool(retain_graph))


def _root_grads(outputs, grad_outputs):
    """One backend array per output: grad_outputs checked against torch's rules, or ones for scalars."""
    from .tensor import Tensor

    gos = (None,) * len(outputs) if grad_outputs is None else _as_tuple(grad_outputs)
    if len(gos) != len(outputs):
        raise RuntimeError(f"got {len(outputs)} tensors and {len(gos)} gradients")
    out = []
    for i, (o, g) in enumerate(zip(outputs, gos)):
        if not o.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if o.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            out.append(o.backend.xp.ones_like(o._data))
            continue
        if not isinstance(g, Tensor):
            raise TypeError(f"gradients can be either Tensors or None, but got {type(g).__name__}")
        if tuple(g.shape) != tuple(o.shape):
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape!r} and output[{i}] "
                               f"has a shape of {o.shape!r}.".replace("fastnn.Size", "torch.Size"))
        out.append(g._data.astype(o._data.dtype, copy=False))
    return out


def _backprop(outputs, dgrads, inputs, retain_graph):
    """{id(input): gradient array}: backward through the nodes between outputs and inputs only."""
    from .tensor import Tensor

    top = Tensor._wrap(outputs[0]._data, outputs[0].backend)
    top.grad_fn = _Roots(outputs)
    order = _topological_order(top)[1:]
    wanted, needed = {id(t) for t in inputs}, set()
    for t in reversed(order):                      # inputs before the tensors made from them
        fn = t.grad_fn
        if id(t) in wanted or (fn is not None and any(id(p) in needed for p in fn.inputs)):
            needed.add(id(t))
    grads, found = {}, {}
    for o, g in zip(outputs, dgrads):
        grads[id(o)] = g if id(o) not in grads else grads[id(o)] + g
    for t in order:
        g = grads.pop(id(t), None)
        if g is None or id(t) not in needed:
            continue
        if "_grad_hooks" in t.__dict__:
            g = _run_hooks(t, g)
        if id(t) in wanted:
            found[id(t)] = g
        fn = t.grad_fn
        if fn is None or not any(id(p) in needed for p in fn.inputs):
            continue
        if fn.saved is None:
            raise RuntimeError(FREED)
        in_grads = fn.backward(g, *fn.saved)
        for parent, pg in zip(fn.inputs, in_grads if isinstance(in_grads, tuple) else (in_grads,)):
            if pg is not None and id(parent) in needed:
                grads[id(parent)] = pg if id(parent) not in grads else grads[id(parent)] + pg
        if not retain_graph:
            fn.saved = None
    return found
