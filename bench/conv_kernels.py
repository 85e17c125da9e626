"""GFLOP/s of the CPU conv2d algorithms per image (forward: direct SIMD kernel vs im2col + GEMM vs
Winograd F(2x2,3x3) vs F(4x4,3x3); both gradients: im2col + GEMM vs both Winograds; "F4 batch":
F(4x4,3x3)'s batch kernels over the whole batch as the fused CNN step and the eager drivers run them,
one weight transform per call, and both gradients in one call) at LeNet-5's and the pytorch/examples
MNIST Net's shapes and other 3x3 layers, beside our GEMM (gemm_serial) at the Net's 32->64 layer's GEMM
shape; and the max-pool forward paths. One thread; times
are the thread's CPU time (time.thread_time, best of 7), which a shared host disturbs less than wall time.
GFLOP/s always count the direct algorithm's FLOPs (2*O*Cg*9*OH*OW per image), whatever the path does:
Winograd's figures are effective rates (F(2x2,3x3) does 2.25x fewer multiplies in its GEMMs, F(4x4,3x3)
4x fewer); "-": the path does not apply (Winograd: 3x3 only).
The dispatch thresholds in kernels/conv2d/cpu.py come from this table.

    python bench/conv_kernels.py [--batch 64] [--shapes lenet1,lenet2,net1,net2]
"""
import argparse
import time

import numpy as np
from numba import njit

from fastnn.kernels.conv2d import cpu, direct, winograd, winograd4
from fastnn.kernels.gemm.cpu import gemm_serial
from fastnn.kernels.pool2d import cpu as pool

# name: (C, O, H, W, K, padding)
SHAPES = {"lenet1": (1, 6, 28, 28, 5, 2), "lenet2": (6, 16, 14, 14, 5, 0), "net1": (1, 32, 28, 28, 3, 0),
          "net2": (32, 64, 26, 26, 3, 0), "c3_16": (3, 16, 32, 32, 3, 1), "c8_16": (8, 16, 16, 16, 3, 1),
          "c16_32": (16, 32, 16, 16, 3, 1), "c32_32": (32, 32, 16, 16, 3, 1), "c64_64": (64, 64, 56, 56, 3, 1),
          "c8_64": (8, 64, 26, 26, 3, 0), "c64_8": (64, 8, 26, 26, 3, 0),
          "c16_16": (16, 16, 26, 26, 3, 0), "c16_64": (16, 64, 26, 26, 3, 0), "c64_16": (64, 16, 26, 26, 3, 0),
          "c32_32_20": (32, 32, 20, 20, 3, 1), "c32_32_24": (32, 32, 24, 24, 3, 1), "c16_32_24": (16, 32, 24, 24, 3, 1)}


@njit
def _images(path, kind, out, x, dout, w2, dw2, K, p, work):
    # one pass over the batch: path 0 im2col + GEMM, 1 direct (forward only), 2 Winograd F(2x2,3x3),
    # 3 Winograd F(4x4,3x3) per image, 4 F(4x4,3x3)'s batch kernels over the whole batch (3x3); kind 0
    # forward, 1 input grad, 2 weight grad, 3 both gradients in one call (path 4 only)
    one = np.int64(1)
    if path == 4:
        if kind == 0:
            winograd4.forward_images(out, x, w2, w2[0, :0], p, p, one, work)
        else:
            winograd4.backward_images(x if kind != 2 else x[:0], dw2 if kind != 1 else dw2[:0], dout, x, w2, p, p,
                                      one, work)
        return
    for n in range(x.shape[0]):
        if path == 0 and kind == 0:
            cpu.im2col_forward(out[n], x[n], w2, K, K, one, one, p, p, one, one, one, work)
        elif path == 0 and kind == 1:
            cpu.im2col_backward_input(x[n], dout[n], w2, K, K, one, one, p, p, one, one, one, work)
        elif path == 0:
            cpu.im2col_backward_weight(dw2, dout[n], x[n], K, K, one, one, p, p, one, one, one, work)
        elif path == 2 and kind == 0:
            winograd.forward(out[n], x[n], w2, p, p, one, work)
        elif path == 2 and kind == 1:
            winograd.backward_input(x[n], dout[n], w2, p, p, one, work)
        elif path == 2:
            winograd.backward_weight(dw2, dout[n], x[n], p, p, one, work)
        elif path == 3 and kind == 0:
            winograd4.forward(out[n], x[n], w2, p, p, one, work)
        elif path == 3 and kind == 1:
            winograd4.backward_input(x[n], dout[n], w2, p, p, one, work)
        elif path == 3:
            winograd4.backward_weight(dw2, dout[n], x[n], p, p, one, work)
        else:
            direct.forward(out[n], x[n], w2, K, K, one, p, p, one, one, one)


