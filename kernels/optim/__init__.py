"""Optimizer update kernels over flat parameter buffers: ref.py (NumPy oracle), cpu.py (Numba), optim.cu (CUDA)."""
