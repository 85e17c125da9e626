"""Sorting along the last axis of (M, N) rows: stable sort with indices and top-k, torch's order (NaN is
the largest value, ties keep their index order) (ref.py NumPy oracle, cpu.py Numba, sort.cu CUDA)."""
