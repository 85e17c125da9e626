"""Autograd: `Function` (a forward and its hand-derived backward), recording, `backward()`, no_grad,
anomaly detection (`detect_anomaly`, `set_detect_anomaly`)."""
import contextlib
import inspect
import threading
import traceback
import warnings

from .autograd_names import next_functions, node_name

_state = threading.local()
# anomaly mode, process-wide as in torch: [enabled, check_nan]. Off, it costs one list-item test per
# recorded op in Function.apply and one per backward() call.
_anomaly = [False, True]


def is_grad_enabled():
    return getattr(_state, "enabled", True)


def set_grad_enabled(mode):
    _state.enabled = bool(mode)


@contextlib.contextmanager
def no_grad():
    """Context manager (and decorator via `no_grad()(fn)`-style use) that turns recording off."""
    prev = is_grad_enabled()
    set_grad_enabled(False)
    try:
        yield
    finally:
        set_grad_enabled(prev)


@contextlib.contextmanager
def enable_grad():
    prev = is_grad_enabled()
    set_grad_enabled(True)
    try:
        yield
    finally:
        set_grad_enabled(prev)


class Function:
    """One differentiable op. Subclasses define

        forward(self, *arrays, **kwargs) -> out array        (may call self.save(...))
        backward(self, dout, *saved) -> one gradient (or None) per tensor input

    working on the backend's native arrays through `self.backend`. `apply` wraps them in Tensors.
    """

    def __init__(self, backend, inputs):
        self.backend = backend
        self.xp = backend.xp
        self.inputs = inputs  # the Tensor inputs, in order (the graph's edges)
        self.needs_input_grad = tuple(t.requires_grad for t in inputs)
        self.saved = ()

    def save(self, *arrays):
        """Keep what backward needs; backward receives them as its arguments after dout."""
        self.saved = arrays

    @property
    def name(self):
        """torch's node name ("AddmmBackward0"), from the one table in autograd_names; callable too."""
        return node_name(self)

    @property
    def next_functions(self):
        return next_functions(self)

    def __repr__(self):
        return f"<{self.name} object at {id(self):#x}>"

    def __init_subclass__(cls, **kwargs):
        """A torch-style user op (static forward(ctx, ...)/backward(ctx, ...)) gets ctx-style `apply`."""
        super().__init_subclass__(**kwargs)
        if isinstance(inspect.getattr_static(cls, "forward", None), staticmethod):
            from .autograd_function import make_user_function

            make_user_function(cls)

    @classmethod
    def apply(cls, *tensors, **kwargs):
        from .tensor import Tensor, common_backend

        backend = common_backend(tensors)
        fn = cls(backend, tensors)
        fn.forward_kwargs = kwargs
        out = fn.forward(*(t._data for t in tensors), **kwargs)
        result = Tensor._wrap(out, backend)
        if is_grad_enabled() and any(fn.needs_input_grad) and out.dtype.kind == "f":
            result.requires_grad = True
            result.grad_fn = fn
            if _anomaly[0]:
                fn.trace = traceback.format_stack()[:-1]  # where the op was created, for the error's warning
        return result


