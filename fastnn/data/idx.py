"""IDX file format (the MNIST container): vectorized reader/writer for raw and gzip files.

Layout: magic = 0x00 0x00 <type code> <ndim>, then ndim big-endian uint32 dims, then the
big-endian payload of prod(dims) items. Parsing is one np.frombuffer, no per-sample loop.
"""
import gzip
import math
import os
import zlib

import numpy as np

# IDX type code -> big-endian numpy dtype
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {dt.newbyteorder("=").name: code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _known_types():
    return ", ".join(f"0x{c:02X} {d.name}" for c, d in IDX_DTYPES.items())


def read_bytes(path):
    """Whole file content as a bytearray; gzip (detected by its magic, not the name) is
    decompressed. A corrupt/truncated gzip stream raises ValueError naming the file."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = bytearray(os.fstat(f.fileno()).st_size)
        n = f.readinto(raw)                         # no intermediate bytes copy
        del raw[n:]
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return bytearray(gzip.decompress(raw))
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupt or truncated gzip stream ({e})") from None


def parse_idx(buf, name="<buffer>"):
    """IDX bytes -> ndarray (native byte order, writable when buf is a bytearray).
    Raises ValueError naming `name` and saying expected vs found for every header defect."""
    n = len(buf)
    if n < 4:
        raise ValueError(f"{name}: not an IDX file: expected at least a 4-byte magic, "
                         f"found {n} bytes")
    z0, z1, code, ndim = buf[0], buf[1], buf[2], buf[3]
    if z0 != 0 or z1 != 0:
        raise ValueError(f"{name}: bad IDX magic: expected 0x00 0x00 <type> <ndim>, found "
                         f"0x{z0:02X} 0x{z1:02X} 0x{code:02X} 0x{ndim:02X}")
    if code not in IDX_DTYPES:
        raise ValueError(f"{name}: bad IDX magic: unknown type code 0x{code:02X} "
                         f"(expected one of {_known_types()})")
    if ndim == 0:
        raise ValueError(f"{name}: bad IDX magic: expected ndim >= 1, found 0")
    header = 4 + 4 * ndim
    if n < header:
        raise ValueError(f"{name}: truncated IDX header: expected {header} bytes for "
                         f"{ndim} dims, found {n}")
    dims = tuple(int(d) for d in np.frombuffer(buf, ">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    count = math.prod(dims)
    expected = header + count * dtype.itemsize
    what = f"dims {dims} {dtype.newbyteorder('=').name}"
    if n < expected:
        raise ValueError(f"{name}: truncated IDX file: header says {what} = {expected} "
                         f"bytes, found {n}")
    if n > expected:
        raise ValueError(f"{name}: IDX length mismatch: header says {what} = {expected} "
                         f"bytes, found {n} ({n - expected} trailing bytes)")
    arr = np.frombuffer(buf, dtype, count=count, offset=header).reshape(dims)
    if dtype.itemsize > 1:
        arr = arr.astype(dtype.newbyteorder("="))      # big-endian -> native (a copy)
    else:
        arr = arr.view(dtype.newbyteorder("="))
    return arr


def read_idx(path):
    """Read an IDX file (raw or .gz) into a native-endian ndarray."""
    return parse_idx(read_bytes(path), os.fspath(path))


def idx_bytes(array):
    """ndarray -> IDX bytes (inverse of parse_idx)."""
    a = np.asarray(array)
    key = a.dtype.newbyteorder("=").name
    if key not in _CODE_OF:
        raise TypeError(f"IDX cannot store dtype {a.dtype} (supported: {_known_types()})")
    if a.ndim == 0 or a.ndim > 255:
        raise ValueError(f"IDX needs 1 to 255 dims, got shape {a.shape}")
    code = _CODE_OF[key]
    head = bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, ">u4").tobytes()
    return head + np.ascontiguousarray(a, IDX_DTYPES[code]).tobytes()


def write_idx(path, array):
    """Write `array` as IDX; gzip-compressed when `path` ends with .gz."""
    data = idx_bytes(array)
    path = os.fspath(path)
    if path.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with open(path, "wb") as f:
        f.write(data)
