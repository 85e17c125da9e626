"""Module hooks: RemovableHandle, and the call path with forward pre-hooks, forward hooks and full backward
hooks (identity Functions on the module's tensor inputs and outputs collect grad_input / grad_output)."""
import itertools
from collections import OrderedDict

from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor

_ids = itertools.count()


class RemovableHandle:
    """Returned by register_*_hook; .remove() unregisters the hook (also usable as a context manager)."""

    def __init__(self, *dicts):
        self.id = next(_ids)
        self._dicts = dicts

    def remove(self):
        for d in self._dicts:
            d.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def hook_dict(module, name):
    """The module's OrderedDict of hooks of kind `name`, created on first use (old pickles lack them)."""
    d = module.__dict__.get(name)
    if d is None:
        d = OrderedDict()
        module.__dict__[name] = d
    return d


def add_hook(module, name, hook, prepend=False, extra=None):
    d = hook_dict(module, name)
    handle = RemovableHandle(d, *(() if extra is None else (extra,)))
    d[handle.id] = hook
    if prepend:
        d.move_to_end(handle.id, last=False)
    return handle


class _BackwardState:
    """What one call's backward hooks share: the grads of the outputs, and of the inputs as they arrive."""

    def __init__(self, module, n_inputs, waiting):
        self.module, self.n_inputs, self.waiting = module, n_inputs, waiting
        self.grad_output, self.grad_input = None, [None] * n_inputs

    def fire(self):
        """Run the hooks with (grad_input, grad_output); a hook may return a replacement grad_input."""
        gin = tuple(self.grad_input)
        for hook in list(self.module.__dict__.get("_backward_hooks", {}).values()):
            res = hook(self.module, gin, self.grad_output)
            if res is not None:
                gin = tuple(res)
        return gin


class _HookOutputs(Function):
    """Identity on one output; its backward records grad_output (and fires when no input needs grad)."""

    def forward(self, x, state, index, n_outputs):
        self.save(state, index, n_outputs)
        return x

    def backward(self, dout, state, index, n_outputs):
        grads = list(state.grad_output or (None,) * n_outputs)
        grads[index] = Tensor._wrap(dout, self.backend)
        state.grad_output = tuple(grads)
        if not state.waiting:
            state.fire()
        return dout


class _HookInput(Function):
    """Identity on one tensor input; when the last awaited input's grad arrives, the hooks run on them."""

    def forward(self, x, state, index):
        self.save(state, index)
        return x

    def backward(self, dout, state, index):
        state.grad_input[index] = Tensor._wrap(dout, self.backend)
        state.waiting.discard(index)
        if state.waiting:
            return dout
        gin = state.fire()
        new = gin[index]
        for i, g in enumerate(gin):
            if i != index:
                state.grad_input[i] = g
        return dout if new is None else new._data


def call_with_hooks(module, args, kwargs):
    """Module.__call__ when any hook is registered: pre-hooks, forward, forward hooks, backward hooks."""
    d = module.__dict__
    for hook in list(d.get("_forward_pre_hooks", {}).values()):
        res = hook(module, args)
        if res is not None:
            args = res if isinstance(res, tuple) else (res,)
    state = None
    if d.get("_backward_hooks") and is_grad_enabled():
        idx = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        waiting = {k for k, i in enumerate(idx) if args[i].requires_grad}
        state = _BackwardState(module, len(idx), waiting)
        args = list(args)
        for k, i in enumerate(idx):
            if args[i].requires_grad:
                args[i] = _HookInput.apply(args[i], state=state, index=k)
        args = tuple(args)
    out = module.forward(*args, **kwargs)
    for hook in list(d.get("_forward_hooks", {}).values()):
        res = hook(module, args, out)
        if res is not None:
            out = res
    if state is not None:
        out = _wrap_outputs(out, state)
    return out


def _wrap_outputs(out, state):
    if isinstance(out, Tensor):
        return _HookOutputs.apply(out, state=state, index=0, n_outputs=1) if out.requires_grad else out
    if isinstance(out, tuple):
        n = len(out)
        return tuple(_HookOutputs.apply(o, state=state, index=i, n_outputs=n)
                     if isinstance(o, Tensor) and o.requires_grad else o for i, o in enumerate(out))
    return out
