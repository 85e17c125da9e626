"""fastnn.vision stands for torchvision: `from fastnn.vision import datasets, models, transforms`."""
from . import datasets, models, transforms

__all__ = ["datasets", "models", "transforms"]
