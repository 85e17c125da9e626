"""torchvision.datasets.MNIST / FashionMNIST over `<root>/<Name>/raw/*-ubyte` (no download)."""
import os

import numpy as np
import torch


def _read_idx(path):
    raw = np.fromfile(path, dtype=np.uint8)
    ndim = int(raw[3])
    dims = raw[4:4 + 4 * ndim].view(">u4").astype(np.int64)
    return raw[4 + 4 * ndim:].reshape(dims)


class MNIST:
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        raw = os.path.join(os.path.expanduser(root), type(self).__name__, "raw")
        prefix = "train" if train else "t10k"
        self.data = torch.from_numpy(_read_idx(os.path.join(raw, f"{prefix}-images-idx3-ubyte")).copy())
        self.targets = torch.from_numpy(
            _read_idx(os.path.join(raw, f"{prefix}-labels-idx1-ubyte")).astype(np.int64))
        self.train, self.transform, self.target_transform = train, transform, target_transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        img, target = self.data[index].numpy(), int(self.targets[index])   # torchvision: a PIL image
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target


class FashionMNIST(MNIST):
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