def _topological_order(root):
    """Tensors reachable from root through grad_fn edges, root first (iterative DFS)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if t.grad_fn is not None:
            for parent in t.grad_fn.inputs:
                if parent.requires_grad and id(parent) not in seen:
                    stack.append((parent, False))
    order.reverse()
    return order


def backward(root, grad=None, retain_graph=False):
    """Run every recorded backward in reverse topological order; accumulate leaf grads in .grad."""
    from .tensor import Tensor

    if isinstance(root, (list, tuple)):          # torch.autograd.backward(tensors, grad_tensors)
        from .autograd_functional import backward_sequence

        return backward_sequence(root, grad, retain_graph)
    if not root.requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    xp = root.backend.xp
    if grad is None:
        if root._data.size != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        dout = xp.ones_like(root._data)
    else:
        dout = grad._data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=root._data.dtype)
        if tuple(dout.shape) != tuple(root.shape):
            raise RuntimeError(f"grad has shape {tuple(dout.shape)} but the output has shape {tuple(root.shape)}")
    grads = {id(root): dout}
    anomaly = _anomaly[0]
    for t in _topological_order(root):
        g = grads.pop(id(t), None)
        if g is None:
            continue
        if "_grad_hooks" in t.__dict__:
            g = _run_hooks(t, g)
        fn = t.grad_fn
        if fn is None:  # a leaf
            _accumulate_leaf(t, g)
            continue
        if t.retains_grad:
            _accumulate_leaf(t, g)
        if fn.saved is None:
            raise RuntimeError("Trying to backward through the graph a second time; pass retain_graph=True")
        if anomaly:
            in_grads = _anomaly_backward(fn, g)
        else:
            in_grads = fn.backward(g, *fn.saved)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
        for parent, pg in zip(fn.inputs, in_grads):
            if pg is None or not parent.requires_grad:
                continue
            if tuple(pg.shape) != tuple(parent.shape):
                raise RuntimeError(f"internal: {fn.name} returned grad of shape {tuple(pg.shape)} "
                                   f"for an input of shape {tuple(parent.shape)}")
            prev = grads.get(id(parent))
            grads[id(parent)] = pg if prev is None else prev + pg
        if not retain_graph:
            fn.saved = None
    _run_callbacks()


def _anomaly_backward(fn, g):
    """fn's backward in anomaly mode: torch's NaN check of every produced gradient, and on any error a
    warning with the traceback of the forward call that created fn."""
    try:
        in_grads = fn.backward(g, *fn.saved)
        in_grads = in_grads if isinstance(in_grads, tuple) else (in_grads,)
        if _anomaly[1]:
            for i, pg in enumerate(in_grads):
                if pg is not None and pg.dtype.kind in "fc" and bool(fn.xp.isnan(pg).any()):
                    raise RuntimeError(f"Function '{fn.name}' returned nan values in its {i}th output.")
    except Exception:
        trace = getattr(fn, "trace", None)
        where = "".join(trace) if trace else "(not recorded: the op was created while anomaly mode was off)\n"
        warnings.warn(f"Error detected in {fn.name}. Traceback of forward call that caused the error:\n{where}",
                      stacklevel=3)
        raise
    return in_grads


def is_anomaly_enabled():
    return _anomaly[0]


def is_anomaly_check_nan_enabled():
    return _anomaly[1]


class set_detect_anomaly:
    """Anomaly detection on (mode=True) or off, from construction; as a context manager it restores the
    previous mode on exit (torch.autograd.set_detect_anomaly)."""

    def __init__(self, mode, check_nan=True):
        self.prev = tuple(_anomaly)
        _anomaly[0], _anomaly[1] = bool(mode), bool(check_nan)

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        _anomaly[0], _anomaly[1] = self.prev
        return False


class detect_anomaly:
    """Context manager turning anomaly detection on inside it (torch.autograd.detect_anomaly; like torch's,
    the mode to restore is the one at construction):
    forward records where each op was created; backward checks every gradient an op's backward
    produces and raises RuntimeError("Function 'MulBackward0' returned nan values in its 0th output.")
    naming the first op that produced NaN, after a warning with the traceback of its forward call."""

    def __init__(self, check_nan=True):
        self.check_nan, self.prev = bool(check_nan), tuple(_anomaly)
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime and should only "
                      "be enabled for debugging.", stacklevel=2)

    def __enter__(self):
        _anomaly[0], _anomaly[1] = True, self.check_nan

    def __exit__(self, *exc):
        _anomaly[0], _anomaly[1] = self.prev
        return False


def _accumulate_leaf(t, g):
    from .tensor import Tensor

    if g.dtype != t._data.dtype:
        g = g.astype(t._data.dtype)
    if t.grad is None:  # copy: backward functions may hand the same array to several inputs
        t.grad = Tensor._wrap(t.backend.xp.array(g, copy=True), t.backend)
    else:
        t.grad._data += g


# ---- post-backward callbacks (DistributedDataParallel's gradient allreduce) ------------------------
def queue_callback(fn):
    """Run fn() once, at the end of the next backward() in this thread (after every leaf grad is in)."""
    if not hasattr(_state, "callbacks"):
        _state.callbacks = []
    _state.callbacks.append(fn)


def _run_callbacks():
    callbacks = getattr(_state, "callbacks", None)
    while callbacks:
        callbacks.pop(0)()


def _run_hooks(t, g):
    """Tensor.register_hook: each hook sees the gradient and may return a replacement."""
    from .tensor import Tensor

    for hook in list(t._grad_hooks):
        r = hook(Tensor._wrap(g, t.backend))
        if r is not None:
            g = r._data if isinstance(r, Tensor) else r
    return g


# ---- torch.autograd's functional surface (autograd_functional.py): grad, inference_mode ----------
from .autograd_functional import grad, inference_mode, is_inference_mode_enabled  # noqa: E402,F401
