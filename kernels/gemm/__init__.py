"""GEMM kernels: matmul, matmul_nt, matmul_tn (cpu.py Numba, sgemm.cu CUDA, ref.py NumPy)."""
