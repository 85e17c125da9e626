"""Batched GEMM for many small matrices: bmm, bmm_nt, bmm_tn (cpu.py Numba, bmm.cu CUDA, ref.py NumPy)."""
