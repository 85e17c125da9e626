"""Indexing along a dim over (A, N, B) views: gather and its backward scatter_add (ref.py NumPy oracle,
cpu.py Numba, index.cu CUDA)."""
