"""Tests of the CUDA C emulator itself (tests/cuda_emulator) on small kernels in its examples/."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cuda_emulator as ce
from conftest_cuda import needs_emulator

pytestmark = needs_emulator
EX = pathlib.Path(__file__).parent / "cuda_emulator" / "examples"
F32 = np.finfo(np.float32).eps
i32 = np.int32
fast = settings(max_examples=20, deadline=None)


def mod(name):
    return ce.load(EX / name)


def assert_gemm_close(C, A, B):
    """Worst-case float32 dot-product bound: |C - AB| <= 2 K eps(float32) (|A| |B|)."""
    K = A.shape[1]
    ref = A.astype(np.float64) @ B.astype(np.float64)
    scale = np.abs(A).astype(np.float64) @ np.abs(B).astype(np.float64)
    assert np.all(np.abs(C - ref) <= 2 * F32 * max(K, 1) * scale + 1e-30)


@fast
@given(n=st.integers(0, 3000), block=st.sampled_from([1, 32, 96, 256, 1024]))
def test_vector_add_ragged(n, block):
    rng = np.random.default_rng(n)
    a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    out = np.full(n, np.nan, np.float32)
    mod("vector_add.cu").launch("vector_add", max(1, -(-n // block)), block, (out, a, b, i32(n)))
    np.testing.assert_array_equal(out, a + b)  # one rounding in both: bit-identical


@fast
@given(grid=st.tuples(*[st.integers(1, 3)] * 3), block=st.tuples(st.integers(1, 40), st.integers(1, 5),
                                                                   st.integers(1, 3)))
def test_thread_and_block_indices(grid, block):
    gx, gy, gz = grid
    bx, by, bz = block
    out = np.full((gz, gy, gx, bz, by, bx, 6), -1, np.int32)
    mod("vector_add.cu").launch("whoami", grid, block, (out,))
    idx = np.indices((gz, gy, gx, bz, by, bx))  # oracle: the index grids in the same layout
    ref = np.stack([idx[5], idx[4], idx[3], idx[2], idx[1], idx[0]], axis=-1)
    np.testing.assert_array_equal(out, ref)


def test_double_and_int64_scalars():
    a = np.linspace(-3, 3, 1000)
    out = np.zeros_like(a)
    mod("vector_add.cu").launch("scale_f64", 4, 256, (out, a, np.float64(0.1), np.int64(1000)))
    np.testing.assert_array_equal(out, 0.1 * a)


@fast
@given(M=st.integers(1, 80), N=st.integers(1, 80), K=st.integers(0, 80))
def test_sgemm_tiled_ragged(M, N, K):
    rng = np.random.default_rng(M * 10007 + N * 101 + K)
    A, B = rng.standard_normal((M, K)).astype(np.float32), rng.standard_normal((K, N)).astype(np.float32)
    C = np.full((M, N), np.nan, np.float32)
    mod("sgemm_tiled.cu").launch("sgemm_tiled", (-(-N // 32), -(-M // 32)), (32, 32),
                                 (C, A, B, i32(M), i32(N), i32(K)))
    assert_gemm_close(C, A, B)


def test_sgemm_256_cube():
    rng = np.random.default_rng(0)
    A, B = rng.random((256, 256), np.float32), rng.random((256, 256), np.float32)
    C = np.zeros((256, 256), np.float32)
    mod("sgemm_tiled.cu").launch("sgemm_tiled", (8, 8), (32, 32), (C, A, B, i32(256), i32(256), i32(256)))
    assert_gemm_close(C, A, B)


@fast
@given(n=st.integers(0, 5000), grid=st.integers(1, 5), block=st.sampled_from([32, 64, 256, 1024]),
       kernel=st.sampled_from(["block_sum_smem", "block_sum_shfl"]))
def test_block_reductions(n, grid, block, kernel):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    partial = np.full(grid, np.nan, np.float32)
    mod("reduce.cu").launch(kernel, grid, block, (partial, x, i32(n)))
    owner = np.arange(n) % (grid * block) // block
    ref = np.array([x[owner == b].astype(np.float64).sum() for b in range(grid)])
    # worst-case float32 summation bound: eps * (longest chain of additions) * sum |x|
    chain = -(-n // (grid * block)) + np.log2(block) + 2
    bound = F32 * chain * np.array([np.abs(x[owner == b]).astype(np.float64).sum() for b in range(grid)])
    assert np.all(np.abs(partial - ref) <= bound), (partial, ref, bound)


@fast
@given(warps=st.integers(1, 8), one_block=st.booleans(), seed=st.integers(0, 2**16))
def test_warp_scan_ballot_xor(warps, one_block, seed):
    x = np.random.default_rng(seed).integers(-50, 50, 32 * warps).astype(np.int32)
    out, xmax = np.zeros_like(x), np.zeros_like(x)
    ballot = np.zeros(warps, np.uint32)
    grid, block = (1, 32 * warps) if one_block else (warps, 32)
    mod("reduce.cu").launch("warp_scan", grid, block, (out, ballot, xmax, x))
    w = x.reshape(warps, 32)
    np.testing.assert_array_equal(out, np.cumsum(w, axis=1).ravel())
    np.testing.assert_array_equal(xmax, np.repeat(w.max(axis=1), 32))
    np.testing.assert_array_equal(ballot, ((w > 0) * (1 << np.arange(32, dtype=np.uint64))).sum(1))


def test_syncthreads_count():
    x = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    out = np.zeros(4, np.int32)
    mod("reduce.cu").launch("count_positive", 4, 256, (out, x, i32(1000)))
    np.testing.assert_array_equal(out, [(x[b * 256:(b + 1) * 256] > 0).sum() for b in range(4)])


@fast
@given(n=st.integers(0, 2500), block=st.sampled_from([1, 33, 64, 1000, 1024]))
def test_early_exit_then_barrier(n, block):
    x = np.arange(n, dtype=np.float32)
    out = np.full(n, np.nan, np.float32)
    mod("early_exit.cu").launch("reverse_blocks", max(1, -(-n // block)), block, (out, x, i32(n)))
    ref = np.concatenate([x[s:s + block][::-1] for s in range(0, n, block)]) if n else x
    np.testing.assert_array_equal(out, ref)


@fast
@given(n=st.integers(0, 4000), nbins=st.integers(1, 70), grid=st.integers(1, 6))
def test_atomic_histogram(n, nbins, grid):
    bins = np.random.default_rng(n).integers(0, nbins, n).astype(np.int32)
    hist = np.zeros(nbins, np.int32)
    mod("atomics.cu").launch("histogram", grid, 128, (hist, bins, i32(n)))
    np.testing.assert_array_equal(hist, np.bincount(bins, minlength=nbins))


def test_atomic_float_double_max_cas_exch():
    n = 3000
    rng = np.random.default_rng(5)
    x, v = rng.random(n).astype(np.float32), rng.integers(-10**6, 10**6, n).astype(np.int32)
    fsum, dsum = np.zeros(1, np.float32), np.zeros(1, np.float64)
    imax, cas, exch = np.full(1, -2**31, np.int32), np.zeros(1, np.int32), np.zeros(1, np.int32)
    mod("atomics.cu").launch("atomic_mix", -(-n // 256), 256, (fsum, dsum, imax, cas, exch, x, v, i32(n)))
    assert abs(fsum[0] - x.astype(np.float64).sum()) <= n * F32 * np.abs(x).astype(np.float64).sum()
    np.testing.assert_allclose(dsum, [x.astype(np.float64).sum()], rtol=1e-12)
    assert imax[0] == v.max() and cas[0] == n and exch[0] == 7


@fast
@given(n=st.integers(0, 1500), block=st.sampled_from([1, 32, 100, 512]))
def test_extern_shared_dynamic(n, block):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    out = np.full(n, np.nan, np.float32)
    g = max(1, -(-n // block))
    mod("dynamic_smem.cu").launch("stage_double", g, block, (out, x, i32(n)), shared_mem=4 * block)
    padded = np.zeros(g * block, np.float32)
    padded[:n] = x
    ref = 2 * np.roll(padded.reshape(g, block), -1, axis=1).ravel()[:n]
    np.testing.assert_array_equal(out, ref)


def test_uninitialised_dynamic_shared_is_nan():
    out = np.zeros(64, np.float32)
    mod("dynamic_smem.cu").launch("read_uninit", 1, 64, (out,), shared_mem=256)
    assert np.isnan(out).all()


def test_python_int_for_int_param_raises():
    a = np.ones(8, np.float32)
    with pytest.raises(TypeError, match=r"argument 3 'int n'.*np\.int32.*got int 8"):
        mod("vector_add.cu").launch("vector_add", 1, 8, (a, a, a, 8))
    with pytest.raises(TypeError, match=r"argument 3 'int n'.*got np\.int64"):
        mod("vector_add.cu").launch("vector_add", 1, 8, (a, a, a, np.int64(8)))


def test_bad_arrays_and_config_raise():
    m, a = mod("vector_add.cu"), np.ones(8, np.float32)
    with pytest.raises(TypeError, match=r"argument 1 'const float\* __restrict__ a' expects a float32 array, got float64"):
        m.launch("vector_add", 1, 8, (a, a.astype(np.float64), a, i32(8)))
    with pytest.raises(ValueError, match="not C-contiguous"):
        m.launch("vector_add", 1, 4, (a, a[::2], a, i32(4)))
    with pytest.raises(TypeError, match="takes 4 arguments, got 3"):
        m.launch("vector_add", 1, 8, (a, a, a))
    with pytest.raises(ValueError, match="more than 1024 threads"):
        m.launch("vector_add", 1, (64, 32), (a, a, a, i32(8)))
    with pytest.raises(KeyError, match="no kernel 'nope'"):
        m.launch("nope", 1, 1, ())


def test_aliased_arguments_share_memory():
    a = np.arange(10, dtype=np.float32)
    ref = a + a
    mod("vector_add.cu").launch("vector_add", 1, 32, (a, a, a, i32(10)))  # in place: out is a
    np.testing.assert_array_equal(a, ref)


def test_deadlock_is_reported():
    with pytest.raises(ce.DeadlockError) as e:
        mod("broken.cu").launch("deadlock", 1, 64, (np.zeros(64, np.float32),))
    msg = str(e.value)  # source lines of broken.cu: __syncthreads on 5, __syncwarp on 6
    assert msg.startswith("deadlock in kernel 'deadlock' block (0,0,0): 64 of 64 threads blocked")
    assert "waiting at __syncthreads (line 5): threads (1,0,0) (3,0,0)" in msg
    assert "waiting at __syncwarp (line 6): threads (0,0,0) (2,0,0)" in msg


def test_null_write_crash_fails_cleanly():
    with pytest.raises(ce.KernelCrash, match=r"kernel 'null_write'.*crashed: SIG(SEGV|BUS)"):
        mod("broken.cu").launch("null_write", 1, 32, (None, i32(32)))


def test_infinite_loop_times_out():
    with pytest.raises(ce.KernelTimeout, match=r"kernel 'spin'.*did not finish within 0.5 s"):
        mod("broken.cu").launch("spin", 1, 1, (np.zeros(1, np.int32), np.zeros(1, np.int32)), timeout=0.5)


def test_compile_error_names_the_source(tmp_path):
    bad = tmp_path / "bad.cu"
    bad.write_text('extern "C" __global__ void k(float* x) {\n  x[0] = undefined_name;\n}\n')
    with pytest.raises(ce.CompileError, match=r"bad\.cu:2.*undefined_name"):
        ce.load(bad)


def test_source_string_defines_and_stats():
    src = ('#ifndef SCALE\n#error SCALE undefined\n#endif\n'
           'extern "C" __global__ void k(float* out, const float* x, int n) {\n'
           '  for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = SCALE * x[i]; }\n')
    x, out = np.arange(100, dtype=np.float32), np.zeros(100, np.float32)
    before = ce.stats.launches
    m = ce.load(src, defines={"SCALE": "3.0f"})
    assert [p.name for p in m.kernels["k"]] == ["out", "x", "n"]
    m.launch("k", 1, 64, (out, x, i32(100)))
    np.testing.assert_array_equal(out, 3 * x)
    assert ce.stats.launches == before + 1


def test_same_kernel_name_in_two_modules_stays_separate():
    """Two builds of one source (different defines) live in one runner process without clashing."""
    src = ('extern "C" __global__ void scaled(float* out, const float* x) {\n'
           '  __shared__ float s[64]; s[threadIdx.x] = SCALE * x[threadIdx.x]; __syncthreads();\n'
           '  out[threadIdx.x] = s[threadIdx.x]; }\n')
    x, out = np.arange(64, dtype=np.float32), np.zeros(64, np.float32)
    m2, m3 = ce.load(src, defines={"SCALE": 2}), ce.load(src, defines={"SCALE": 3})
    for m, k in [(m2, 2), (m3, 3), (m2, 2)]:
        m.launch("scaled", 1, 64, (out, x))
        np.testing.assert_array_equal(out, k * x)


def test_missing_barrier_gives_wrong_answer():
    """Without the __syncthreads a thread reads its neighbour's slot before it is written."""
    x = np.arange(1, 65, dtype=np.float32)
    out = np.zeros(64, np.float32)
    m = mod("broken.cu")
    m.launch("missing_barrier", 1, 64, (out, np.zeros(64, np.float32)))  # leave stale zeros in s
    m.launch("missing_barrier", 1, 64, (out, x))
    assert not np.array_equal(out, np.roll(x, -1))


