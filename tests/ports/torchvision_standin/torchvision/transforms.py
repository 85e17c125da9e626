"""torchvision.transforms.Compose / ToTensor / Normalize for uint8 (H, W[, C]) images."""
import numpy as np
import torch


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img


class ToTensor:
    """uint8 (H, W) or (H, W, C) -> float32 (C, H, W) in [0, 1]."""

    def __call__(self, pic):
        pic = np.asarray(pic)
        if pic.ndim == 2:
            pic = pic[:, :, None]
        return torch.from_numpy(pic.transpose(2, 0, 1).copy()).float().div(255)


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, tensor):
        mean = torch.as_tensor(self.mean, dtype=tensor.dtype).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=tensor.dtype).view(-1, 1, 1)
        return (tensor - mean) / std


class Lambda:
    def __init__(self, lambd):
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)
