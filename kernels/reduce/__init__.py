"""Reductions: sum_rows (bias gradient), sum_all, max/argmax over the last axis (cpu.py, reduce.cu, ref.py)."""
