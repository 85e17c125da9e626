"""fastnn.save / fastnn.load in torch's file format, both ways, without torch.

save(obj, f) writes torch's zip format (torch.save's default since 1.6): <archive>/data.pkl, a protocol-2
pickle in which every tensor is torch._utils._rebuild_tensor_v2 over a storage record <archive>/data/<k>
(Parameters: _rebuild_parameter), plus byteorder and version records, each record 64-byte aligned as
torch writes them. So `torch.load(p, weights_only=True)` returns torch tensors, and a torch model loads
a fastnn state_dict directly. Tensors that share a storage in fastnn share one record. Paths are written
atomically (temp file in the same directory, fsync, os.replace).

load(f, map_location=None, weights_only=True) reads torch's zip and legacy formats (and what save writes).
weights_only=True (the default, as in torch >= 2.6) admits only tensors, storages, containers and plain
values: any other global is refused with an error naming it, before anything runs
(fastnn/serialization_unpickle.py). weights_only=False unpickles anything: only for trusted files.
"""
import collections
import io
import os
import pickle
import tempfile
import zipfile

import numpy as np

from .serialization_unpickle import UnpicklingError, _Rebuilt, read_legacy, read_zip

__all__ = ["save", "load", "UnpicklingError"]

_STORAGE_OF = {np.dtype(np.float32): "FloatStorage", np.dtype(np.float64): "DoubleStorage",
               np.dtype(np.float16): "HalfStorage", np.dtype(np.int64): "LongStorage",
               np.dtype(np.int32): "IntStorage", np.dtype(np.int16): "ShortStorage",
               np.dtype(np.int8): "CharStorage", np.dtype(np.uint8): "ByteStorage", np.dtype(np.bool_): "BoolStorage"}
ALIGN = 64


def _rebuild_tensor(array, device, requires_grad):
    """Unpickling of fastnn tensors inside a process (copy.deepcopy, multiprocessing): not a file format."""
    from .backends import get_backend
    from .tensor import Tensor

    backend = get_backend(device)
    t = Tensor._wrap(backend.asarray(array), backend)
    return t.requires_grad_(True) if requires_grad else t


