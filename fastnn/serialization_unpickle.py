"""Reading torch.save files without torch: the zip format (torch's default since 1.6) and the legacy
format, through an unpickler that, with weights_only=True (the default, as torch's since 2.6), admits
only tensors, storages, containers and plain values and refuses every other global by name.

Storages are read from the archive's records (zip) or the trailing raw blocks (legacy), checked against
the sizes the pickle declares, and tensors rebuilt from (storage, offset, shape, stride) as NumPy
views, then copied into fastnn tensors. bfloat16 (no NumPy type) is widened to float32 with a warning.
"""
import collections
import io
import pickle
import struct
import warnings
import zipfile

import numpy as np

# torch storage class name -> (NumPy dtype read from the bytes, NumPy dtype of the fastnn tensor)
STORAGE_DTYPES = {
    "FloatStorage": ("<f4", np.float32), "DoubleStorage": ("<f8", np.float64), "HalfStorage": ("<f2", np.float16),
    "BFloat16Storage": ("<u2", np.float32), "LongStorage": ("<i8", np.int64), "IntStorage": ("<i4", np.int32),
    "ShortStorage": ("<i2", np.int16), "CharStorage": ("i1", np.int8), "ByteStorage": ("u1", np.uint8),
    "BoolStorage": ("?", np.bool_),
}
TORCH_DTYPES = {"float32": np.float32, "float": np.float32, "float64": np.float64, "double": np.float64,
                "float16": np.float16, "half": np.float16, "bfloat16": np.float32, "int64": np.int64,
                "long": np.int64, "int32": np.int32, "int": np.int32, "int16": np.int16, "int8": np.int8,
                "uint8": np.uint8, "bool": np.bool_}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


class UnpicklingError(pickle.UnpicklingError):
    """A file fastnn.load refuses: a global outside the weights-only allowlist, or corrupt data."""


class _StorageType:
    """What the GLOBAL torch.<X>Storage resolves to: a name the persistent ids carry."""

    def __init__(self, name):
        self.name = name


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    """torch._utils._rebuild_tensor_v2 on a NumPy storage: a strided view, checked against the storage."""
    arr, wide = storage
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or min(size + stride, default=0) < 0:
        raise UnpicklingError(f"corrupt tensor record: size {size}, stride {stride}")
    if 0 not in size:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if offset < 0 or last >= arr.size:
            raise UnpicklingError(f"corrupt tensor record: offset {offset}, size {size} and stride {stride} reach "
                                  f"element {last} of a storage of {arr.size}")
    view = np.lib.stride_tricks.as_strided(arr[offset:] if arr.size else arr, size,
                                           tuple(s * arr.itemsize for s in stride)) if 0 not in size \
        else np.empty(size, arr.dtype)
    data = np.array(view, copy=True)
    if wide:
        data = (data.astype(np.uint32) << 16).view(np.float32)     # bfloat16 -> float32, exactly
    return _Rebuilt(data, bool(requires_grad), False)


def _rebuild_parameter(data, requires_grad, hooks=None, state=None):
    return _Rebuilt(data.array, bool(requires_grad), True)


class _Rebuilt:
    """A tensor as read: the NumPy data and flags; turned into a fastnn Tensor/Parameter at the end."""

    def __init__(self, array, requires_grad, parameter):
        self.array, self.requires_grad, self.parameter = array, requires_grad, parameter


# (module, name) -> what the unpickler returns for it under weights_only=True
def _allowed():
    table = {("collections", "OrderedDict"): collections.OrderedDict,
             ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
             ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
             ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
             ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "complex"): complex,
             ("torch", "Size"): tuple}
    table.update({("__builtin__", n): v for (m, n), v in list(table.items()) if m == "builtins"})  # protocol 2
    table.update({("torch", n): _StorageType(n) for n in STORAGE_DTYPES})
    table.update({("torch", n): np.dtype(d) for n, d in TORCH_DTYPES.items()})
    return table


ALLOWED = _allowed()


