"""Sort NumPy references (outputs first) over rows (M, N), torch's stable order: ascending puts NaN last,
descending puts NaN first, equal values (and NaNs among themselves) keep their index order.
NumPy's stable argsort is ascending with NaN last; descending is the reverse of the ascending stable
sort of the reversed row (which reverses the order of ties twice). `xp` lets the CUDA backend run them
on CuPy."""
import numpy as np


def argsort(x, descending, xp=np):
    # (M,N) int64: each row's permutation into torch's stable order
    if not descending:
        return xp.argsort(x, axis=1, kind="stable").astype(np.int64)
    N = x.shape[1]
    return (N - 1 - xp.argsort(x[:, ::-1], axis=1, kind="stable")[:, ::-1]).astype(np.int64)


def sort(values, indices, x, descending, xp=np):
    # values, indices (M,K) = the first K of each row of x (M,N) in stable order (K = N: a full sort)
    K = values.shape[1]
    order = argsort(x, descending, xp)[:, :K]
    indices[...] = order
    values[...] = xp.take_along_axis(x, order, axis=1)


def topk(values, indices, x, largest, xp=np):
    # values, indices (M,K) = the K largest (smallest) of each row of x (M,N), in sorted order
    sort(values, indices, x, largest, xp)
