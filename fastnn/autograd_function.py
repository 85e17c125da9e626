"""User-defined autograd ops written as in torch: subclass fastnn.autograd.Function with static
forward(ctx, *args) (or forward(*args) plus setup_context(ctx, inputs, output)) and static
backward(ctx, *grad_outputs), call `.apply(*args)`. ctx offers save_for_backward / saved_tensors,
needs_input_grad, mark_non_differentiable and set_materialize_grads; other attributes are free.

Each differentiable output gets an engine node of class `<Name>Backward` that calls the user's
backward with Tensors (grad mode off: create_graph is not supported). With several outputs each
output's node calls backward once with the other grad_outputs zero (materialized) or None; by
linearity the engine's sum over outputs is the full gradient.
"""
from . import autograd

FREED = ("Trying to backward through the graph a second time (or directly access saved tensors after they "
         "have already been freed). Saved intermediate values of the graph are freed when you call .backward() "
         "or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time "
         "or if you need to access saved tensors after calling backward.")


class FunctionCtx:
    """torch.autograd.function.FunctionCtx: what forward leaves for backward."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._saved_tensors, self._non_differentiable = (), ()
        self._freed, self._pending = False, 0

    def save_for_backward(self, *tensors):
        from .tensor import Tensor

        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save variables, but argument {i} is of type "
                                f"{type(t).__name__}")
        self._saved_tensors = tensors

    @property
    def saved_tensors(self):
        if self._freed:
            raise RuntimeError(FREED)
        return self._saved_tensors

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable = tuple(id(t) for t in tensors)

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)


class BackwardCFunction(autograd.Function):
    """The engine node of output `index` of one `apply` call; `ctx` is shared by every output."""

    _forward_cls = None

    @property
    def name(self):
        from .autograd_names import NodeName

        return NodeName(type(self).__name__)

    @property
    def saved(self):
        return None if self.ctx._freed else ()

    @saved.setter
    def saved(self, value):
        """The engine frees a node after its backward (value None): the ctx once every output was freed."""
        if value is None:
            self.ctx._pending -= 1
            self.ctx._freed = self.ctx._pending <= 0

    def backward(self, dout):
        from .tensor import Tensor

        ctx, cls = self.ctx, self._forward_cls
        user_backward = _user_static(cls, "backward") or _user_static(cls, "vjp")
        if user_backward is None:
            raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                      "autograd.Function to use it with backward mode AD.")
        grads = []
        for i, (shape, dtype) in enumerate(ctx._outputs):
            if i == self.index:
                grads.append(Tensor._wrap(dout, self.backend))
            elif ctx.materialize_grads and dtype is not None:
                grads.append(Tensor._wrap(self.xp.zeros(shape, dtype=dtype), self.backend))
            else:
                grads.append(None)
        with autograd.no_grad():
            res = user_backward(ctx, *grads)
        return self._input_grads(res if isinstance(res, tuple) else (res,))

    def _input_grads(self, res):
        """The user's one-per-forward-argument gradients -> one array (or None) per tensor input."""
        from .tensor import Tensor

        name, positions = self.name, self.ctx._tensor_positions
        n_args = len(self.ctx.needs_input_grad)
        if len(res) < n_args or any(g is not None for g in res[n_args:]):
            raise RuntimeError(f"function {name} returned an incorrect number of gradients (expected {n_args}, "
                               f"got {len(res)})")
        for j, g in enumerate(res[:n_args]):
            if g is not None and j not in positions:
                raise RuntimeError(f"function {name} returned a gradient different than None at position {j + 1}, "
                                   "but the corresponding forward input was not a Variable")
        out = []
        for j, t in zip(positions, self.inputs):
            g = res[j]
            if g is None or not t.requires_grad:
                out.append(None)
                continue
            if not isinstance(g, Tensor):
                raise TypeError(f"function {name} returned a gradient of type {type(g).__name__} at position "
                                f"{j + 1}; expected a Tensor or None")
            out.append(_fit(g._data, t, j, name, self.xp))
        return tuple(out)


def _fit(g, t, j, name, xp):
    """g summed to t's shape where t broadcasts to it (as torch's validate_outputs), cast to t's dtype."""
    if tuple(g.shape) != tuple(t.shape):
        lead = g.ndim - t.ndim
        ok = lead >= 0 and all(n == 1 or n == m for n, m in zip(t.shape, g.shape[lead:]))
        if not ok:
            raise RuntimeError(f"Function {name} returned an invalid gradient at index {j} - got "
                               f"{list(g.shape)} but expected shape compatible with {list(t.shape)}")
        axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(t.shape) if n == 1 and g.shape[lead + i] != 1)
        g = g.sum(axis=axes, keepdims=True).reshape(t.shape) if axes else g.reshape(t.shape)
    return g if g.dtype == t._data.dtype else g.astype(t._data.dtype)


def _user_static(cls, name):
    """cls's `name` when the user defined it as a staticmethod (torch's contract), else None."""
    import inspect

    attr = inspect.getattr_static(cls, name, None)
    return getattr(cls, name) if isinstance(attr, staticmethod) else None


def apply(cls, *args, **kwargs):
    """torch's Function.apply: run forward with grad mode off, then attach one node per output."""
    from .tensor import Tensor, common_backend

    tensors = [a for a in args if isinstance(a, Tensor)]
    ctx = FunctionCtx(tuple(isinstance(a, Tensor) and a.requires_grad for a in args))
    ctx._tensor_positions = tuple(j for j, a in enumerate(args) if isinstance(a, Tensor))
    setup = _user_static(cls, "setup_context")
    with autograd.no_grad():
        if setup is not None:
            output = cls.forward(*args, **kwargs)
            setup(ctx, args, output)
        else:
            output = cls.forward(ctx, *args, **kwargs)
    outs = list(output) if isinstance(output, tuple) else [output]
    ctx._outputs = [(tuple(o.shape), o._data.dtype) if isinstance(o, Tensor) else ((), None) for o in outs]
    record = autograd.is_grad_enabled() and any(ctx.needs_input_grad)
    backend = common_backend(tensors) if record else None
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            continue
        if any(o is t for t in tensors):           # an input returned as is: a new tensor on its data
            o = outs[i] = Tensor._wrap(o._data, o.backend)
        if record and id(output if not isinstance(output, tuple) else output[i]) not in ctx._non_differentiable \
                and o._data.dtype.kind == "f":
            node = cls._backward_cls(backend, tensors)
            node.ctx, node.index = ctx, i
            ctx._pending += 1
            o.requires_grad, o.grad_fn = True, node
    return tuple(outs) if isinstance(output, tuple) else outs[0]


def make_user_function(cls):
    """Called by Function.__init_subclass__ for a class with a static forward: its node class and apply."""
    cls._backward_cls = type(cls.__name__ + "Backward", (BackwardCFunction,), {"_forward_cls": cls})
    cls.apply = classmethod(apply)
