"""Batch normalisation of x (N,C,L) per channel: fused statistics + normalisation forward and backward
(ref.py NumPy oracle, cpu.py Numba, batchnorm.cu CUDA)."""
