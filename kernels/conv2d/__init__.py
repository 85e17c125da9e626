"""2-D convolution (NCHW, groups, stride, zero padding, dilation): ref.py (NumPy oracle), cpu.py (Numba,
im2col in bounded chunks on our GEMM), conv2d.cu (CUDA, direct)."""
