"""repr of a Tensor, shaped like torch's: tensor([[1., 2.]], dtype=..., requires_grad=True)."""
import numpy as np


def _format_array(a, prefix):
    if a.dtype.kind == "f":
        finite = a[np.isfinite(a)]
        integral = finite.size and np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e8
        if integral or finite.size == 0:
            fmt = {"float_kind": lambda v: (f"{v:.0f}." if np.isfinite(v) else str(v))}
        else:
            big = np.abs(finite).max() >= 1e8 or np.abs(finite[finite != 0]).min(initial=1) < 1e-4
            fmt = {"float_kind": (lambda v: f"{v:.4e}") if big else (lambda v: f"{v:.4f}")}
        return np.array2string(a, separator=", ", prefix=prefix, formatter=fmt, threshold=1000, edgeitems=3)
    if a.dtype == np.bool_:
        return np.array2string(a, separator=", ", prefix=prefix,
                               formatter={"bool": lambda v: "True" if v else "False"}, threshold=1000)
    return np.array2string(a, separator=", ", prefix=prefix, threshold=1000, edgeitems=3)


def tensor_repr(t):
    a = t.backend.to_numpy(t._data)
    prefix = "tensor("
    body = _format_array(a, prefix) if a.size else "[]"
    extras = []
    if a.size == 0 and a.ndim > 1:
        extras.append(f"size={tuple(a.shape)}")
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    default = a.dtype in (np.float32, np.int64, np.bool_)
    if not default:
        extras.append(f"dtype={t.dtype}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + body + "".join(", " + e for e in extras) + ")"
