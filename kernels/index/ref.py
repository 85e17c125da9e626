"""Indexing NumPy references (outputs first) over 3-D views: the indexed dim in the middle, (A, N, B) with
A = prod(shape[:dim]) and B = prod(shape[dim+1:]). `xp` lets the CUDA backend run them on CuPy."""
import numpy as np


def gather(out, x, index, xp=np):
    # out (A,K,B) = x (A,N,B)[a, index[a,k,b], b]
    out[...] = xp.take_along_axis(x, index, axis=1)


def scatter_add(out, index, src, xp=np):
    # out (A,N,B)[a, index[a,k,b], b] += src (A,K,B); repeated indices accumulate
    A, N, B = out.shape
    K = index.shape[1]
    a = xp.arange(A).reshape(A, 1, 1)
    b = xp.arange(B).reshape(1, 1, B)
    if K == 0:
        return
    flat = ((a * N + index) * B + b).reshape(-1)             # position in out.reshape(-1) (out is C-contiguous)
    xp.add.at(out.reshape(-1), flat, src.reshape(-1))


def index_add_rows(out, index, src, xp=np):
    # out (N,B)[index[k], :] += src (K,B); negative indices count from the end; repeats accumulate
    xp.add.at(out, index, src)
