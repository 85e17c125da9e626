"""torchvision.datasets.MNIST and FashionMNIST: torchvision's constructor (root, train=True,
transform=None, target_transform=None, download=False) and root layout (<root>/MNIST/raw/<file>, raw
or .gz), over fastnn.data's verified loading (SHA-256-pinned files, cache lookup, atomic download).
`data` (N, 28, 28) uint8 and `targets` (N,) int64 are Tensors, as torchvision's; `dataset[i]` gives
(image, int label) where the image is a uint8 (28, 28) array (what torchvision hands its transforms as
a PIL image; `transforms.ToTensor()` turns it into a (1, 28, 28) float Tensor in [0, 1])."""
import os

from ...data import mnist


class _TorchvisionLayout:
    """torchvision's signature and <root>/<Name>/raw download folder; Tensor views of data and targets."""

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        if root is None:
            raise TypeError(f"{type(self).__name__}.__init__() missing 1 required positional argument: 'root'")
        super().__init__(root=root, train=train, download=download, transform=transform,
                         target_transform=target_transform)

    def download_dir(self):
        return os.path.join(os.path.expanduser(os.fspath(self.root)), self.folder(), "raw")

    @property
    def raw_folder(self):
        return self.download_dir()

    @property
    def data(self):
        from ...creation import from_numpy

        return from_numpy(self._images)

    @data.setter
    def data(self, value):
        mnist.MNIST.data.fset(self, value)

    @property
    def targets(self):
        from ...creation import from_numpy

        return from_numpy(self._labels)

    @targets.setter
    def targets(self, value):
        mnist.MNIST.targets.fset(self, value)


class MNIST(_TorchvisionLayout, mnist.MNIST):
    pass


class FashionMNIST(_TorchvisionLayout, mnist.FashionMNIST):
    pass
