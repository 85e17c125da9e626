"""cupy.random stand-in: default_rng / RandomState / seed over NumPy's generators, device outputs."""
import numpy as np

from ._core import _to_device


class Generator:
    """The subset of cupy.random.Generator fastnn uses (random, standard_normal, integers, permutation)."""

    def __init__(self, seed=None):
        self._rng = np.random.default_rng(seed)

    def random(self, size=None, dtype=np.float64, out=None):
        return _to_device(self._rng.random(size, dtype=np.dtype(dtype)))

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return _to_device(self._rng.standard_normal(size, dtype=np.dtype(dtype)))

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return _to_device(self._rng.integers(low, high, size, dtype=dtype, endpoint=endpoint))

    def permutation(self, x):
        return _to_device(self._rng.permutation(x))


def default_rng(seed=None):
    return Generator(seed)


class RandomState:
    def __init__(self, seed=None):
        self._rs = np.random.RandomState(seed)

    def rand(self, *size):
        return _to_device(self._rs.rand(*size))

    def randn(self, *size):
        return _to_device(self._rs.randn(*size))

    def permutation(self, x):
        return _to_device(self._rs.permutation(x))


_global = RandomState()


def seed(s=None):
    global _global
    _global = RandomState(s)


def rand(*size):
    return _global.rand(*size)


def randn(*size):
    return _global.randn(*size)


def permutation(x):
    return _global.permutation(x)