@njit
def _gemm_reps(out, a, b, reps):
    for _ in range(reps):
        gemm_serial(out, a, b, False, False, False)


@njit
def _pool_images(simd, out, idx, x, hs, hn):
    one = np.int64(1)
    for n in range(x.shape[0]):
        if simd:
            pool.max_image_forward_simd(out[n], idx[n], x[n], hs, hn, hs, hn[0], np.int64(2), one, one)
        else:
            pool.max_image_forward_scalar(out[n], idx[n], x[n], hs, hn, hs, hn, one, one)


def best_cpu_time(fn, *args, reps=7):
    fn(*args)                                             # compile / warm up
    ts = []
    for _ in range(reps):
        t = time.thread_time()
        fn(*args)
        ts.append(time.thread_time() - t)
    return min(ts)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--shapes", default=",".join(SHAPES))
    a = p.parse_args()
    rng, B, f32 = np.random.default_rng(0), a.batch, np.float32
    print("| shape | C->O | HxW, k, pad | fwd im2col | fwd direct | fwd F2 | fwd F4 | fwd F4 batch | dx im2col "
          "| dx F2 | dx F4 | dx F4 batch | dw im2col | dw F2 | dw F4 | dw F4 batch | dx+dw F4 batch |")
    print("|---|---|---|" + "---:|" * 14)
    for name in a.shapes.split(","):
        C, O, H, W, K, pad = SHAPES[name]
        OH, OW = H + 2 * pad - K + 1, W + 2 * pad - K + 1
        x, w2 = rng.standard_normal((B, C, H, W)).astype(f32), rng.standard_normal((O, C * K * K)).astype(f32)
        dout, dw2 = rng.standard_normal((B, O, OH, OW)).astype(f32), np.zeros((O, C * K * K), f32)
        size = max(cpu.work_size(C, O, K, K, OH, OW, 1), winograd.work_size(C, O, OH, OW) if K == 3 else 0,
                   winograd4.work_size(C, O, OH, OW) if K == 3 else 0)
        out, work = np.empty((B, O, OH, OW), f32), np.empty(size, f32)
        flops = 2 * B * O * C * K * K * OH * OW
        g = [flops * (2 if kind == 3 else 1) / 1e9
             / best_cpu_time(_images, path, kind, out, x, dout, w2, dw2, np.int64(K), np.int64(pad), work)
             if path < 2 or K == 3 else None
             for kind in range(4) for path in range(5) if (kind == 0 or path != 1) and (kind < 3 or path == 4)]
        print(f"| {name} | {C}->{O} | {H}x{W}, {K}, {pad} | " + " | ".join("-" if v is None else f"{v:.1f}" for v in g)
              + " |", flush=True)
    for M, K, N in [(64, 288, 576), (16, 150, 100), (6, 25, 784)]:
        A, Bm, out = (rng.standard_normal((M, K)).astype(f32), rng.standard_normal((K, N)).astype(f32),
                      np.empty((M, N), f32))
        t = best_cpu_time(_gemm_reps, out, A, Bm, 64)
        print(f"gemm_serial ({M}x{K}) @ ({K}x{N}) float32: {2 * M * N * K * 64 / t / 1e9:.1f} GFLOP/s"
              + ("  (the Net's 32->64 layer per image)" if M == 64 else ""))
    for C, H in [(6, 28), (16, 10), (64, 24)]:
        x = rng.standard_normal((B, C, H, H)).astype(f32)
        hs, hn = np.arange(H // 2) * 2, np.full(H // 2, 2)
        out, idx = np.empty((B, C, H // 2, H // 2), f32), np.empty((B, C, H // 2, H // 2), np.int64)
        ms = [1e3 * best_cpu_time(_pool_images, simd, out, idx, x, hs, hn) for simd in (False, True)]
        print(f"max pool 2x2 ({B},{C},{H},{H}) float32: scalar {ms[0]:.3f} ms, simd {ms[1]:.3f} ms")


if __name__ == "__main__":
    main()
