"""`fastnn train --model lenet5|mnist-net|resnet18`: CNNs train on (N, C, H, W) images (eager path, with
the reason printed), learn on synthetic data, resume exactly, and read CIFAR-10 files of the official
format (written here) as (N, 3, 32, 32)."""
import os

import numpy as np
import pytest

from fastnn.train import TrainConfig, load_checkpoint, run
from fastnn.train.data import to_features
from fastnn.vision.datasets import cifar

QUIET = dict(dataset="synthetic", synthetic_size=(192, 64), quiet=True, batch_size=32)


def _silent(**kw):
    lines = []
    res = run(TrainConfig(**kw), log=lines.append)
    return res, lines


@pytest.mark.parametrize("path", ["auto", "eager"])
def test_lenet5_learns_synthetic_digits_and_says_which_path(tmp_path, path):
    res, lines = _silent(model="lenet5", epochs=5, out=str(tmp_path), lr=3e-3, normalize=True, path=path,
                         **dict(QUIET, synthetic_size=(512, 128)))
    if path == "auto":   # the fused CNN (fastnn/fused_cnn.py); --path eager keeps autograd
        assert res["path"] == "fused" and "FusedCNN" in res["reason"]
    else:
        assert res["path"] == "eager" and "--path eager" in res["reason"]
    h = res["history"]
    assert h[-1]["train_loss"] < h[0]["train_loss"] and h[-1]["test_acc"] > 0.5   # 10 classes: chance is 0.1
    tensors, _ = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert tensors["0.weight"].shape == (6, 1, 5, 5) and tensors["7.weight"].shape == (120, 400)


def test_cnn_resume_matches_uninterrupted(tmp_path):
    kw = dict(model="lenet5", optimizer="sgd", momentum=0.9, lr=0.02, **QUIET)
    _silent(epochs=2, out=str(tmp_path / "full"), **kw)
    _silent(epochs=1, out=str(tmp_path / "part"), **kw)
    _silent(epochs=2, resume=str(tmp_path / "part" / "checkpoint.safetensors"), **kw)
    a, _ = load_checkpoint(tmp_path / "full" / "checkpoint.safetensors")
    b, _ = load_checkpoint(tmp_path / "part" / "checkpoint.safetensors")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_images_keep_their_shape_for_cnns():
    gray = (np.arange(2 * 28 * 28) % 256).astype(np.uint8).reshape(2, 28, 28)
    x = to_features(gray, normalize=True, flat=False)
    assert x.shape == (2, 1, 28, 28)
    np.testing.assert_allclose(x[1, 0], (gray[1] / 255.0 - 0.5) / 0.5, rtol=0, atol=4e-7)   # float32 rounding
    rgb = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3)).astype(np.uint8)
    x = to_features(rgb, normalize=False, flat=False)
    assert x.shape == (3, 3, 32, 32)
    np.testing.assert_allclose(x[2, 1], rgb[2, :, :, 1] / 255.0, rtol=1e-6)        # the green plane


def test_resnet18_trains_on_cifar10_files(tmp_path):
    folder = tmp_path / cifar.FOLDER
    os.makedirs(folder)
    rng = np.random.default_rng(0)
    for name in cifar.TRAIN + cifar.TEST:
        rec = rng.integers(0, 256, (cifar.PER_FILE, cifar.RECORD)).astype(np.uint8)
        rec[:, 0] %= 10
        rec.tofile(folder / name)
    res, _ = _silent(model="resnet18", dataset="cifar10", data_dir=str(tmp_path), epochs=1, train_subset=16,
                     test_subset=8, batch_size=8, quiet=True, out=str(tmp_path / "run"))
    tensors, _ = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert tensors["conv1.weight"].shape == (64, 3, 7, 7) and tensors["fc.weight"].shape == (10, 512)
    assert np.isfinite(res["history"][0]["train_loss"])


def test_mlp_only_models_refuse_colour_images(tmp_path):
    with pytest.raises(ValueError, match="takes 1-channel 28x28 images"):
        from fastnn.train.models import build_model
        build_model("lenet5", in_channels=3)
