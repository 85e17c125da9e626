"""Resident training data for `fastnn train`: whole splits as float32 (N,784) (MLPs) or (N,C,H,W) (CNNs) +
int64 labels, plus a synthetic set. CIFAR-10 comes from fastnn.vision.datasets.CIFAR10 (its images are
(N,32,32,3) and become (N,3,32,32)).

Input recipe: x = image / 255 in [0, 1]; with --normalize, x = (image/255 - 0.5) / 0.5 in [-1, 1]
(torchvision's Normalize((0.5,), (0.5,)), as the PyTorch/JAX peers in bench/compare.py do); with
--normalize MEAN,STD, x = (image/255 - MEAN) / STD (pytorch/examples' MNIST: 0.1307,0.3081).
"""
import os

import numpy as np

DATASETS = ("mnist", "fashion-mnist", "cifar10", "synthetic")
NORMALIZE_DEFAULT = (0.5, 0.5)   # --normalize without values: (mean, std) of Normalize((0.5,), (0.5,))


def normalization(normalize):
    """(mean, std) of a --normalize setting (False/None: none, True: NORMALIZE_DEFAULT, or a pair)."""
    if normalize is None or normalize is False:
        return None
    mean, std = NORMALIZE_DEFAULT if normalize is True else (float(v) for v in normalize)
    if not std > 0:
        raise ValueError(f"--normalize needs a positive std, got MEAN,STD = {mean:g},{std:g}")
    return mean, std


def to_features(images, normalize, flat=True):
    """uint8 (N,28,28) -> float32 (N,784) by the recipe above (normalize: see normalization()); flat=False:
    (N,C,H,W) ((N,H,W) get C=1, (N,H,W,3) colour images are moved channels-first)."""
    mean_std = normalization(normalize)
    if flat:
        shaped = images.reshape(images.shape[0], -1)
    elif images.ndim == 3:
        shaped = images[:, None]
    else:
        shaped = images.transpose(0, 3, 1, 2)
    x = np.ascontiguousarray(shaped, dtype=np.float32)  # one float32 buffer, then in place (the same
    np.multiply(x, np.float32(1.0 / 255.0), out=x)       # float32 operations as (x*s - .5)/.5: equal
    if mean_std is not None:                             # bits, a third of the time on 60k images)
        np.subtract(x, np.float32(mean_std[0]), out=x)
        np.divide(x, np.float32(mean_std[1]), out=x)
    return x


def synthetic_images(n, seed):
    """n uint8 28x28 images of 10 classes (fixed class templates + noise) and int64 labels: learnable
    in a few steps, generated in milliseconds, so CLI tests need no download."""
    templates = np.random.default_rng(12345).integers(0, 256, size=(10, 28, 28)).astype(np.float32)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n).astype(np.int64)
    noise = rng.normal(0.0, 60.0, size=(n, 28, 28)).astype(np.float32)
    x = np.clip(templates[y] + noise, 0, 255).astype(np.uint8)
    return x, y


def load_split(name, train, data_dir=None, synthetic_size=(512, 256)):
    """(images uint8 (N,28,28), labels int64 (N,)) of a dataset split."""
    if name == "synthetic":
        n = synthetic_size[0] if train else synthetic_size[1]
        return synthetic_images(n, seed=1 if train else 2)
    from .. import data

    if name == "cifar10":
        from ..vision.datasets import CIFAR10

        ds = CIFAR10(root=data_dir or os.path.join(data.fetch.cache_dir(), "cifar10"), train=train, download=True)
        return ds.data, np.asarray(ds.targets, dtype=np.int64)
    cls = {"mnist": data.MNIST, "fashion-mnist": data.FashionMNIST}.get(name)
    if cls is None:
        raise ValueError(f"unknown dataset '{name}' (choose from: mnist, fashion-mnist, cifar10)")
    ds = cls(root=data_dir, train=train, download=True)
    return ds.data, ds.targets.astype(np.int64)


def load_data(name, data_dir=None, normalize=False, train_subset=None, test_subset=None,
              synthetic_size=(512, 256), flat=True):
    """(x_train, y_train, x_test, y_test) as float32 features ((N,C,H,W) images when not flat) and int64
    labels; the *_subset options keep the first N samples (quick runs)."""
    xtr, ytr = load_split(name, True, data_dir, synthetic_size)
    xte, yte = load_split(name, False, data_dir, synthetic_size)
    if train_subset:
        xtr, ytr = xtr[:train_subset], ytr[:train_subset]
    if test_subset:
        xte, yte = xte[:test_subset], yte[:test_subset]
    return (to_features(xtr, normalize, flat), np.ascontiguousarray(ytr, dtype=np.int64),
            to_features(xte, normalize, flat), np.ascontiguousarray(yte, dtype=np.int64))
