"""CIFAR-10 from the official binary version (cifar-10-binary.tar.gz: data_batch_1..5.bin and
test_batch.bin, each record one label byte then 3072 pixel bytes, the red, green and blue 32x32 planes).

Files are refused, naming the file, unless each holds exactly 10000 whole records with labels 0..9.
download=True fetches the archive from the official source into `root`, checks its pinned MD5 (the
checksum the CIFAR page publishes), extracts only the six expected members (no other path is ever
written) into a temporary folder, and renames it into place: a partial download or extraction never
sits under the final name. Nothing is unpickled: the binary version is plain bytes.
"""
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request

import numpy as np

from ...data.dataset import Dataset

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
FOLDER = "cifar-10-batches-bin"
TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]
TEST = ["test_batch.bin"]
RECORD, PER_FILE = 1 + 3 * 32 * 32, 10000


class CIFARError(RuntimeError):
    """A CIFAR-10 file is missing, truncated or corrupt, or the archive failed its checksum."""


def read_batch(path):
    """(images (10000, 32, 32, 3) uint8 HWC, labels (10000,) int64) from one binary batch file."""
    size = os.path.getsize(path)
    if size != RECORD * PER_FILE:
        raise CIFARError(f"{path}: expected {PER_FILE} records of {RECORD} bytes ({RECORD * PER_FILE} bytes), "
                         f"found {size} bytes (truncated or not a CIFAR-10 binary batch)")
    raw = np.fromfile(path, dtype=np.uint8).reshape(PER_FILE, RECORD)
    labels = raw[:, 0].astype(np.int64)
    if labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise CIFARError(f"{path}: record {bad} has label {labels[bad]}, outside 0..9 (corrupt file)")
    images = raw[:, 1:].reshape(PER_FILE, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_and_extract(root, url=None, md5=None):
    """Fetch the archive (default: the official URL, MD5 pinned) into root, verify it, extract the six
    batch files into root/FOLDER atomically."""
    url, md5 = url or URL, md5 or MD5
    os.makedirs(root, exist_ok=True)
    fd, archive = tempfile.mkstemp(prefix=".cifar-10.", suffix=".tar.gz.part", dir=root)
    os.close(fd)
    staging = tempfile.mkdtemp(prefix=".cifar-10.", dir=root)
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(archive, "wb") as f:
            shutil.copyfileobj(r, f)
        found = _md5(archive)
        if found != md5:
            raise CIFARError(f"{url}: MD5 mismatch: expected {md5}, found {found} (corrupt or wrong archive)")
        with tarfile.open(archive, "r:gz") as tar:
            for name in TRAIN + TEST:
                try:
                    member = tar.getmember(f"{FOLDER}/{name}")
                except KeyError:
                    raise CIFARError(f"{url}: the archive has no {FOLDER}/{name}") from None
                if not member.isfile():
                    raise CIFARError(f"{url}: {FOLDER}/{name} is not a regular file")
                with tar.extractfile(member) as src, open(os.path.join(staging, name), "wb") as dst:
                    shutil.copyfileobj(src, dst)
                read_batch(os.path.join(staging, name))          # verify before it goes live
        final = os.path.join(root, FOLDER)
        if os.path.isdir(final):
            shutil.rmtree(final)
        os.replace(staging, final)
    finally:
        if os.path.exists(archive):
            os.remove(archive)
        if os.path.isdir(staging):
            shutil.rmtree(staging)


class CIFAR10(Dataset):
    """torchvision.datasets.CIFAR10's constructor; `data` (N, 32, 32, 3) uint8, `targets` list of int."""

    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        self.root, self.train = os.path.expanduser(str(root)), bool(train)
        self.transform, self.target_transform = transform, target_transform
        folder = os.path.join(self.root, FOLDER)
        names = TRAIN if self.train else TEST
        if download and not all(os.path.isfile(os.path.join(folder, n)) for n in names):
            download_and_extract(self.root)
        missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
        if missing:
            raise CIFARError(f"CIFAR-10 not found: {os.path.join(folder, missing[0])} is missing. "
                             "You can use download=True to download it")
        parts = [read_batch(os.path.join(folder, n)) for n in names]
        self.data = np.concatenate([p[0] for p in parts])
        self.targets = np.concatenate([p[1] for p in parts]).tolist()
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        img, target = self.data[index], self.targets[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self):
        return (f"Dataset CIFAR10\n    Number of datapoints: {len(self)}\n    Root location: {self.root}\n"
                f"    Split: {'Train' if self.train else 'Test'}")
