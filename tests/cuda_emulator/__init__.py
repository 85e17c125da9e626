"""CPU emulator of CUDA C for tests: compile a .cu with g++ and launch its kernels on NumPy arrays.

    mod = cuda_emulator.load("kernels/softmax/softmax.cu")
    mod.launch("softmax_forward", grid=n_rows, block=256, args=(out, x, np.int32(n_rows), np.int32(C)))
"""
from .emulator import (CompileError, DeadlockError, EmulatorError, KernelCrash, KernelTimeout, Module,
                       Param, available, find_kernels, load, stats)

__all__ = ["load", "available", "stats", "Module", "Param", "find_kernels", "EmulatorError",
           "CompileError", "DeadlockError", "KernelCrash", "KernelTimeout"]