SANITIZE = pytest.mark.skipif(os.environ.get("FASTNN_SANITIZERS") != "1", reason="set FASTNN_SANITIZERS=1")


@SANITIZE
@pytest.mark.parametrize("mode", ["address", "thread"])
def test_sanitizer_job(mode):
    check = pathlib.Path(__file__).parent / "cuda_emulator" / "sanitize_check.py"
    r = subprocess.run([sys.executable, str(check), mode], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr


@fast
@given(warps=st.integers(1, 4), density=st.sampled_from([0.0, 0.5, 0.97, 1.0]), seed=st.integers(0, 999))
def test_votes_width_shuffle_syncthreads_and_or(warps, density, seed):
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(32 * warps) < density, rng.integers(1, 9, 32 * warps), -rng.integers(0, 9, 32 * warps))
    x = x.astype(np.int32)
    out = np.zeros((32 * warps, 4), np.int32)
    mod("warp_misc.cu").launch("votes", 1, 32 * warps, (out, x))
    p = (x > 0).reshape(warps, 32)
    np.testing.assert_array_equal(out[:, 0], np.repeat(p.all(1), 32))
    np.testing.assert_array_equal(out[:, 1], np.repeat(p.any(1), 32))
    np.testing.assert_array_equal(out[:, 2], np.repeat(x[::8], 8))
    np.testing.assert_array_equal(out[:, 3], int(p.all()) + 2 * int(p.any()))


