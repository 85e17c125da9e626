"""fastnn.vision stands for torchvision: `from fastnn.vision import datasets, models, transforms`."""
from . import models

__all__ = ["models"]
