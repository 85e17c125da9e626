"""DataLoader: batches by fancy-indexing a dataset's arrays with each batch's index array
(`get_batch`), falling back to collating `__getitem__` samples; yields fastnn Tensors."""
import numbers

import numpy as np

from .dataset import as_array


def _to_tensor(a):
    """The one NumPy -> fastnn boundary (memory-sharing fastnn.from_numpy, imported lazily)."""
    from fastnn import from_numpy
    return from_numpy(a)


def _convert(b):
    if isinstance(b, tuple):
        return tuple(_convert(x) for x in b)
    if isinstance(b, dict):
        return {k: _convert(v) for k, v in b.items()}
    if isinstance(b, np.ndarray):
        return _to_tensor(np.ascontiguousarray(b))
    return b


def default_collate(samples):
    """List of samples -> stacked arrays: arrays/Tensors stack on a new axis 0, Python ints ->
    int64, floats -> float64, bools -> bool (as torch); tuples/lists per field, dicts per key."""
    first = samples[0]
    if isinstance(first, dict):                 # dicts collate per key, as torch's
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, (tuple, list)):
        n = len(first)
        if any(len(s) != n for s in samples):
            raise ValueError("default_collate: samples have different numbers of fields")
        return tuple(default_collate([s[i] for s in samples]) for i in range(n))
    if isinstance(first, (bool, np.bool_)):
        return np.asarray(samples, dtype=np.bool_)
    if isinstance(first, numbers.Integral):
        return np.asarray(samples, dtype=np.int64)
    if isinstance(first, numbers.Real):
        return np.asarray(samples, dtype=np.float64)
    if isinstance(first, np.ndarray) or hasattr(first, "numpy"):
        arrs = [as_array(s) for s in samples]
        shapes = {a.shape for a in arrs}
        if len(shapes) != 1:
            raise ValueError(f"default_collate: cannot stack samples of different shapes "
                             f"{sorted(shapes)}")
        return np.stack(arrs)
    raise TypeError(f"default_collate: samples must be arrays, Tensors, numbers or tuples "
                    f"of them; found {type(first).__name__}")


def _fastnn_random():
    try:
        import fastnn.random as fr
        return fr
    except Exception:
        return None


def _default_generator():
    """fastnn's global generator when the core provides one, else None."""
    g = getattr(_fastnn_random(), "default_generator", None)
    return g if hasattr(g, "permutation") else None


def _global_seed():
    """fastnn.manual_seed's value when the core exposes it (fastnn.random.initial_seed)."""
    try:
        return _fastnn_random().initial_seed()
    except Exception:
        return None


class DataLoader:
    """DataLoader(dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
    generator=None, collate_fn=None). Shuffling draws a fresh permutation every epoch from a
    NumPy Generator: `generator` if given, else one seeded with `seed`, else fastnn's global
    generator (fastnn.random.default_generator) when it exists, else one seeded at the first
    shuffled epoch from fastnn.manual_seed's seed (fastnn.random.initial_seed()) or the OS."""

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 generator=None, collate_fn=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
                or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size!r}")
        n = len(dataset)
        if n == 0:
            raise ValueError(f"DataLoader: dataset {type(dataset).__name__} is empty "
                             f"(len 0); nothing to load")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: pass either seed= or generator=, not both")
        if isinstance(generator, numbers.Integral):
            seed, generator = generator, None
        if generator is not None and not hasattr(generator, "permutation"):
            raise TypeError(f"DataLoader: generator must be a numpy.random.Generator, got "
                            f"{type(generator).__name__}")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.collate_fn = collate_fn
        self.generator = generator if seed is None else np.random.default_rng(seed)
        self._own_rng = None

    def __len__(self):
        n, b = len(self.dataset), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def _order(self, n):
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        g = self.generator if self.generator is not None else _default_generator()
        if g is None:
            if self._own_rng is None:       # seeded by fastnn.manual_seed when it was called
                self._own_rng = np.random.default_rng(_global_seed())
            g = self._own_rng
        return np.asarray(g.permutation(n), dtype=np.int64)

    def _fetch(self, idx):
        ds = self.dataset
        if self.collate_fn is None and hasattr(ds, "get_batch"):
            return ds.get_batch(idx)
        collate = self.collate_fn or default_collate
        return collate([ds[int(i)] for i in idx])

    def __iter__(self):
        n = len(self.dataset)
        order, b = self._order(n), self.batch_size
        stop = (n // b) * b if self.drop_last else n
        for start in range(0, stop, b):
            yield _convert(self._fetch(order[start:start + b]))
