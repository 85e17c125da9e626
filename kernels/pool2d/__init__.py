"""2-D pooling (NCHW): max (with torch's flat per-plane indices) and average over per-axis windows, which
cover MaxPool2d, AvgPool2d and the adaptive pools alike: windows.py (the per-axis window tables),
ref.py (NumPy oracle), cpu.py (Numba), pool2d.cu (CUDA)."""
