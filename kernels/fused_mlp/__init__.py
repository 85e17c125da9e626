"""Fused whole-MLP training: workspace.py (codes, layout, buffers), ref.py (NumPy oracle), cpu.py (Numba
step/epoch), trainer.py (FusedMLPTrainer, the validated Python entry point), gather.cu (CUDA)."""
