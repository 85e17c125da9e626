"""fastnn.vision.datasets (torchvision.datasets' place): MNIST, FashionMNIST, CIFAR10."""
from .cifar import CIFAR10
from .mnist import MNIST, FashionMNIST

__all__ = ["CIFAR10", "MNIST", "FashionMNIST"]
