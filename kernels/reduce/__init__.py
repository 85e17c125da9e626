"""Reductions: sum_rows (bias gradient), sum_all, max/argmax over the last axis, and along a dim over (A, N, B) views: sum, prod, max/min with indices (cpu.py, reduce.cu, ref.py)."""
