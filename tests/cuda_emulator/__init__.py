"""CPU emulator of CUDA C for tests: compile a .cu with g++ and launch its kernels on NumPy arrays.

    mod = cuda_emulator.load("kernels/softmax/softmax.cu")          # or a source string; defines={...}
    mod.launch("softmax_forward", grid=n_rows, block=256, args=(out, x, np.int32(n_rows), np.int32(C)))
    mod.kernels["softmax_forward"]                                  # [Param(name, decl, pointer, dtype, code)]
    cuda_emulator.available()    # False only without a C++20 compiler (no_compiler_reason() says why)

Semantics: blocks run one after another; every CUDA thread of a block is a fiber, switched only at
__syncthreads / warp operations (so a missing barrier shows up as stale shared data). Threads that
exit leave barriers. Shuffles from lanes outside the participating group return all-ones bits (NaN
for floats). Dynamic shared memory is filled with 0xFF (NaN) before each block. Scalars must be NumPy
scalars of the parameter's exact type; pointers take C-contiguous arrays of the matching dtype (or
None for NULL). Errors: CompileError, DeadlockError, KernelCrash, KernelTimeout (all EmulatorError).
Environment: FASTNN_EMU_CXX (the C++20 compiler, default g++), FASTNN_EMU_CACHE (.so cache dir, default
~/.cache/fastnn/cuda_emulator), FASTNN_EMU_ISOLATE=0 (launch in-process, no crash isolation), FASTNN_EMU_SANITIZE=address|thread
(see .ci/sanitizers). Fiber stacks are 128 KiB: defines={"EMU_STACK_SIZE": bytes} to raise it.
"""
from .emulator import (CompileError, DeadlockError, EmulatorError, KernelCrash, KernelTimeout, Module,
                       Param, available, compiler, find_kernels, load, no_compiler_reason, stats)

__all__ = ["load", "available", "no_compiler_reason", "compiler", "stats", "Module", "Param", "find_kernels",
           "EmulatorError", "CompileError", "DeadlockError", "KernelCrash", "KernelTimeout"]
