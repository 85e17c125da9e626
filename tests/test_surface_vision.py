"""fastnn.vision standing for torchvision: transforms' values against closed forms and torch ops
(torchvision's ToTensor is from_numpy(x).float().div(255) with HWC -> CHW), Tensor in / Tensor out per
sample, the batch path equal to the per-sample path; datasets.MNIST/FashionMNIST with torchvision's
constructor and <root>/<Name>/raw layout, over fake pinned IDX files served by a fake source (no network)."""
import hashlib
import inspect
import os

import numpy as np
import pytest
torch = pytest.importorskip("torch", reason="torch==2.13.0 is the oracle of these tests")

import fastnn
import fastnn.data as fdata
import fastnn.data.fetch as F
from fastnn.data.idx import idx_bytes
from fastnn.utils.data import DataLoader
from fastnn.vision import datasets, transforms

RNG = np.random.default_rng(0)
IMG = RNG.integers(0, 256, (28, 28), dtype=np.uint8)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def test_to_tensor_as_torchvision():
    for img in (IMG, RGB):
        t = transforms.ToTensor()(img)
        ref = torch.from_numpy(img if img.ndim == 3 else img[:, :, None]).permute(2, 0, 1).float().div(255)
        assert isinstance(t, fastnn.Tensor) and t.dtype == fastnn.float32 and tuple(t.shape) == tuple(ref.shape)
        np.testing.assert_array_equal(t.numpy(), ref.numpy())
    assert tuple(transforms.PILToTensor()(RGB).shape) == (3, 5, 7)
    np.testing.assert_array_equal(transforms.PILToTensor()(RGB).numpy(), RGB.transpose(2, 0, 1))
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray. Got <class 'fastnn.Tensor'>"):
        transforms.ToTensor()(fastnn.ones(2, 2))


def test_tensor_transforms_take_and_give_tensors():
    x = transforms.ToTensor()(RGB)
    n = transforms.Normalize((0.5, 0.25, 0.1), (0.5, 0.2, 0.3))(x)
    ref = (torch.from_numpy(x.numpy()) - torch.tensor([0.5, 0.25, 0.1])[:, None, None]) \
        / torch.tensor([0.5, 0.2, 0.3])[:, None, None]
    assert isinstance(n, fastnn.Tensor)
    np.testing.assert_allclose(n.numpy(), ref.numpy(), rtol=4 * np.finfo(np.float32).eps, atol=1e-6)
    flipped = transforms.RandomHorizontalFlip(p=1.0)(x)
    np.testing.assert_array_equal(flipped.numpy(), x.numpy()[:, :, ::-1])
    assert transforms.RandomHorizontalFlip(p=0.0)(x).numpy().tolist() == x.numpy().tolist()
    np.testing.assert_array_equal(transforms.RandomVerticalFlip(p=1.0)(x).numpy(), x.numpy()[:, ::-1])
    c = transforms.CenterCrop(3)(x)                      # torchvision: top = round((5-3)/2), left = round((7-3)/2)
    np.testing.assert_array_equal(c.numpy(), x.numpy()[:, 1:4, 2:5])
    np.testing.assert_array_equal(transforms.CenterCrop((2, 4))(RGB), RGB[2:4, 2:6])   # image: (H, W, C)


def test_random_crop_windows_and_seed():
    x = transforms.ToTensor()(IMG)
    fastnn.manual_seed(3)
    a = transforms.RandomCrop(28, padding=4)(x)
    fastnn.manual_seed(3)
    b = transforms.RandomCrop(28, padding=4)(x)
    assert isinstance(a, fastnn.Tensor) and tuple(a.shape) == (1, 28, 28)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    padded = np.pad(x.numpy(), ((0, 0), (4, 4), (4, 4)))
    windows = [padded[:, i:i + 28, j:j + 28] for i in range(9) for j in range(9)]
    assert any(np.array_equal(a.numpy(), w) for w in windows)


