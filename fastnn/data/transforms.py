"""torchvision-style transforms on NumPy arrays, each usable per sample (`t(x)`) and
vectorized on a stacked batch with a leading batch axis (`t.batch(xb)`).

    ToTensor   uint8 (H,W) -> float32 (1,H,W) in [0,1]; (H,W,C) -> (C,H,W). Batch: (B,H,W) -> (B,1,H,W)
    Normalize  (x - mean[c]) / std[c] over the channel axis of (..., C, H, W)
    Compose    chain; Lambda(fn, batched=False) wraps a function
"""
import numpy as np


def apply_batch(transform, xb):
    """Apply `transform` to a stacked batch: its vectorized `.batch` when it has one,
    otherwise one call per sample and a stack (plain callables)."""
    if hasattr(transform, "batch"):
        return transform.batch(xb)
    return np.stack([np.asarray(transform(x)) for x in xb]) if len(xb) else np.asarray(xb)


class Transform:
    """Base: subclasses implement __call__ (one sample); `batch` defaults to a loop."""

    def __call__(self, x):
        raise NotImplementedError

    def batch(self, xb):
        return np.stack([np.asarray(self(x)) for x in xb])

    def __repr__(self):
        return f"{type(self).__name__}()"


def _to_float(x):
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return np.divide(x, np.float32(255), dtype=np.float32)
    return np.array(x, copy=True)


class ToTensor(Transform):
    """uint8 HxW or HxWxC -> CxHxW in [0, 1] (float32); other dtypes keep their values."""

    def __call__(self, x):
        x = np.asarray(x)
        if x.ndim == 2:
            return _to_float(x)[None]
        if x.ndim == 3:
            return np.ascontiguousarray(_to_float(x).transpose(2, 0, 1))
        raise ValueError(f"ToTensor: expected an image of shape (H, W) or (H, W, C), "
                         f"got shape {x.shape}")

    def batch(self, xb):
        xb = np.asarray(xb)
        if xb.ndim == 3:
            return _to_float(xb)[:, None]
        if xb.ndim == 4:
            return np.ascontiguousarray(_to_float(xb).transpose(0, 3, 1, 2))
        raise ValueError(f"ToTensor.batch: expected images of shape (B, H, W) or "
                         f"(B, H, W, C), got shape {xb.shape}")


