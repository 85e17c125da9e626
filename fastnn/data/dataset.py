"""Dataset base class and TensorDataset (array-backed, vectorized `get_batch`)."""
import numpy as np


class Dataset:
    """Map-style dataset: implement __len__ and __getitem__. Implement
    `get_batch(indices) -> tuple of arrays` too to let DataLoader batch without a Python loop."""

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError


def as_array(x):
    """NumPy view of a NumPy array or a fastnn Tensor (via Tensor.numpy())."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "numpy"):
        return np.asarray(x.numpy())
    return np.asarray(x)


class TensorDataset(Dataset):
    """TensorDataset(*tensors): sample i is tuple(t[i] for t in tensors); all share dim 0."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.tensors = tuple(as_array(t) for t in tensors)
        for t in self.tensors:
            if t.ndim == 0:
                raise ValueError("TensorDataset: tensors must have a leading (sample) dim, "
                                 "got a 0-d tensor")
        sizes = [t.shape[0] for t in self.tensors]
        if len(set(sizes)) != 1:
            raise ValueError("Size mismatch between tensors: first dims differ, shapes "
                             + ", ".join(str(tuple(t.shape)) for t in self.tensors))

    def __len__(self):
        return self.tensors[0].shape[0]

    def __getitem__(self, index):
        from ..creation import from_numpy

        return tuple(from_numpy(np.asarray(t[index])) for t in self.tensors)   # tensors, as torch's

    def get_batch(self, indices):
        return tuple(t[indices] for t in self.tensors)


class Subset(Dataset):
    """Subset(dataset, indices): a view of `dataset` at `indices` (keeps its get_batch)."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices                  # kept as given, as torch does (random_split: a list)
        self._index = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset)
        if self._index.size and (self._index.min() < -n or self._index.max() >= n):
            raise IndexError(f"Subset: indices out of range for a dataset of length {n}")

    def __len__(self):
        return self._index.shape[0]

    def __getitem__(self, index):
        return self.dataset[int(self._index[index])]

    def __getattr__(self, name):
        if name == "get_batch" and hasattr(self.dataset, "get_batch"):
            return lambda idx: self.dataset.get_batch(self._index[idx])
        raise AttributeError(name)


def random_split(dataset, lengths, seed=None, generator=None):
    """Split into non-overlapping Subsets of the given lengths (ints summing to len(dataset),
    or fractions summing to 1, as torch) using a permutation from `generator` or `seed`."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and abs(sum(lengths) - 1) < 1e-9:
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):                 # spread the remainder round-robin
            counts[i % len(counts)] += 1
        lengths = counts
    if any(int(x) != x or x < 0 for x in lengths) or sum(lengths) != n:
        raise ValueError(f"Sum of input lengths {lengths} does not equal the length of the "
                         f"input dataset ({n})")
    g = generator if generator is not None else np.random.default_rng(seed)
    perm = np.asarray(g.permutation(n), dtype=np.int64)
    bounds = np.cumsum([0] + [int(x) for x in lengths])
    return [Subset(dataset, perm[a:b].tolist()) for a, b in zip(bounds[:-1], bounds[1:])]
