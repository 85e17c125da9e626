"""Scans along a dim over (A, N, B) views: cumsum, cumprod and cumprod's backward (ref.py NumPy oracle,
cpu.py Numba, scan.cu CUDA)."""
