"""Datasets as torch.utils.data's: Dataset, IterableDataset, TensorDataset (array-backed, vectorized
`get_batch`), Subset, ConcatDataset, ChainDataset, random_split."""
import bisect
import math
import warnings

import numpy as np

from .convert import _convert


class Dataset:
    """Map-style dataset: implement __len__ and __getitem__. Implement
    `get_batch(indices) -> tuple of arrays` too to let DataLoader batch without a Python loop."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Stream-style dataset: implement __iter__. DataLoader batches what it yields, in order."""

    def __iter__(self):
        raise NotImplementedError

    def __add__(self, other):
        return ChainDataset([self, other])


class ConcatDataset(Dataset):
    """The datasets one after another: index i falls in the dataset whose cumulative size passes i."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")        # torch's type and words
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        k = bisect.bisect_right(self.cumulative_sizes, idx)
        return self.datasets[k][idx - (self.cumulative_sizes[k - 1] if k else 0)]


class ChainDataset(IterableDataset):
    """Iterable datasets one after another."""

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self):
        return sum(len(d) for d in self.datasets)


def as_array(x):
    """NumPy view of a NumPy array or a fastnn Tensor (its data, outside autograd, as torch's collate)."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "numpy"):
        return np.asarray((x.detach() if hasattr(x, "detach") else x).numpy())
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
        return tuple(_convert(t[index]) for t in self.tensors)

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


def _split_counts(n, lengths):
    """Integer lengths from ints or from fractions summing to 1 (floors, then the remainder one by one
    from the first split on, as torch)."""
    lengths = list(lengths)
    if lengths and math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.")
        lengths = counts
    if any(int(x) != x or x < 0 for x in lengths) or sum(lengths) != n:
        raise ValueError(f"Sum of input lengths {lengths} does not equal the length of the "
                         f"input dataset ({n})")
    return [int(x) for x in lengths]


def random_split(dataset, lengths, generator=None, seed=None):
    """torch.utils.data.random_split: non-overlapping Subsets of the given lengths (ints summing to
    len(dataset), or fractions summing to 1) cut from one permutation drawn from `generator` (a
    fastnn.Generator; default the global stream) or, fastnn's extension, from a stream seeded by `seed`."""
    from ..random import numpy_generator

    lengths = _split_counts(len(dataset), lengths)
    g = np.random.default_rng(seed) if seed is not None else numpy_generator(generator)
    perm = np.asarray(g.permutation(len(dataset)), dtype=np.int64)
    bounds = np.cumsum([0] + lengths)
    return [Subset(dataset, perm[a:b].tolist()) for a, b in zip(bounds[:-1], bounds[1:])]
