"""fastnn.vision.datasets (torchvision.datasets' place)."""
from .cifar import CIFAR10

__all__ = ["CIFAR10"]