class Normalize(Transform):
    """out[..., c, :, :] = (x[..., c, :, :] - mean[c]) / std[c]; works on (C,H,W) and
    (B,C,H,W) alike. Scalars or length-1 sequences broadcast over channels."""

    def __init__(self, mean, std, inplace=False):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        self.inplace = inplace
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError(f"Normalize: mean and std must be sequences, got shapes "
                             f"{self.mean.shape} and {self.std.shape}")
        if np.any(self.std == 0):
            raise ValueError(f"std evaluated to zero after conversion to float, leading to "
                             f"division by zero (std={self.std.tolist()})")

    def __call__(self, x):
        x = np.asarray(x)
        if x.ndim < 3:
            raise ValueError(f"Normalize: expected a tensor image of shape (..., C, H, W), "
                             f"got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"Normalize: input should be a float array, got {x.dtype}")
        c = x.shape[-3]
        for nm, v in (("mean", self.mean), ("std", self.std)):
            if v.size not in (1, c):
                raise ValueError(f"Normalize: {nm} has {v.size} values but the image "
                                 f"{x.shape} has {c} channels")
        mean = self.mean.astype(x.dtype)[:, None, None]
        std = self.std.astype(x.dtype)[:, None, None]
        out = x if self.inplace and x.flags.writeable else None
        out = np.subtract(x, mean, out=out)
        return np.divide(out, std, out=out)

    batch = __call__

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class Compose(Transform):
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def batch(self, xb):
        for t in self.transforms:
            xb = apply_batch(t, xb)
        return xb

    def __repr__(self):
        return "Compose(\n" + "".join(f"    {t!r}\n" for t in self.transforms) + ")"


class Lambda(Transform):
    """Wrap `fn`. With batched=True `fn` must also accept a batch with a leading axis
    (e.g. `lambda x: x.reshape(*x.shape[:-3], -1)`) and is called once per batch."""

    def __init__(self, fn, batched=False):
        if not callable(fn):
            raise TypeError(f"Lambda: argument should be callable, got {type(fn).__name__}")
        self.fn, self.batched = fn, batched

    def __call__(self, x):
        return self.fn(x)

    def batch(self, xb):
        if self.batched:
            return self.fn(xb)
        return super().batch(xb)

    def __repr__(self):
        return f"Lambda(batched={self.batched})"


def _spatial_axes(x):
    """(row axis, column axis): an image before ToTensor (uint8 (H, W) or (H, W, C)) is cropped on its
    first two axes, an image tensor after it ((..., H, W), float) on its last two (torchvision's rule)."""
    return (0, 1) if x.dtype == np.uint8 else (x.ndim - 2, x.ndim - 1)


def _generator():
    from ..backends import get_backend

    return get_backend("cpu").rng           # fastnn's generator: fastnn.manual_seed makes it reproducible


class RandomCrop(Transform):
    """torchvision.transforms.RandomCrop(size, padding=None, pad_if_needed=False, fill=0,
    padding_mode='constant'): pad (int, (left/right, top/bottom) or (left, top, right, bottom)), then
    crop a size window at a uniformly drawn offset."""

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = (int(size), int(size)) if np.ndim(size) == 0 else tuple(int(s) for s in size)
        self.padding, self.pad_if_needed, self.fill, self.padding_mode = padding, pad_if_needed, fill, padding_mode
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")

    def _pad(self, x, ax, left, top, right, bottom):
        widths = [(0, 0)] * x.ndim
        widths[ax[0]], widths[ax[1]] = (top, bottom), (left, right)
        kw = dict(constant_values=self.fill) if self.padding_mode == "constant" else {}
        return np.pad(x, widths, mode=self.padding_mode, **kw)

    def __call__(self, x):
        x = np.asarray(x)
        ax = _spatial_axes(x)
        if self.padding is not None:
            p = (self.padding,) * 4 if np.ndim(self.padding) == 0 else tuple(self.padding)
            p = p * 2 if len(p) == 2 else p
            x = self._pad(x, ax, *p)
        th, tw = self.size
        if self.pad_if_needed:
            x = self._pad(x, ax, max(0, tw - x.shape[ax[1]]), max(0, th - x.shape[ax[0]]),
                          max(0, tw - x.shape[ax[1]]), max(0, th - x.shape[ax[0]]))
        H, W = x.shape[ax[0]], x.shape[ax[1]]
        if H < th or W < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(H, W)}")
        rng = _generator()
        i, j = int(rng.integers(0, H - th + 1)), int(rng.integers(0, W - tw + 1))
        index = [slice(None)] * x.ndim
        index[ax[0]], index[ax[1]] = slice(i, i + th), slice(j, j + tw)
        return np.ascontiguousarray(x[tuple(index)])

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class _RandomFlip(Transform):
    """Mirror the spatial axis `_axis` (0 rows, 1 columns) with probability p."""

    _axis = 1

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, x):
        x = np.asarray(x)
        if _generator().random() < self.p:
            return np.ascontiguousarray(np.flip(x, axis=_spatial_axes(x)[self._axis]))
        return x

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p})"


class RandomHorizontalFlip(_RandomFlip):
    """torchvision.transforms.RandomHorizontalFlip(p=0.5): mirror the columns with probability p."""

    _axis = 1


class RandomVerticalFlip(_RandomFlip):
    """torchvision.transforms.RandomVerticalFlip(p=0.5): mirror the rows with probability p."""

    _axis = 0


class CenterCrop(Transform):
    """torchvision.transforms.CenterCrop(size): the central window, offsets round((H - h) / 2) and
    round((W - w) / 2) as torchvision; a crop larger than the image is refused (torchvision pads)."""

    def __init__(self, size):
        size = (int(size),) if np.ndim(size) == 0 else tuple(int(s) for s in size)
        self.size = size * 2 if len(size) == 1 else size

    def __call__(self, x):
        x = np.asarray(x)
        ax = _spatial_axes(x)
        (H, W), (th, tw) = (x.shape[ax[0]], x.shape[ax[1]]), self.size
        if H < th or W < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(H, W)}")
        i, j = int(round((H - th) / 2.0)), int(round((W - tw) / 2.0))
        index = [slice(None)] * x.ndim
        index[ax[0]], index[ax[1]] = slice(i, i + th), slice(j, j + tw)
        return np.ascontiguousarray(x[tuple(index)])

    def __repr__(self):
        return f"CenterCrop(size={self.size})"
