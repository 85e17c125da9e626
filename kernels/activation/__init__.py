"""Elementwise activations and their backward passes (cpu.py Numba, activation.cu CUDA, ref.py NumPy)."""
