"""Row-wise softmax / log_softmax and their backward passes (cpu.py Numba, softmax.cu CUDA, ref.py NumPy)."""
