"""torchvision.transforms' names over fastnn.data.transforms (the one implementation, on NumPy arrays).

Per sample they behave as torchvision's: ToTensor / PILToTensor take an image as a uint8 (H, W) or
(H, W, C) array (torchvision's PIL image; PIL itself is not used) and return a fastnn Tensor; the tensor
transforms (Normalize, RandomCrop, CenterCrop, RandomHorizontalFlip, RandomVerticalFlip) take and return
Tensors; Lambda and plain callables in Compose receive Tensors after ToTensor. The `.batch` methods, which
fastnn's DataLoader calls on a whole MNIST batch at once, stay on NumPy arrays. Not provided: Resize
(torchvision resizes PIL images with PIL's antialiased filters), ToPILImage, colour jitter.
"""
import numpy as np

from ..data import transforms as T
from ..data.dataset import as_array


def _tensor(a):
    from ..creation import from_numpy

    return from_numpy(np.ascontiguousarray(a))


def _is_tensor(x):
    from ..tensor import Tensor

    return isinstance(x, Tensor)


class _TensorInOut:
    """A Tensor in gives a Tensor out; the NumPy transform runs on its array."""

    def __call__(self, x):
        out = super().__call__(as_array(x))
        return _tensor(out) if _is_tensor(x) else out


class ToTensor(T.ToTensor):
    """uint8 (H, W) / (H, W, C) image -> float32 Tensor (C, H, W) in [0, 1]; other dtypes keep their values."""

    def __call__(self, pic):
        if _is_tensor(pic) or not isinstance(pic, np.ndarray):
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
        return _tensor(super().__call__(pic))


class PILToTensor(T.Transform):
    """uint8 (H, W) / (H, W, C) image -> uint8 Tensor (C, H, W), values unchanged."""

    def __call__(self, pic):
        return _tensor(self.batch(np.asarray(pic)[None])[0])

    def batch(self, xb):
        xb = np.asarray(xb)
        return xb[:, None] if xb.ndim == 3 else np.ascontiguousarray(xb.transpose(0, 3, 1, 2))


class Normalize(_TensorInOut, T.Normalize):
    pass


class RandomCrop(_TensorInOut, T.RandomCrop):
    pass


class RandomHorizontalFlip(_TensorInOut, T.RandomHorizontalFlip):
    pass


class RandomVerticalFlip(_TensorInOut, T.RandomVerticalFlip):
    pass


class CenterCrop(_TensorInOut, T.CenterCrop):
    pass


Lambda = T.Lambda


class Compose(T.Compose):
    """Chain. In the batch path, Lambdas and plain callables after ToTensor run per sample on Tensors
    (what the per-sample path hands them); before it, on the image arrays."""

    def batch(self, xb):
        as_tensors = False
        for t in self.transforms:
            as_tensors = as_tensors or isinstance(t, (ToTensor, PILToTensor))
            per_sample = not isinstance(t, T.Transform) or (isinstance(t, T.Lambda) and not t.batched)
            xb = _per_sample(t, xb, as_tensors) if per_sample else t.batch(xb)
        return xb


def _per_sample(fn, xb, as_tensors):
    """fn over a NumPy batch one sample at a time (each as a Tensor when as_tensors), results stacked."""
    return np.stack([as_array(fn(_tensor(x) if as_tensors else x)) for x in xb])
