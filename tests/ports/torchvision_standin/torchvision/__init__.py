"""A stand-in for the few torchvision names the port programs use, for the torch side of their runs
when torchvision is not installed (the project installs torch only). It follows torchvision's
documented behaviour and reads the raw IDX files of the root layout `<root>/MNIST/raw/` with NumPy.
The fastnn side never sees it: the runner puts it on PYTHONPATH for torch runs only, and only when
`import torchvision` fails."""
from . import datasets, transforms

__all__ = ["datasets", "transforms"]