def test_partial_mask_shuffle_with_exited_lanes():
    x = np.arange(32, dtype=np.float32)
    out = np.full(32, -1, np.float32)
    mod("warp_misc.cu").launch("half_warp_sum", 1, 32, (out, x))
    np.testing.assert_array_equal(out[:16], np.full(16, x[:16].sum()))
    np.testing.assert_array_equal(out[16:], -1)


def test_in_process_mode_matches(monkeypatch):
    monkeypatch.setenv("FASTNN_EMU_ISOLATE", "0")
    a = np.arange(300, dtype=np.float32)
    out = np.zeros_like(a)
    mod("vector_add.cu").launch("vector_add", 2, 256, (out, a, a, i32(300)))
    np.testing.assert_array_equal(out, a + a)


def test_find_kernels_parses_signatures():
    src = ('// extern "C" __global__ void commented_out(int x) {}\n'
           'template <int N> __global__ void templated(float* x) {}\n'
           'extern "C" __global__ void decl_only(float* x);\n'
           'extern "C" __global__ void __launch_bounds__(256) k1(float* __restrict__ out, const int n) {}\n'
           'extern "C" __global__ void k2(void) {}\n')
    assert ce.find_kernels(src) == [("k1", ["float* __restrict__ out", "const int n"]), ("k2", [])]


@pytest.mark.parametrize("threads", [1, 4])
def test_stack_overflow_fails_cleanly(threads):
    """The lowest stack overflows into a guard page (crash); the others into a neighbour (canary)."""
    expect = r"crashed: SIGSEGV" if threads == 1 else r"failed: stack overflow .*thread \(3,0,0\)"
    with pytest.raises(ce.EmulatorError, match=rf"kernel 'stack_hog'.*{expect}"):
        mod("broken.cu").launch("stack_hog", 1, threads, (np.zeros(threads, np.float32),))
    out = np.zeros(threads, np.float32)
    ce.load(EX / "broken.cu", defines={"EMU_STACK_SIZE": 512 * 1024}).launch("stack_hog", 1, threads, (out,))
    np.testing.assert_array_equal(out, np.arange(threads))
