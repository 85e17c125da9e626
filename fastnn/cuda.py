"""fastnn.cuda: torch.cuda-shaped device queries; every call works without a GPU and never raises."""


def _runtime():
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() > 0:
            return cupy
    except Exception:
        return None
    return None


def is_available():
    """True only when a real CUDA device is visible to CuPy."""
    return _runtime() is not None


def device_count():
    cp = _runtime()
    return int(cp.cuda.runtime.getDeviceCount()) if cp is not None else 0


def current_device():
    cp = _runtime()
    return int(cp.cuda.runtime.getDevice()) if cp is not None else 0


def get_device_name(device=None):
    cp = _runtime()
    if cp is None:
        return ""
    props = cp.cuda.runtime.getDeviceProperties(current_device() if device is None else int(device))
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize(device=None):
    cp = _runtime()
    if cp is not None:
        cp.cuda.Device().synchronize()


def manual_seed(seed):
    cp = _runtime()
    if cp is not None:
        cp.random.seed(int(seed))


manual_seed_all = manual_seed


def memory_allocated(device=None):
    cp = _runtime()
    return int(cp.get_default_memory_pool().used_bytes()) if cp is not None else 0


def memory_reserved(device=None):
    cp = _runtime()
    return int(cp.get_default_memory_pool().total_bytes()) if cp is not None else 0


def max_memory_allocated(device=None):
    return memory_allocated(device)


def empty_cache():
    cp = _runtime()
    if cp is not None:
        cp.get_default_memory_pool().free_all_blocks()
