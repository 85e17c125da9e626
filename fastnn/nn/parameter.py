"""Parameter: a leaf Tensor that a Module registers as trainable (requires_grad=True by default)."""
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a module parameter. Shares storage with `data` (no copy), like torch."""

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            from ..creation import empty

            data = empty(0)
        if not isinstance(data, Tensor):
            data = Tensor(data)
        self._data = data._data
        self.backend = data.backend
        self.grad = None
        self.grad_fn = None
        self.retains_grad = False
        self.requires_grad = False
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


    def __reduce__(self):
        """Pickle (fastnn.save, copy.deepcopy of a Module) as a Parameter again."""
        rebuild, args = super().__reduce__()
        return _rebuild_parameter, (rebuild, args)


def _rebuild_parameter(rebuild, args):
    t = rebuild(*args)
    return Parameter(t, requires_grad=t.requires_grad)
