"""CIFAR-10's binary-version reader on files written here in that format (no package ships CIFAR-10):
decoding, truncated/corrupt files refused naming the file, download through a file:// URL with the
MD5 pinned and atomic extraction; RandomCrop and RandomHorizontalFlip against closed forms, seeded."""
import hashlib
import io
import os
import tarfile

import numpy as np
import pytest

import fastnn
from fastnn.data import transforms as T
from fastnn.vision.datasets import CIFAR10, cifar


def _records(n, seed):
    """n records: label byte + R, G, B planes; returns (bytes, images HWC, labels)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    planes = rng.integers(0, 256, (n, 3, 32, 32)).astype(np.uint8)
    raw = np.concatenate([labels[:, None], planes.reshape(n, -1)], axis=1).tobytes()
    return raw, planes.transpose(0, 2, 3, 1), labels


def _write_cifar(folder, names=cifar.TRAIN + cifar.TEST):
    os.makedirs(folder, exist_ok=True)
    truth = {}
    for k, name in enumerate(names):
        raw, imgs, labels = _records(cifar.PER_FILE, k)
        with open(os.path.join(folder, name), "wb") as f:
            f.write(raw)
        truth[name] = (imgs, labels)
    return truth


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    return str(root), _write_cifar(os.path.join(root, cifar.FOLDER))


def test_reads_train_and_test_splits(cifar_root):
    root, truth = cifar_root
    tr, te = CIFAR10(root, train=True), CIFAR10(root, train=False)
    assert len(tr) == 50000 and len(te) == 10000
    assert tr.data.shape == (50000, 32, 32, 3) and tr.data.dtype == np.uint8
    np.testing.assert_array_equal(tr.data[10000:20000], truth["data_batch_2.bin"][0])
    np.testing.assert_array_equal(np.array(te.targets), truth["test_batch.bin"][1])
    img, y = te[7]
    np.testing.assert_array_equal(img[:, :, 0], truth["test_batch.bin"][0][7][:, :, 0])   # the red plane
    assert y == truth["test_batch.bin"][1][7]
    x, _ = CIFAR10(root, train=False, transform=T.ToTensor())[0]
    assert x.shape == (3, 32, 32) and x.dtype == np.float32 and x.max() <= 1.0


def test_truncated_and_corrupt_files_are_refused_naming_the_file(tmp_path):
    folder = tmp_path / cifar.FOLDER
    _write_cifar(str(folder), cifar.TEST)
    path = folder / "test_batch.bin"
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    with pytest.raises(cifar.CIFARError, match=r"test_batch.bin: expected 10000 records .* found 30729995 bytes"):
        CIFAR10(str(tmp_path), train=False)
    bad = bytearray(data)
    bad[3073 * 42] = 10                                  # record 42's label byte
    path.write_bytes(bytes(bad))
    with pytest.raises(cifar.CIFARError, match="test_batch.bin: record 42 has label 10"):
        CIFAR10(str(tmp_path), train=False)
    with pytest.raises(cifar.CIFARError, match="data_batch_1.bin is missing. You can use download=True"):
        CIFAR10(str(tmp_path), train=True)


def _archive(tmp_path, extra=None):
    src = tmp_path / "src" / cifar.FOLDER
    truth = _write_cifar(str(src))
    tgz = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(src, arcname=cifar.FOLDER)
        if extra:
            info = tarfile.TarInfo(extra)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    return tgz, hashlib.md5(tgz.read_bytes()).hexdigest(), truth


def test_download_verifies_md5_and_extracts_atomically(tmp_path, monkeypatch):
    tgz, md5, truth = _archive(tmp_path, extra="../escape.txt")
    root = tmp_path / "root"
    monkeypatch.setattr(cifar, "URL", tgz.as_uri())
    with pytest.raises(cifar.CIFARError, match="MD5 mismatch"):
        cifar.download_and_extract(str(root), url=tgz.as_uri(), md5="0" * 32)
    assert sorted(os.listdir(root)) == []                # nothing half-written is left behind
    cifar.download_and_extract(str(root), url=tgz.as_uri(), md5=md5)
    assert sorted(os.listdir(root / cifar.FOLDER)) == sorted(cifar.TRAIN + cifar.TEST)
    assert not (tmp_path / "escape.txt").exists()        # only the six expected members are written
    monkeypatch.setattr(cifar, "MD5", md5)
    ds = CIFAR10(str(tmp_path / "root2"), train=False, download=True)
    np.testing.assert_array_equal(ds.data, truth["test_batch.bin"][0])


def test_random_crop_and_flip_closed_forms():
    img = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)          # HWC before ToTensor
    fastnn.manual_seed(0)
    crops = [T.RandomCrop(4, padding=1)(img) for _ in range(200)]
    padded = np.pad(img, ((1, 1), (1, 1), (0, 0)))
    windows = {(i, j): padded[i:i + 4, j:j + 4] for i in range(4) for j in range(5)}
    seen = set()
    for c in crops:
        hits = [k for k, w in windows.items() if np.array_equal(w, c)]
        assert hits, "every crop is a window of the padded image"
        seen.update(hits)
    assert len(seen) == 20                                # every offset is drawn
    chw = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)       # CHW after ToTensor
    flips = [T.RandomHorizontalFlip()(chw) for _ in range(100)]
    n_flipped = sum(np.array_equal(f, chw[:, :, ::-1]) for f in flips)
    assert all(np.array_equal(f, chw) or np.array_equal(f, chw[:, :, ::-1]) for f in flips)
    assert 25 < n_flipped < 75
    fastnn.manual_seed(3)
    a = [T.RandomCrop(3)(chw[:, :, :3]).tolist() for _ in range(5)]
    fastnn.manual_seed(3)
    assert a == [T.RandomCrop(3)(chw[:, :, :3]).tolist() for _ in range(5)]   # seeded by fastnn.manual_seed
    with pytest.raises(ValueError, match=r"Required crop size \(7, 7\) is larger than input image size"):
        T.RandomCrop(7)(img)
