"""fastnn.utils.data against torch.utils.data: samplers' index orders (identical where deterministic,
same algorithm and counts where random), batch structures of nested dict/tuple/namedtuple samples,
IterableDataset, ConcatDataset, random_split, Subset, TensorDataset, DataLoader options and errors."""
import collections

import numpy as np
import pytest
torch = pytest.importorskip("torch", reason="torch==2.13.0 is the oracle of these tests")
import torch.utils.data as tud  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

import fastnn
import fastnn.utils.data as fud

Point = collections.namedtuple("Point", "x y")


def plain(b):
    """A batch as nested Python containers of NumPy arrays (the container types kept)."""
    if isinstance(b, (torch.Tensor, fastnn.Tensor)):
        return ("T", str(b.dtype).split(".")[-1], b.detach().numpy() if isinstance(b, torch.Tensor) else b.numpy())
    if isinstance(b, dict):
        return ("dict", {k: plain(v) for k, v in b.items()})
    if isinstance(b, Point):
        return ("Point", [plain(v) for v in b])
    if isinstance(b, (list, tuple)):
        return (type(b).__name__, [plain(v) for v in b])
    return ("py", b)


def same(a, b):
    if isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            same(a[k], b[k])
    else:
        assert a == b


class Nested:
    """Map-style dataset with nested samples (works for both libraries: plain Python + NumPy)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = np.arange(3, dtype=np.float32) + i
        return {"img": x, "meta": (i, float(i) / 2, f"s{i}", Point(np.int64(i), [True, i % 2 == 0]))}


class TorchNested(Nested, tud.Dataset):
    pass


class FastNested(Nested, fud.Dataset):
    pass


@pytest.mark.parametrize("kw", [dict(batch_size=3), dict(batch_size=2, drop_last=True), dict(batch_size=None),
                                dict(batch_size=4, sampler=[5, 0, 3, 3, 1]),
                                dict(batch_sampler=[[4, 1], [0], [2, 3, 5]])])
def test_nested_batches_match_torch(kw):
    t = [plain(b) for b in tud.DataLoader(TorchNested(6), **kw)]
    f = [plain(b) for b in fud.DataLoader(FastNested(6), **kw)]
    same(f, t)
    assert len(fud.DataLoader(FastNested(6), **kw)) == len(tud.DataLoader(TorchNested(6), **kw))


def test_default_collate_and_convert_match_torch():
    cases = [[1, 2, 3], [1.5, 2.0], [True, False], [np.float32(1), np.float32(2)], [np.int32(4)], ["a", "b"],
             [{"x": (1, 2.0)}, {"x": (3, 4.0)}], [Point(1, 2.0), Point(3, 4.0)], [[1, 2], [3, 4]],
             [np.array(1.5)], [np.ones((2, 2), np.uint8), np.zeros((2, 2), np.uint8)]]
    for c in cases:
        same(plain(fud.default_collate(c)), plain(tud.default_collate(c)))
    for c in [(np.ones(2), 1), {"a": np.ones(1), "b": [np.zeros(1), 2.0]}, Point(np.ones(1), 3), np.float32(2)]:
        same(plain(fud.default_convert(c)), plain(tud.default_convert(c)))
    for bad in ([np.ones(2), np.ones(3)], [[1], [1, 2]], [object()], [np.array(["a"])], [None]):
        with pytest.raises(Exception) as te:
            tud.default_collate(bad)
        with pytest.raises(type(te.value)) as fe:
            fud.default_collate(bad)
        assert str(fe.value) == str(te.value)


def test_tensor_dataset_items_and_batches_are_tensors():
    x, y = np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6)
    ds = fud.TensorDataset(fastnn.tensor(x), fastnn.tensor(y))
    tds = tud.TensorDataset(torch.tensor(x), torch.tensor(y))
    same(plain(ds[2]), plain(tds[2]))
    for kw in (dict(batch_size=4), dict(batch_size=4, sampler=[3, 1, 0])):
        same([plain(b) for b in fud.DataLoader(ds, **kw)], [plain(b) for b in tud.DataLoader(tds, **kw)])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 17), bs=st.integers(1, 6), drop_last=st.booleans())
def test_sequential_and_batch_samplers_match_torch(n, bs, drop_last):
    assert list(fud.SequentialSampler(range(n))) == list(tud.SequentialSampler(range(n)))
    for sampler in (range(n), [n - 1 - i for i in range(n)]):
        f = fud.BatchSampler(sampler, bs, drop_last)
        t = tud.BatchSampler(sampler, bs, drop_last)
        assert list(f) == list(t) and len(f) == len(t)
    ds = fud.TensorDataset(fastnn.arange(n))
    got = [b[0].tolist() for b in fud.DataLoader(ds, bs, drop_last=drop_last)]
    assert got == list(tud.BatchSampler(range(n), bs, drop_last))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 12), m=st.integers(1, 40), seed=st.integers(0, 2 ** 32), replacement=st.booleans())
def test_random_sampler_algorithm(n, m, seed, replacement):
    """torch's algorithm on fastnn's stream: whole permutations then a head (or m uniform draws)."""
    s = fud.RandomSampler(range(n), replacement=replacement, num_samples=m,
                          generator=fastnn.Generator().manual_seed(seed))
    got, rng = list(s), np.random.default_rng(seed)
    assert len(s) == len(got) == m == len(tud.RandomSampler(range(n), replacement, m))
    if replacement:
        assert got == rng.integers(0, n, size=m).tolist()
    else:
        perms = [rng.permutation(n).tolist() for _ in range(-(-m // n))]
        assert got == sum(perms, [])[:m]
        for k in range(m // n):
            assert sorted(got[k * n:(k + 1) * n]) == list(range(n))


def test_shuffle_draws_from_generator_and_global_seed():
    ds = fud.TensorDataset(fastnn.arange(10))
    order = [b[0].item() for b in fud.DataLoader(ds, shuffle=True, generator=fastnn.Generator().manual_seed(5))]
    assert order == np.random.default_rng(5).permutation(10).tolist()
    fastnn.manual_seed(9)
    a = [b[0].item() for b in fud.DataLoader(ds, shuffle=True)]
    fastnn.manual_seed(9)
    assert a == [b[0].item() for b in fud.DataLoader(ds, shuffle=True)] and sorted(a) == list(range(10))


class Count(tud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


class FastCount(fud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter({"v": i, "sq": np.array([i * i])} for i in range(self.n))


class TorchDictCount(tud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter({"v": i, "sq": np.array([i * i])} for i in range(self.n))


@pytest.mark.parametrize("kw", [dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=None)])
def test_iterable_dataset_matches_torch(kw):
    same([plain(b) for b in fud.DataLoader(FastCount(7), **kw)],
         [plain(b) for b in tud.DataLoader(TorchDictCount(7), **kw)])
    with pytest.raises(TypeError):
        len(fud.DataLoader(FastCount(7), **kw))
    chained = fud.ChainDataset([FastCount(2), FastCount(3)])
    assert [b["v"].tolist() for b in fud.DataLoader(chained, batch_size=2)] == [[0, 1], [0, 1], [2]]


def test_concat_subset_random_split_match_torch():
    a, b = list(range(3)), list(range(10, 15))
    fc, tc = fud.ConcatDataset([a, b]), tud.ConcatDataset([a, b])
    assert len(fc) == len(tc) and [fc[i] for i in range(-8, 8)] == [tc[i] for i in range(-8, 8)]
    assert fc.cumulative_sizes == tc.cumulative_sizes
    assert [fud.Subset(b, [4, 0])[i] for i in range(2)] == [tud.Subset(b, [4, 0])[i] for i in range(2)]
    for lengths in ([0.33, 0.33, 0.34], [0.5, 0.5], [3, 5], [0.25, 0.75]):
        f = fud.random_split(list(range(8)), lengths, generator=fastnn.Generator().manual_seed(1))
        t = tud.random_split(list(range(8)), lengths, generator=torch.Generator().manual_seed(1))
        assert [len(s) for s in f] == [len(s) for s in t]
        assert sorted(x for s in f for x in s) == list(range(8))
    f = fud.random_split(list(range(8)), [3, 5], generator=fastnn.Generator().manual_seed(1))
    perm = np.random.default_rng(1).permutation(8).tolist()
    assert [list(s) for s in f] == [perm[:3], perm[3:]]
    cat = FastNested(2) + FastNested(3)
    assert isinstance(cat, fud.ConcatDataset) and len(cat) == 5


def errors(make):
    out = []
    for L in (tud, fud):
        with pytest.raises(Exception) as e:
            make(L)
        out.append((type(e.value), str(e.value)))
    return out


@pytest.mark.parametrize("make", [
    lambda L: L.RandomSampler(range(5), replacement=1),
    lambda L: L.RandomSampler(range(5), num_samples=0),
    lambda L: L.RandomSampler([]),
    lambda L: L.BatchSampler(range(3), 0, False),
    lambda L: L.BatchSampler(range(3), 2, "x"),
    lambda L: L.DataLoader(range(3), shuffle=True, sampler=[0]),
    lambda L: L.DataLoader(range(3), batch_sampler=[[0]], batch_size=2),
    lambda L: L.DataLoader(range(3), batch_size=None, drop_last=True),
    lambda L: L.DataLoader(range(3), num_workers=-1),
    lambda L: L.DataLoader(range(3), prefetch_factor=2),
    lambda L: L.DataLoader(range(3), persistent_workers=True),
    lambda L: L.DataLoader(range(3), timeout=-1),
    lambda L: L.DataLoader(range(3), batch_size=0),
    lambda L: L.DataLoader((Count if L is tud else FastCount)(3), shuffle=True),
    lambda L: L.DataLoader((Count if L is tud else FastCount)(3), sampler=[0]),
    lambda L: L.ConcatDataset([range(2)])[-5],
    lambda L: L.random_split(range(5), [1.2, -0.2]),
    lambda L: L.ConcatDataset([]),
])
def test_errors_match_torch(make):
    (tt, tm), (ft, fm) = errors(make)
    assert ft is tt and fm == tm


def test_accepted_loader_options():
    ds = fud.TensorDataset(fastnn.arange(6))
    seen = []
    loader = fud.DataLoader(ds, batch_size=4, num_workers=2, pin_memory=True, worker_init_fn=seen.append,
                            prefetch_factor=2, persistent_workers=True, timeout=0)
    assert [b[0].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5]] and seen == [0]
    g = fastnn.Generator()
    assert g.manual_seed(3) is g and g.initial_seed() == 3 and g.device == fastnn.device("cpu")
    a = list(fud.RandomSampler(range(9), generator=g))
    g.set_state(fastnn.Generator().manual_seed(3).get_state())
    assert list(fud.RandomSampler(range(9), generator=g)) == a
