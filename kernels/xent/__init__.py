"""Fused softmax cross-entropy forward/backward (cpu.py Numba, xent.cu CUDA, ref.py NumPy)."""
