"""Sanitizer check for the emulator: correct kernels pass under ASan/TSan, broken ones are caught.

    python tests/cuda_emulator/sanitize_check.py address|thread   # runs every case in a subprocess

Each case runs in its own process with the sanitizer runtime preloaded (LD_PRELOAD) and the
emulator in FASTNN_EMU_SANITIZE mode (in-process launches, kernels built with -fsanitize=...).
What is caught: ASan — out-of-bounds reads/writes of global arrays (each copied into an exact-size
heap block) and of dynamic shared memory; TSan — races between blocks on global memory (blocks
spread over 4 OS threads) and races between threads of a block (each CUDA thread is a TSan fiber;
__syncthreads/warp ops/atomics are the only synchronisation).
"""
import os
import pathlib
import subprocess
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
EX = HERE / "examples"
i32 = np.int32

# case -> (mode, expected substrings in the output: empty means "must pass cleanly")
CASES = {
    "address": {
        "good": (),
        "oob_global_write": ("AddressSanitizer: heap-buffer-overflow", "broken.cu:25"),
        "oob_dynamic_shared_read": ("AddressSanitizer: heap-buffer-overflow", "read_uninit"),
    },
    "thread": {
        "good": (),
        "inter_block_race": ("ThreadSanitizer: data race", "racy_sum"),
        "intra_block_race": ("ThreadSanitizer: data race", "missing_barrier"),
    },
}


def run_good():
    """Every correct example kernel, checked against NumPy (must produce no sanitizer report)."""
    import cuda_emulator as ce
    rng = np.random.default_rng(0)
    n = 1000
    a, b = rng.random(n, np.float32), rng.random(n, np.float32)
    out = np.zeros(n, np.float32)
    ce.load(EX / "vector_add.cu").launch("vector_add", 4, 256, (out, a, b, i32(n)))
    assert np.array_equal(out, a + b)
    M, N, K = 40, 70, 50
    A, B, C = rng.random((M, K), np.float32), rng.random((K, N), np.float32), np.zeros((M, N), np.float32)
    ce.load(EX / "sgemm_tiled.cu").launch("sgemm_tiled", (3, 2), (32, 32), (C, A, B, i32(M), i32(N), i32(K)))
    assert np.allclose(C, A @ B, rtol=1e-5)
    red = ce.load(EX / "reduce.cu")
    for k in ("block_sum_smem", "block_sum_shfl"):
        p = np.zeros(4, np.float32)
        red.launch(k, 4, 256, (p, a, i32(n)))
        assert np.isclose(p.sum(), a.sum(dtype=np.float64), rtol=1e-5)
    x = rng.integers(-9, 9, 128).astype(np.int32)
    s, bal, xm = np.zeros_like(x), np.zeros(4, np.uint32), np.zeros_like(x)
    red.launch("warp_scan", 2, 64, (s, bal, xm, x))
    assert np.array_equal(s, np.cumsum(x.reshape(4, 32), 1).ravel())
    rev = np.zeros(n, np.float32)
    ce.load(EX / "early_exit.cu").launch("reverse_blocks", 4, 256, (rev, a, i32(n)))
    assert np.array_equal(rev[:256], a[:256][::-1])
    bins, hist = rng.integers(0, 10, n).astype(np.int32), np.zeros(10, np.int32)
    ce.load(EX / "atomics.cu").launch("histogram", 4, 128, (hist, bins, i32(n)))
    assert np.array_equal(hist, np.bincount(bins, minlength=10))
    ce.load(EX / "dynamic_smem.cu").launch("stage_double", 4, 256, (out, a, i32(n)), shared_mem=1024)
    assert np.array_equal(out[:255], 2 * a[1:256])
    votes = np.zeros((64, 4), np.int32)
    ce.load(EX / "warp_misc.cu").launch("votes", 1, 64, (votes, x[:64]))
    assert np.array_equal(votes[:, 2], np.repeat(x[:64:8], 8))


def run_case(mode, case):
    import cuda_emulator as ce
    broken = None if case == "good" else ce.load(EX / "broken.cu", sanitize=mode)
    x = np.ones(1000, np.float32)
    if case == "good":
        run_good()
    elif case == "oob_global_write":
        broken.launch("oob_write", 1, 128, (np.zeros(100, np.float32), x, i32(100)))
    elif case == "oob_dynamic_shared_read":  # 64 threads read 64 floats from a 128-byte buffer
        ce.load(EX / "dynamic_smem.cu", sanitize=mode).launch("read_uninit", 1, 64, (np.zeros(64, np.float32),),
                                                             shared_mem=128)
    elif case == "inter_block_race":
        broken.launch("racy_sum", 8, 128, (np.zeros(1, np.float32), x, i32(1000)))
    elif case == "intra_block_race":
        broken.launch("missing_barrier", 1, 64, (np.zeros(64, np.float32), x))
    print(f"case {case}: finished without a sanitizer report")


def runtime(mode):
    lib = {"address": "libasan.so", "thread": "libtsan.so"}[mode]
    return subprocess.run(["g++", f"-print-file-name={lib}"], capture_output=True, text=True).stdout.strip()


def main(mode):
    env = dict(os.environ, LD_PRELOAD=runtime(mode), FASTNN_EMU_SANITIZE=mode,
               ASAN_OPTIONS="detect_leaks=0:halt_on_error=1", TSAN_OPTIONS="halt_on_error=1:exitcode=66")
    failures = 0
    for case, expect in CASES[mode].items():
        r = subprocess.run([sys.executable, __file__, mode, case], env=env, capture_output=True, text=True,
                           timeout=600)
        text = r.stdout + r.stderr
        ok = (r.returncode == 0 and "Sanitizer" not in text) if not expect else (
            r.returncode != 0 and all(e in text for e in expect))
        failures += not ok
        what = "passes cleanly" if not expect else f"caught: {expect[0]}"
        print(f"[{'ok' if ok else 'FAIL'}] {mode:7s} {case:24s} expected: {what} (exit {r.returncode})")
        if not ok:
            print(text[-4000:])
    return failures


if __name__ == "__main__":
    if len(sys.argv) == 3:
        run_case(sys.argv[1], sys.argv[2])
    else:
        sys.exit(1 if sum(main(m) for m in (sys.argv[1:] or ["address", "thread"])) else 0)
