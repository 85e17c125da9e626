"""Batched GEMM for many small matrices: bmm, bmm_nt, bmm_tn (cpu.py Numba, ref.py NumPy; the CUDA bmm_* live in gemm/sgemm.cu)."""
