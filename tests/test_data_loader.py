"""DataLoader: coverage of every sample once per epoch, order, drop_last, short last batch, seed
reproducibility, vectorized get_batch == collated __getitem__ (the oracle), errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastnn.data.convert as DL
from fastnn.data import (MNIST, DataLoader, Dataset, Subset, TensorDataset, default_collate,
                         random_split)
from fastnn.data import transforms as T


def arr(t):
    return t if isinstance(t, np.ndarray) else np.asarray(t.numpy())


class ListDataset(Dataset):
    """No get_batch: forces the per-sample collate path. Items: (features (3,), index int)."""

    def __init__(self, n):
        self.x = np.random.default_rng(n).standard_normal((n, 3)).astype(np.float32)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], i


def epoch(loader):
    return [tuple(arr(t) for t in b) for b in loader]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 23), bs=st.integers(1, 8), shuffle=st.booleans(),
       drop_last=st.booleans(), seed=st.integers(0, 1000))
def test_epoch_structure_and_contents(n, bs, shuffle, drop_last, seed):
    ref = ListDataset(n)
    tds = TensorDataset(ref.x, np.arange(n, dtype=np.int64))
    fast = DataLoader(tds, bs, shuffle=shuffle, drop_last=drop_last, seed=seed)
    slow = DataLoader(ref, bs, shuffle=shuffle, drop_last=drop_last, seed=seed)
    fb, sb = epoch(fast), epoch(slow)
    full, rem = divmod(n, bs)
    sizes = [bs] * full + ([rem] if rem and not drop_last else [])
    assert len(fb) == len(fast) == len(sizes) == len(sb)
    assert [len(b[1]) for b in fb] == sizes
    idx = np.concatenate([b[1] for b in fb]) if fb else np.zeros(0, np.int64)
    if not drop_last:
        assert sorted(idx.tolist()) == list(range(n))          # every sample exactly once
    assert len(set(idx.tolist())) == len(idx) == sum(sizes)
    if not shuffle:
        assert idx.tolist() == list(range(sum(sizes)))         # dataset order
    for (x, i), (xs, is_) in zip(fb, sb):
        assert x.dtype == np.float32 and i.dtype == np.int64 and x.flags.c_contiguous
        oracle = np.stack([ref[int(k)][0] for k in i])          # __getitem__ is the oracle
        np.testing.assert_array_equal(x, oracle)
        np.testing.assert_array_equal(xs, x)                    # both paths agree
        np.testing.assert_array_equal(is_, i)


def indices(loader):
    return np.concatenate([arr(b[1]) for b in loader]).tolist()


def test_seed_reproducible_and_new_permutation_each_epoch():
    n = 50
    ds = TensorDataset(np.zeros((n, 1), np.float32), np.arange(n))
    a, b = DataLoader(ds, 7, shuffle=True, seed=3), DataLoader(ds, 7, shuffle=True, seed=3)
    a1, a2 = indices(a), indices(a)
    assert a1 == indices(b) and a2 == indices(b)
    assert a1 != a2                                   # a fresh permutation per epoch
    assert a1 != indices(DataLoader(ds, 7, shuffle=True, seed=4))
    g = DataLoader(ds, 7, shuffle=True, generator=np.random.default_rng(3))
    assert indices(g) == a1                           # generator= and seed= draw the same way
    assert a1 == np.random.default_rng(3).permutation(n).tolist()


def fake_mnist(n, transform=None, target_transform=None):
    ds = MNIST.__new__(MNIST)                         # no files: just the in-memory arrays
    rng = np.random.default_rng(n)
    ds.data = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    ds.targets = rng.integers(0, 10, n).astype(np.int64)
    ds.transform, ds.target_transform, ds.train = transform, target_transform, True
    return ds


def test_mnist_get_batch_with_transforms_matches_getitem():
    tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    ds = fake_mnist(13, tf, target_transform=T.Lambda(lambda y: y + 100))
    batches = epoch(DataLoader(ds, 5, shuffle=True, seed=0))
    assert [b[0].shape for b in batches] == [(5, 1, 28, 28)] * 2 + [(3, 1, 28, 28)]
    assert all(x.dtype == np.float32 and y.dtype == np.int64 for x, y in batches)
    order = np.random.default_rng(0).permutation(13)
    x_all = np.concatenate([b[0] for b in batches])
    y_all = np.concatenate([b[1] for b in batches])
    for j, k in enumerate(order):
        img, lbl = ds[int(k)]
        np.testing.assert_array_equal(x_all[j], img)
        assert y_all[j] == lbl == ds.targets[k] + 100
    exact = (ds.data[order[0]] / 255.0 - 0.1307) / 0.3081       # closed form
    np.testing.assert_allclose(x_all[0, 0], exact, rtol=1e-5, atol=1e-5)


def test_raw_uint8_batches_and_noncontiguous_arrays():
    ds = fake_mnist(6)
    x, y = next(iter(DataLoader(ds, 4)))
    np.testing.assert_array_equal(arr(x), ds.data[:4])
    x = np.arange(40, dtype=np.float64).reshape(5, 8)[:, ::2]     # non-contiguous columns
    (b,) = list(DataLoader(TensorDataset(x), 5))
    np.testing.assert_array_equal(arr(b[0]), x)


def test_yields_fastnn_tensors():
    import fastnn
    ds = TensorDataset(np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6))
    x, y = next(iter(DataLoader(ds, 4)))
    assert isinstance(x, fastnn.Tensor) and isinstance(y, fastnn.Tensor)
    np.testing.assert_array_equal(x.numpy(), ds.tensors[0][:4])
    np.testing.assert_array_equal(y.numpy(), np.arange(4))


def test_default_collate():
    ints = default_collate([1, 2, 3])
    floats = default_collate([1.5, 2.0])
    assert arr(ints).dtype == np.int64 and arr(floats).dtype == np.float64
    x, (y, z) = default_collate([(np.ones(2), (1, 0.5)), (np.zeros(2), (2, 1.5))])
    np.testing.assert_array_equal(arr(x), [[1, 1], [0, 0]])
    np.testing.assert_array_equal(arr(y), [1, 2])
    with pytest.raises(RuntimeError, match=r"stack expects each tensor to be equal size, but got \[2\] at entry 0 "
                       r"and \[3\] at entry 1"):
        default_collate([np.ones(2), np.ones(3)])
    assert default_collate(["a", "b"]) == ["a", "b"]              # strings stay a list, as torch
    with pytest.raises(TypeError, match="found <class 'object'>"):
        default_collate([object()])


@pytest.mark.parametrize("bs", [0, -1, 1.5, True, "4"])
def test_bad_batch_size(bs):
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(ListDataset(3), bs)


def test_construction_errors():
    assert list(DataLoader(TensorDataset(np.zeros((0, 3))), 2)) == []          # torch: no batches
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        DataLoader(TensorDataset(np.zeros((0, 3))), 2, shuffle=True)
    with pytest.raises(ValueError, match="either seed= or generator="):
        DataLoader(ListDataset(3), 2, seed=1, generator=np.random.default_rng(1))
    with pytest.raises(TypeError, match="generator must be a fastnn.Generator .*, got str"):
        DataLoader(ListDataset(3), 2, generator="x")
    with pytest.raises(ValueError, match=r"first dims differ, shapes \(3, 2\), \(4,\)"):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))


def test_random_split_and_subset_batches():
    n = 11
    ds = TensorDataset(np.arange(n) * 10, np.arange(n))
    parts = random_split(ds, [0.6, 0.4], seed=2)
    assert [len(p) for p in parts] == [7, 4]
    perm = np.random.default_rng(2).permutation(n)
    got = [indices(DataLoader(p, 3)) for p in parts]
    assert got == [perm[:7].tolist(), perm[7:].tolist()]          # disjoint, cover everything
    slow = ListDataset(n)
    sub = Subset(slow, [4, 0, 9])
    assert not hasattr(sub, "get_batch")                         # falls back to __getitem__
    (x, i), = epoch(DataLoader(sub, 3))
    assert i.tolist() == [4, 0, 9]
    np.testing.assert_array_equal(x, slow.x[[4, 0, 9]])
    with pytest.raises(ValueError, match=r"Sum of input lengths \[5, 5\] does not equal .*\(11\)"):
        random_split(ds, [5, 5])
    with pytest.raises(IndexError, match="out of range for a dataset of length 11"):
        Subset(ds, [11])


def test_unseeded_loader_follows_fastnn_global_seed():
    import fastnn
    ds = TensorDataset(np.zeros((20, 1)), np.arange(20))
    fastnn.manual_seed(123)
    loader = DataLoader(ds, 6, shuffle=True)
    g = np.random.default_rng(123)                                 # the stream manual_seed(123) starts
    assert indices(loader) == g.permutation(20).tolist()
    assert indices(loader) == g.permutation(20).tolist()           # next epoch: next draw
    gen = fastnn.Generator().manual_seed(7)                        # a generator object of its own
    assert indices(DataLoader(ds, 6, shuffle=True, generator=gen)) == \
        np.random.default_rng(7).permutation(20).tolist()
