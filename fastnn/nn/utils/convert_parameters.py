"""parameters_to_vector / vector_to_parameters (torch.nn.utils.convert_parameters)."""


def _check_param_device(param, old_device):
    """The first parameter's device name, or TypeError when param lives on another one (torch's message)."""
    if old_device is None:
        return param.backend.name
    if param.backend.name != old_device:
        raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return old_device


def parameters_to_vector(parameters):
    """One 1-D tensor holding every parameter flattened, in order (differentiable, as torch.cat of views)."""
    from ...functions import cat

    device, vec = None, []
    for param in parameters:
        device = _check_param_device(param, device)
        vec.append(param.view(-1))
    return cat(vec)


def vector_to_parameters(vec, parameters):
    """Point each parameter's .data at its slice of vec, reshaped like the parameter (torch's semantics:
    the parameters then share vec's storage; an optimizer re-binds them to its flat buffer on its next step)."""
    from ...tensor import Tensor

    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {_typename(vec)}")
    device, pointer = None, 0
    for param in parameters:
        device = _check_param_device(param, device)
        n = param.numel()
        param.data = vec[pointer:pointer + n].view_as(param).data
        pointer += n


def _typename(obj):
    """torch.typename of a non-tensor: 'list', 'numpy.ndarray', ..."""
    t = type(obj)
    return t.__qualname__ if t.__module__ in ("builtins", "__builtin__", None) else f"{t.__module__}.{t.__qualname__}"
