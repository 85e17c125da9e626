"""Max-pool kernel timing at the examples Net's pool (64 planes of 24x24 per image, 2x2 stride 2), us per
image on one thread: pool2d/max2x2.py (the fused step's index-free pool) beside pool2d/cpu.py's indexed
SIMD kernel, over 1, 32 and 64 images per call (the last two: a fused shard's region, beyond L2).

    python bench/pool_kernels.py [IMAGES ...]
"""
import sys
import time

import numba
import numpy as np

from fastnn.kernels.pool2d import max2x2
from fastnn.kernels.pool2d.cpu import max_image_backward, max_image_forward
from fastnn.kernels.pool2d.windows import sliding


@numba.njit
def _run(which, reps, x, out, dx, dout, idx, hs, hn, ws, wn):
    for _ in range(reps):
        if which == 0:
            max2x2.forward(out, x)
        elif which == 1:
            max2x2.backward(dx, dout, x)
        elif which == 2:
            max_image_forward(out, idx, x, hs, hn, ws, wn, 1, 1)
        else:
            max_image_backward(dx, dout, idx, hn, wn)
    return 0


def main(counts):
    numba.set_num_threads(1)
    hs, hn, _, _ = sliding(24, 2, 2, 0, 1, False)
    for imgs in counts:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((64 * imgs, 24, 24)).astype(np.float32)
        out, dx = np.zeros((64 * imgs, 12, 12), np.float32), np.zeros_like(x)
        dout, idx = rng.standard_normal(out.shape).astype(np.float32), np.zeros(out.shape, np.int64)
        res = []
        for which in range(4):
            _run(which, 1, x, out, dx, dout, idx, hs, hn, hs, hn)
            reps, ts = max(1, 200 // imgs), []
            for _ in range(5):
                t = time.perf_counter()
                _run(which, reps, x, out, dx, dout, idx, hs, hn, hs, hn)
                ts.append(time.perf_counter() - t)
            res.append(min(ts) / reps / imgs * 1e6)
        print(f"{imgs} images: max2x2 forward {res[0]:.2f} backward {res[1]:.2f} | indexed forward {res[2]:.2f} "
              f"backward {res[3]:.2f} us per image")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1, 32, 64])