def test_compose_batch_path_equals_per_sample_path():
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,)),
                             transforms.Lambda(lambda t: t.view(-1)), lambda t: t * 2])
    imgs = RNG.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    one = [tf(im) for im in imgs]
    assert all(isinstance(o, fastnn.Tensor) and tuple(o.shape) == (784,) for o in one)
    batch = tf.batch(imgs)
    np.testing.assert_array_equal(batch, np.stack([o.numpy() for o in one]))
    exact = ((imgs[0].astype(np.float64) / 255 - 0.1307) / 0.3081 * 2).reshape(-1)
    np.testing.assert_allclose(one[0].numpy(), exact, rtol=1e-5, atol=1e-5)


# ---- datasets ---------------------------------------------------------------------------------------
def split(seed, n):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


DATA = {True: split(0, 9), False: split(1, 4)}
NAMES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
BLOBS = {n: idx_bytes(a) for s in (True, False) for n, a in zip(NAMES[s], DATA[s])}


class FakeSource:
    def __init__(self):
        self.dest = []

    def describe(self):
        return "fake source"

    def fetch(self, resources, dest_dir):
        self.dest.append(dest_dir)
        out = {}
        for r in resources:
            p = F.temp_path(dest_dir, r.name)
            with open(p, "wb") as f:
                f.write(BLOBS[r.name])
            out[r.name] = p
        return out


def pinned(base, source):
    """`base` (vision MNIST or FashionMNIST) with the fake files pinned: same class name, so same folder."""
    res = {s: tuple(F.Resource(n, len(BLOBS[n]), hashlib.sha256(BLOBS[n]).hexdigest()) for n in NAMES[s])
           for s in (True, False)}
    return type(base.__name__, (base,), dict(resources=res, mirrors=(), npm_package=None, system_dirs=(),
                                             sources=classmethod(lambda cls: [source])))


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    return tmp_path


def test_constructor_signature_is_torchvisions():
    for cls in (datasets.MNIST, datasets.FashionMNIST):
        sig = inspect.signature(cls)
        assert [(p.name, p.default) for p in sig.parameters.values()] == [
            ("root", inspect.Parameter.empty), ("train", True), ("transform", None), ("target_transform", None),
            ("download", False)]


@pytest.mark.parametrize("base", [datasets.MNIST, datasets.FashionMNIST])
def test_mnist_layout_data_and_items(env, base):
    src = FakeSource()
    cls = pinned(base, src)
    root = env / "data"
    with pytest.raises(RuntimeError, match="Use download=True"):
        cls(root)                                            # download=False by default, as torchvision
    ds = cls(str(root), train=True, download=True)
    raw = root / base.__name__ / "raw"
    assert src.dest == [str(raw)] and sorted(os.listdir(raw)) == sorted(NAMES[True] + NAMES[False])
    again = cls(root, train=False)                          # found in <root>/<Name>/raw, nothing fetched
    assert len(src.dest) == 1 and len(again) == 4
    x, y = DATA[True]
    assert len(ds) == 9 and isinstance(ds.data, fastnn.Tensor) and isinstance(ds.targets, fastnn.Tensor)
    assert ds.data.dtype == fastnn.uint8 and tuple(ds.data.shape) == (9, 28, 28) and ds.targets.dtype == fastnn.int64
    np.testing.assert_array_equal(ds.data.numpy(), x)
    np.testing.assert_array_equal(ds.targets.numpy(), y)
    img, label = ds[3]
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and type(label) is int and label == y[3]
    assert ds.classes == base.classes and len(ds.classes) == 10 and ds.class_to_idx[ds.classes[2]] == 2
    t = cls(root, transform=transforms.ToTensor(), target_transform=lambda v: v + 100)
    timg, tlabel = t[3]
    assert isinstance(timg, fastnn.Tensor) and tuple(timg.shape) == (1, 28, 28) and tlabel == y[3] + 100
    np.testing.assert_array_equal(timg.numpy()[0], x[3] / np.float32(255))
    xb, yb = next(iter(DataLoader(t, batch_size=4)))
    assert tuple(xb.shape) == (4, 1, 28, 28) and yb.tolist() == (y[:4] + 100).tolist()


def test_fastnn_data_keeps_arrays():
    ds = fdata.MNIST.__new__(fdata.MNIST)
    ds.data, ds.targets = DATA[True][0], DATA[True][1].astype(np.int64)
    assert isinstance(ds.data, np.ndarray) and isinstance(ds.targets, np.ndarray) and len(ds) == 9
    assert datasets.CIFAR10 is not None and fdata.MNIST is not datasets.MNIST
