"""DataLoader with torch.utils.data's signature and semantics (samplers, batch samplers, collate_fn,
IterableDataset, batch_size=None), plus a vectorized path: a map-style dataset with `get_batch`
(TensorDataset, MNIST) is fetched by fancy-indexing its arrays with each batch's index array instead
of collating one `__getitem__` per sample. Workers: num_workers > 0 is accepted and loads in-process
(worker_init_fn(0) runs once per epoch); pin_memory is accepted (host memory is what the cpu backend uses).
"""
import collections.abc
import numbers

import numpy as np

from .convert import _convert, _is_namedtuple, _to_tensor, same_mapping
from .dataset import IterableDataset, as_array
from .sampler import BatchSampler, RandomSampler, SequentialSampler

_COLLATE_ERR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def default_convert(data):
    """torch.utils.data.default_convert: NumPy arrays (and NumPy scalars) inside `data` become Tensors."""
    return _convert(data)


def _leaf(a, wrap):
    return _to_tensor(np.ascontiguousarray(a)) if wrap else a


def collate_arrays(samples, wrap=False):
    """torch's default_collate: samples -> one stacked array per leaf (a Tensor when wrap), in torch's
    containers (a dict per dict, a namedtuple per namedtuple, a list per other sequence; strings as
    they come)."""
    first = samples[0]
    if isinstance(first, np.ndarray) or hasattr(first, "numpy") and hasattr(first, "shape"):
        arrs = [as_array(s) for s in samples]
        if arrs[0].dtype.kind in "OSUV":
            raise TypeError(_COLLATE_ERR.format(arrs[0].dtype))
        for i, a in enumerate(arrs):
            if a.shape != arrs[0].shape:
                raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(arrs[0].shape)} "
                                   f"at entry 0 and {list(a.shape)} at entry {i}")
        return _leaf(np.stack(arrs), wrap)
    if isinstance(first, np.generic):
        return _leaf(np.asarray(samples), wrap)
    if isinstance(first, (bool, numbers.Real)):           # bool before int: Python bools collate to bool
        dt = np.bool_ if isinstance(first, bool) else np.int64 if isinstance(first, numbers.Integral) else np.float64
        return _leaf(np.asarray(samples, dtype=dt), wrap)
    if isinstance(first, (str, bytes)):
        return samples
    if isinstance(first, collections.abc.Mapping):
        return same_mapping(first, {k: collate_arrays([s[k] for s in samples], wrap) for k in first})
    if _is_namedtuple(first):
        return type(first)(*(collate_arrays(f, wrap) for f in zip(*samples)))
    if isinstance(first, collections.abc.Sequence):
        if any(len(s) != len(first) for s in samples):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [collate_arrays(f, wrap) for f in zip(*samples)]
    raise TypeError(_COLLATE_ERR.format(type(first)))


def default_collate(batch):
    """torch.utils.data.default_collate: a list of samples -> a batch of Tensors (see collate_arrays)."""
    return collate_arrays(batch, wrap=True)


def _check_generator(generator):
    from ..random import numpy_generator

    numpy_generator(generator)          # raises TypeError naming the type for anything else


def get_worker_info():
    """torch.utils.data.get_worker_info: None in the main process. fastnn loads every batch in the
    calling process (num_workers > 0 is accepted and runs in-process), so it is always None."""
    return None


class DataLoader:
    """torch.utils.data.DataLoader(dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
    num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
    multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
    pin_memory_device='', in_order=True, seed=None). `seed` (fastnn's) shuffles from a stream of its
    own; otherwise shuffling draws from `generator`, else from the global stream (fastnn.manual_seed)."""

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True, seed=None):
        _check_options(num_workers, timeout, prefetch_factor, persistent_workers)
        if isinstance(dataset, IterableDataset):
            for name, value in (("shuffle", shuffle), ("sampler", sampler), ("batch_sampler", batch_sampler)):
                if value not in (None, False):
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} option, "
                                     f"but got {name}={value}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                                       or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: pass either seed= or generator=, not both")
        if seed is not None:
            generator = np.random.default_rng(seed)
        elif generator is not None:
            _check_generator(generator)
        if sampler is None and not isinstance(dataset, IterableDataset):
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and sampler is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.sampler, self.batch_sampler, self.generator = sampler, batch_sampler, generator
        self.num_workers, self.collate_fn, self.pin_memory = num_workers, collate_fn, pin_memory
        self.timeout, self.worker_init_fn = timeout, worker_init_fn
        self.prefetch_factor, self.persistent_workers = prefetch_factor, persistent_workers

    def __len__(self):
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)                     # TypeError when the dataset has no length, as torch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def __iter__(self):
        if self.num_workers > 0 and self.worker_init_fn is not None:
            self.worker_init_fn(0)
        if isinstance(self.dataset, IterableDataset):
            return self._iter_iterable()
        if self.batch_sampler is None:
            return (self._finish(self.dataset[i]) for i in self.sampler)
        return (self._fetch(idx) for idx in _index_batches(self.batch_sampler))

    def _finish(self, sample):
        """batch_size=None: each sample through collate_fn if given, else default_convert."""
        return self.collate_fn(sample) if self.collate_fn is not None else _convert(sample)

    def _collate(self, samples):
        return (self.collate_fn or default_collate)(samples)

    def _fetch(self, idx):
        ds = self.dataset
        if self.collate_fn is None and hasattr(ds, "get_batch"):
            return _convert(ds.get_batch(np.asarray(idx, dtype=np.int64)))
        return self._collate([ds[int(i)] for i in idx])

    def _iter_iterable(self):
        if self.batch_size is None:
            for sample in self.dataset:
                yield self._finish(sample)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self._collate(batch)
                batch = []
        if batch and not self.drop_last:
            yield self._collate(batch)


def _check_options(num_workers, timeout, prefetch_factor, persistent_workers):
    if num_workers < 0:
        raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 "
                         "to enable multiprocessing, otherwise set prefetch_factor to None.")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")


def _index_batches(batch_sampler):
    """The batches of `batch_sampler` as index arrays: the default BatchSampler over a sequential or
    random sampler slices one index array (the same batches its __iter__ lists, without a Python loop
    per sample); any other batch sampler is iterated."""
    if type(batch_sampler) is BatchSampler and type(batch_sampler.sampler) in (SequentialSampler, RandomSampler):
        s = batch_sampler.sampler
        order = np.arange(len(s), dtype=np.int64) if type(s) is SequentialSampler else s._indices()
        b = batch_sampler.batch_size
        stop = (len(order) // b) * b if batch_sampler.drop_last else len(order)
        return (order[start:start + b] for start in range(0, stop, b))
    return iter(batch_sampler)
