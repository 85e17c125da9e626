"""Fused whole-MLP training kernels: workspace.py (codes, layout, buffers), ref.py (NumPy oracle), cpu.py
(Numba step/epoch), gather.cu (CUDA helpers). The orchestration lives in fastnn/backends/cpu_fused.py and
cuda_fused.py."""
