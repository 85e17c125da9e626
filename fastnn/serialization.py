"""fastnn.save / fastnn.load: torch.save-style pickling of tensors, state_dicts and nested containers.

Tensors pickle as (NumPy array, dtype, device, requires_grad); `load(..., map_location=)` puts them on
another device. Files are written atomically (temp file in the same directory, fsync, os.replace), so
an interrupted save never leaves a truncated checkpoint under the final name. For checkpoints that
other frameworks read, `fastnn train` writes safetensors instead (fastnn/train/checkpoint.py).
"""
import io
import os
import pickle
import tempfile


def _rebuild_tensor(array, device, requires_grad):
    from .backends import get_backend
    from .tensor import Tensor

    target = _load_device[-1] if _load_device and _load_device[-1] is not None else device
    backend = get_backend(target)
    t = Tensor._wrap(backend.asarray(array), backend)
    return t.requires_grad_(True) if requires_grad else t


_load_device = []  # map_location of the load in progress (a stack: loads may nest)


def save(obj, f):
    """Pickle obj (tensors, Modules' state_dicts, optimizers' state_dicts, lists, dicts...) to f."""
    buf = io.BytesIO()
    pickle.dump(obj, buf, protocol=pickle.HIGHEST_PROTOCOL)
    if hasattr(f, "write"):
        f.write(buf.getvalue())
        return
    path = os.fspath(f)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastnn-save-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(buf.getvalue())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(f, map_location=None):
    """Unpickle what save() wrote; tensors go to map_location ('cpu', 'cuda') or their saved device."""
    _load_device.append(None if map_location is None else str(map_location))
    try:
        if hasattr(f, "read"):
            return pickle.load(f)
        with open(os.fspath(f), "rb") as fh:
            return pickle.load(fh)
    finally:
        _load_device.pop()