# ---- writing -------------------------------------------------------------------------------------
class _Global:
    """A name written as a pickle GLOBAL (torch's classes and functions, which need not be importable)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):          # pickle's save_reduce requires a callable
        raise TypeError(f"{self.module}.{self.name} is only a name in a pickle")


_REBUILD = _Global("torch._utils", "_rebuild_tensor_v2")
_REBUILD_PARAM = _Global("torch._utils", "_rebuild_parameter")


class _Storage:
    def __init__(self, key, array):
        self.key, self.array = key, array


class _TorchPickler(pickle._Pickler):
    """Protocol-2 pickler writing fastnn tensors as torch's _rebuild_tensor_v2 over storage records."""

    def __init__(self, file):
        super().__init__(file, protocol=2)
        self.records = {}                  # key -> contiguous array
        self._by_base = {}                 # id of the base buffer -> (key, base array)

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
            return
        super().save(obj, save_persistent_id)

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            name = _STORAGE_OF[obj.array.dtype]
            return ("storage", _Global("torch", name), obj.key, "cpu", int(obj.array.size))
        return None

    def reducer_override(self, obj):
        from .nn.parameter import Parameter
        from .tensor import Tensor

        if not isinstance(obj, Tensor):
            return NotImplemented
        storage, offset, shape, strides = self._storage(obj.detach().backend.to_numpy(obj.detach()._data))
        args = (storage, offset, shape, strides, bool(obj.requires_grad), collections.OrderedDict())
        if isinstance(obj, Parameter):   # torch: _rebuild_parameter(<the tensor>, requires_grad, hooks)
            return _REBUILD_PARAM, (obj.detach(), bool(obj.requires_grad), collections.OrderedDict())
        return _REBUILD, args

    def _storage(self, a):
        """(storage, element offset, shape, element strides) of a; views of one buffer share a record."""
        if a.dtype not in _STORAGE_OF:
            raise TypeError(f"fastnn.save: tensors of dtype {a.dtype} have no torch storage type")
        base = a
        while isinstance(base.base, np.ndarray):
            base = base.base
        shareable = base.flags.c_contiguous and base.dtype == a.dtype and a.size and \
            all(s >= 0 and s % a.itemsize == 0 for s in a.strides)
        if shareable:
            hit = self._by_base.get(id(base))
            if hit is None:
                hit = (str(len(self.records)), base)
                self._by_base[id(base)] = hit
                self.records[hit[0]] = np.ascontiguousarray(base).reshape(-1)
            offset = (a.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // a.itemsize
            return _Storage(hit[0], self.records[hit[0]]), int(offset), tuple(a.shape), \
                tuple(s // a.itemsize for s in a.strides)
        key = str(len(self.records))
        self.records[key] = np.ascontiguousarray(a).reshape(-1)
        strides = tuple(int(np.prod(a.shape[k + 1:], dtype=np.int64)) for k in range(a.ndim))
        return _Storage(key, self.records[key]), 0, tuple(a.shape), strides


def _write_stored(zf, name, data):
    """A ZIP_STORED record whose data starts on a 64-byte boundary (torch's alignment), via extra padding."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    header = 30 + len(name.encode())
    pad = (-(zf.fp.tell() + header + 4)) % ALIGN
    info.extra = b"FB" + pad.to_bytes(2, "little") + b"Z" * pad
    zf.writestr(info, data)


def _archive_bytes(obj, archive="archive"):
    buf = io.BytesIO()
    pickler = _TorchPickler(buf)
    pickler.dump(obj)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        _write_stored(zf, f"{archive}/data.pkl", buf.getvalue())
        _write_stored(zf, f"{archive}/.format_version", b"1")
        _write_stored(zf, f"{archive}/.storage_alignment", b"64")
        _write_stored(zf, f"{archive}/byteorder", b"little")
        for key, arr in pickler.records.items():
            _write_stored(zf, f"{archive}/data/{key}", arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
        _write_stored(zf, f"{archive}/version", b"3\n")
    return out.getvalue()


def save(obj, f):
    """Write obj (tensors, state_dicts, optimizers' state_dicts, containers...) in torch's zip format."""
    if hasattr(f, "write"):
        f.write(_archive_bytes(obj))
        return
    path = os.fspath(f)
    data = _archive_bytes(obj, os.path.splitext(os.path.basename(path))[0] or "archive")
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastnn-save-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---- reading -------------------------------------------------------------------------------------
def _target(map_location, saved="cpu"):
    if map_location is None:
        return saved
    if isinstance(map_location, dict):
        return str(map_location.get(saved, saved))
    if callable(map_location):
        raise TypeError("fastnn.load: map_location as a function is not supported; pass a device or a dict")
    return str(map_location)


def _to_fastnn(obj, device):
    """Replace every rebuilt tensor record by a fastnn Tensor (Parameter) on device, in containers too."""
    if isinstance(obj, _Rebuilt):
        from .creation import tensor
        from .nn.parameter import Parameter

        t = tensor(obj.array, dtype=obj.array.dtype, device=device)
        if obj.parameter:
            return Parameter(t, requires_grad=obj.requires_grad)
        return t.requires_grad_(True) if obj.requires_grad else t
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _to_fastnn(v, device)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _to_fastnn(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_fastnn(v, device) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_to_fastnn(v, device) for v in obj)
    if isinstance(obj, (set, frozenset)):
        return type(obj)(_to_fastnn(v, device) for v in obj)
    return obj


def load(f, map_location=None, weights_only=True):
    """Read a torch.save / fastnn.save file (zip or legacy format); tensors go to map_location."""
    name = getattr(f, "name", None) or (os.fspath(f) if not hasattr(f, "read") else "<file>")
    if hasattr(f, "read"):
        data = f.read()
    else:
        with open(os.fspath(f), "rb") as fh:
            data = fh.read()
    if data[:4] == b"PK\x03\x04":
        obj = read_zip(data, weights_only, name)
    elif data[:2] == b"\x80\x02":                 # legacy: checked for torch's magic number by read_legacy
        obj = read_legacy(data, weights_only, name)
    elif not data:
        raise UnpicklingError(f"{name}: the file is empty")
    else:
        raise UnpicklingError(f"{name}: neither torch's zip format nor its legacy format (first bytes "
                              f"{data[:8]!r}); fastnn.load reads only torch.save / fastnn.save files")
    return _to_fastnn(obj, _target(map_location))

