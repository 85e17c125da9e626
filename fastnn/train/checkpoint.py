"""Atomic safetensors checkpoints: model tensors under torch's state_dict names, trainer state in the metadata.

One file holds everything, so one `os.replace` makes a checkpoint appear whole or not at all:

    tensors   "0.weight", "0.bias", "2.weight", ...   the model's state_dict (loads into the same torch
                                                       model with safetensors.torch.load_file +
                                                       load_state_dict, metadata is ignored there)
    metadata  {"format": "fastnn-checkpoint", "fastnn": <JSON>}  epoch, config, optimizer and scheduler
                                                       state_dicts, RNG states, metric history

Arrays inside the JSON (optimizer moments) are base64 of their little-endian bytes with dtype and shape.
When that would not fit safetensors' 100 MB header (Adam's moments of an 11M-parameter ResNet-18), the
arrays are stored as tensors named "fastnn_state.<i>" instead and the JSON refers to them; load_checkpoint
strips those names, and a torch user loading such a file drops them (`k.startswith("fastnn_state.")`).
"""
import base64
import json
import os
import tempfile

import numpy as np

FORMAT = "fastnn-checkpoint"
VERSION = 1
STATE_PREFIX = "fastnn_state."
MAX_JSON = 90_000_000          # safetensors refuses headers over 100 MB


# ---- atomic file writes ---------------------------------------------------------------------------
def atomic_write_bytes(path, data):
    """Write data to path so readers see the old file or the new one, never a torn one:
    temp file in the same directory, fsync, os.replace, fsync the directory."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        os.fchmod(fd, 0o666 & ~_umask())       # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:     # some filesystems refuse fsync on directories; the replace is still atomic
        pass


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


# ---- JSON encoding of state_dicts (tensors, tuples, int keys) -------------------------------------
def _to_numpy(x):
    from ..tensor import Tensor

    if isinstance(x, Tensor):
        return x.detach().backend.to_numpy(x.detach()._data), "tensor"
    return np.asarray(x), "ndarray"


def encode(obj, spill=None):
    """A JSON-safe form of a state_dict: arrays/Tensors, tuples and non-string keys survive decode.
    With a `spill` dict, arrays go there (name -> array) and the JSON holds their names."""
    from ..tensor import Tensor

    if isinstance(obj, (Tensor, np.ndarray)):
        a, kind = _to_numpy(obj)
        a = np.array(a, order="C", copy=True)
        if spill is not None:
            name = f"{STATE_PREFIX}{len(spill)}"
            spill[name] = a
            return {"__tensor__": name, "kind": kind}
        return {"__array__": base64.b64encode(a.astype(a.dtype.newbyteorder("<")).tobytes()).decode("ascii"),
                "dtype": a.dtype.str.lstrip("<>|="), "shape": list(a.shape), "kind": kind}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v, spill) for v in obj]}
    if isinstance(obj, list):
        return [encode(v, spill) for v in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: encode(v, spill) for k, v in obj.items()}
        return {"__items__": [[encode(k, spill), encode(v, spill)] for k, v in obj.items()]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint: cannot store a {type(obj).__name__} in the trainer state")


def decode(obj, device="cpu", spilled=None):
    """Inverse of encode; arrays that were Tensors come back as fastnn Tensors on `device`; `spilled`
    holds the arrays encode put in its spill dict."""
    if isinstance(obj, list):
        return [decode(v, device, spilled) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__array__" in obj or "__tensor__" in obj:
        if "__tensor__" in obj:
            a = np.array(spilled[obj["__tensor__"]], copy=True)
        else:
            a = np.frombuffer(base64.b64decode(obj["__array__"]), dtype=np.dtype("<" + obj["dtype"])
                              if obj["dtype"][0] in "fiuc" else np.dtype(obj["dtype"]))
            a = a.astype(a.dtype.newbyteorder("="), copy=True).reshape(obj["shape"])
        if obj.get("kind") == "tensor":
            from ..creation import tensor

            return tensor(a, dtype=a.dtype, device=device)
        return a
    if "__tuple__" in obj:
        return tuple(decode(v, device, spilled) for v in obj["__tuple__"])
    if "__items__" in obj:
        return {decode(k, device, spilled): decode(v, device, spilled) for k, v in obj["__items__"]}
    return {k: decode(v, device, spilled) for k, v in obj.items()}


# ---- save / load ----------------------------------------------------------------------------------
def model_arrays(state_dict):
    """{name: contiguous NumPy array} from a model state_dict of Tensors or arrays."""
    return {k: np.array(_to_numpy(v)[0], order="C", copy=True) for k, v in state_dict.items()}


def save_checkpoint(path, model_state, trainer_state=None):
    """Atomically write model_state (name -> Tensor/array) and trainer_state (JSON-able dict with
    Tensors allowed) to a safetensors file at path."""
    from safetensors.numpy import save

    tensors = model_arrays(model_state)
    text = json.dumps(encode(trainer_state or {}), separators=(",", ":"))
    if len(text) > MAX_JSON:                       # too big for the header: arrays become tensors
        spill = {}
        text = json.dumps(encode(trainer_state or {}, spill), separators=(",", ":"))
        tensors.update(spill)
    meta = {"format": FORMAT, "version": str(VERSION), "fastnn": text}
    atomic_write_bytes(path, save(tensors, metadata=meta))


def load_checkpoint(path, device="cpu"):
    """(model tensors {name: np.ndarray}, trainer_state dict) from a checkpoint written by
    save_checkpoint. A plain safetensors state_dict (e.g. from torch) loads with an empty trainer state."""
    from safetensors import safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with safe_open(path, framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors' own errors are terse; say which file and what it should be
        raise ValueError(f"{path}: not a readable safetensors checkpoint ({e})") from None
    spilled = {k: tensors.pop(k) for k in [k for k in tensors if k.startswith(STATE_PREFIX)]}
    state = decode(json.loads(meta["fastnn"]), device, spilled) if "fastnn" in meta else {}
    return tensors, state


def check_compatible(expected, found, where="checkpoint"):
    """Raise ValueError naming missing/unexpected keys and shape mismatches between the model's
    state_dict (`expected`: name -> shape) and the checkpoint's tensors (`found`: name -> array)."""
    exp = {k: tuple(v) for k, v in expected.items()}
    got = {k: tuple(np.shape(v)) for k, v in found.items()}
    missing = [k for k in exp if k not in got]
    unexpected = [k for k in got if k not in exp]
    shapes = [f"{k}: checkpoint {got[k]} vs model {exp[k]}" for k in exp if k in got and got[k] != exp[k]]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append("missing keys: " + ", ".join(missing))
        if unexpected:
            parts.append("unexpected keys: " + ", ".join(unexpected))
        if shapes:
            parts.append("size mismatch: " + "; ".join(shapes))
        raise ValueError(f"{where} does not fit this model (another architecture?) -- " + " | ".join(parts))