class _Unpickler(pickle.Unpickler):
    """deferred=True (legacy files, whose storages follow the object): rebuild calls become _Pending."""

    def __init__(self, file, storages, weights_only, deferred=False):
        super().__init__(file)
        self.storages, self.weights_only, self.deferred = storages, weights_only, deferred

    def find_class(self, module, name):
        if (module, name) in ALLOWED:
            fn = ALLOWED[(module, name)]
            if self.deferred and fn in (_rebuild_tensor_v2, _rebuild_parameter):
                return lambda *args: _Pending(fn, args)
            return fn
        if self.weights_only or module.split(".")[0] == "torch":
            raise UnpicklingError(
                "Weights only load failed. fastnn.load(weights_only=True) admits only tensors, storages, "
                f"containers and plain values. Unsupported global: GLOBAL {module}.{name} was not an allowed "
                "global. If you trust the file's source, load it with weights_only=False (which runs code).")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise UnpicklingError(f"unsupported persistent id {pid!r:.80} (only torch storages are)")
        return self.storages(pid[1].name, str(pid[2]), int(pid[4]))


def _storage_from_bytes(raw, type_name, numel, where):
    code, _ = STORAGE_DTYPES[type_name]
    item = np.dtype(code).itemsize
    if len(raw) != numel * item:
        raise UnpicklingError(f"{where}: {len(raw)} bytes, but the pickle declares {numel} elements of "
                              f"{item} bytes ({type_name}): the file is corrupt or truncated")
    if type_name == "BFloat16Storage":
        warnings.warn(f"{where}: bfloat16 widened to float32 (NumPy has no bfloat16)", stacklevel=4)
    return np.frombuffer(raw, dtype=code).copy(), type_name == "BFloat16Storage"


def read_zip(data, weights_only, name):
    """The object in a torch zip archive (bytes)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        pkl = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise UnpicklingError(f"{name}: a zip archive without one <archive>/data.pkl: not a torch.save file")
        prefix = pkl[0][:-len("data.pkl")]
        byteorder = zf.read(prefix + "byteorder").decode() if prefix + "byteorder" in zf.namelist() else "little"
        if byteorder != "little":
            raise UnpicklingError(f"{name}: big-endian torch files are not supported")
        cache = {}

        def storage(type_name, key, numel):
            if key not in cache:
                rec = f"{prefix}data/{key}"
                if rec not in zf.namelist():
                    raise UnpicklingError(f"{name}: the pickle refers to record {rec}, which the archive lacks")
                cache[key] = _storage_from_bytes(zf.read(rec), type_name, numel, f"{name}: record {rec}")
            return cache[key]

        return _Unpickler(io.BytesIO(zf.read(pkl[0])), storage, weights_only).load()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, KeyError, OSError) as e:
        raise UnpicklingError(f"{name}: corrupt or truncated torch zip archive ({type(e).__name__}: {e})") from None


def read_legacy(data, weights_only, name):
    """The object in a legacy (pre-1.6, _use_new_zipfile_serialization=False) torch file."""
    f = io.BytesIO(data)
    try:
        head = [_Unpickler(f, None, True).load() for _ in range(3)]   # magic, protocol, sys_info
        if head[0] != LEGACY_MAGIC or head[1] != LEGACY_PROTOCOL:
            raise UnpicklingError(f"{name}: not a torch file (no torch magic number and protocol)")
        declared = {}

        def storage(type_name, key, numel):
            declared.setdefault(key, [type_name, numel, None])
            return declared[key]                      # filled after the key list is read
        obj = _Unpickler(f, storage, weights_only, deferred=True).load()
        keys = _Unpickler(f, None, True).load()
        for key in keys:
            n = struct.unpack("<q", f.read(8))[0]
            type_name, numel, _ = declared[str(key)]
            item = np.dtype(STORAGE_DTYPES[type_name][0]).itemsize
            declared[str(key)][2] = _storage_from_bytes(f.read(n * item), type_name, numel, f"{name}: storage {key}")
    except (EOFError, struct.error, KeyError, ValueError) as e:
        raise UnpicklingError(f"{name}: corrupt or truncated legacy torch file ({type(e).__name__}: {e})") from None
    return _resolve_legacy(obj)


def _resolve_legacy(obj):
    """The legacy format reads storages after the object: rebuild tensors whose storage was a placeholder."""
    if isinstance(obj, _Pending):
        return obj.build()
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _resolve_legacy(v)
        return out
    if isinstance(obj, list):
        return [_resolve_legacy(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve_legacy(v) for v in obj)
    return obj


class _Pending:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def build(self):
        args = [a.build() if isinstance(a, _Pending) else a for a in self.args]
        if isinstance(args[0], list):                  # a legacy storage placeholder, now filled
            if args[0][2] is None:
                raise UnpicklingError("corrupt legacy torch file: a tensor's storage was never written")
            args[0] = args[0][2]
        return self.fn(*args)
