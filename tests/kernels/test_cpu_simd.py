"""kernels/simd.py intrinsics (masked load/store, gather, broadcast, fma, lane sum; host-width and
v8 vectors; float32, float64, int64) vs NumPy, and every generated GEMM tile in kernels/gemm/_micro.py
(including the ones this host's driver does not pick) against a float64 matmul."""
import numba
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.kernels import simd
from fastnn.kernels.gemm import _micro, _store
from fastnn.kernels.simd import v8, vadd, vbroadcast, vfma, vgather, vload, vsplat, vstore, vsum, vtranspose8, vzeros

FLOATS = [np.float32, np.float64]
DTYPES = FLOATS + [np.int64]
WIDTHS = ["host", "v8"]  # the module-level intrinsics (host lanes) and simd.v8 (8 lanes)


def _lanes(width, dtype):
    return simd.lanes(np.dtype(dtype)) if width == "host" else 8


@numba.njit
def _copy_masked(out, x, i, n):
    # out[:n] = x[i:i+n] through one masked vector load and store
    vstore(out, 0, vload(x, i, n), n)


@numba.njit
def _gather(out, x, i, s, n):
    vstore(out, 0, vgather(x, i, s, n), n)


@numba.njit
def _copy_masked8(out, x, i, n):
    v8.vstore(out, 0, v8.vload(x, i, n), n)


@numba.njit
def _gather8(out, x, i, s, n):
    v8.vstore(out, 0, v8.vgather(x, i, s, n), n)


@numba.njit
def _lane_counts(x):
    return simd.lanes_of(x), v8.lanes_of(x)


@numba.njit
def _fma_sum(x, y, i):
    # sum_j x[i] * y[j] + 0 over one vector of y: vsum(vfma(broadcast, load, zeros))
    return vsum(vfma(vbroadcast(x, i), vload(y, 0, simd.lanes_of(y)), vzeros(y)))


@numba.njit
def _int_ops(x, y, i):
    # (sum_j x[i] * y[j] + (y[j] + 3)) over one 8-lane and one host-width vector of y
    u, W = v8.vload(y, 0, 8), simd.lanes_of(y)
    s8 = v8.vsum(v8.vfma(v8.vbroadcast(x, i), u, v8.vadd(u, v8.vsplat(3))))
    return s8, vsum(vfma(vbroadcast(x, i), vload(y, 0, W), vadd(vload(y, 0, W), vsplat(3))))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_load_store_never_touch_past_n(width, dtype):
    W = _lanes(width, dtype)
    x = np.arange(3 * W, dtype=dtype) + 1
    for i, n in [(0, 0), (0, 1), (3, W - 1), (W, W), (2 * W - 5, 5), (0, -2), (0, W + 3)]:
        out = np.full(W + 4, -7, dtype)
        (_copy_masked if width == "host" else _copy_masked8)(out, x, i, n)
        k = min(max(n, 0), W)
        np.testing.assert_array_equal(out[:k], x[i:i + k])
        np.testing.assert_array_equal(out[k:], -7)  # masked-off lanes are not written


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_reads_a_strided_column(width, dtype):
    W = _lanes(width, dtype)
    x = (100 * np.random.default_rng(0).standard_normal((W + 3, 5))).astype(dtype)
    for n in (W, 3, 0):
        out = np.full(W, -7, dtype)
        (_gather if width == "host" else _gather8)(out, x.reshape(-1), 2, 5, n)
        np.testing.assert_array_equal(out[:n], x[:n, 2])
        np.testing.assert_array_equal(out[n:], -7)


@pytest.mark.parametrize("dtype", FLOATS)
def test_fma_and_lane_sum(dtype):
    W = simd.lanes(np.dtype(dtype))
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(4).astype(dtype), rng.standard_normal(W).astype(dtype)
    want = float(x[2]) * y.astype(np.float64).sum()
    eps = np.finfo(dtype).eps
    assert abs(_fma_sum(x, y, 2) - want) <= W * eps * abs(x[2]) * np.abs(y).sum() + np.finfo(dtype).tiny


@numba.njit
def _transpose8(a, out):
    # out (8,8) = a (8,8).T through vtranspose8 (both flat)
    rows = (v8.vload(a, 0, 8), v8.vload(a, 8, 8), v8.vload(a, 16, 8), v8.vload(a, 24, 8),
            v8.vload(a, 32, 8), v8.vload(a, 40, 8), v8.vload(a, 48, 8), v8.vload(a, 56, 8))
    cols = vtranspose8(rows)
    for j in range(8):
        vstore(out, j * 8, cols[j], 8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_transpose8_is_the_transpose(dtype):
    a = np.random.default_rng(0).permutation(64).astype(dtype)
    out = np.empty(64, dtype)
    _transpose8(a, out)
    np.testing.assert_array_equal(out.reshape(8, 8), a.reshape(8, 8).T)


def test_int64_fma_add_splat_sum_are_exact_and_v8_has_8_lanes():
    x, y = np.array([5, -7, 2**40], np.int64), np.arange(-8, 16, dtype=np.int64) * 3
    W = simd.lanes(np.dtype(np.int64))
    assert _lane_counts(y) == (W, 8)
    assert _int_ops(x, y, 1) == tuple(int((-7 * y[:w] + y[:w] + 3).sum()) for w in (8, W))
    assert _int_ops(x, y, 2) == tuple(int((2**40 * y[:w] + y[:w] + 3).sum()) for w in (8, W))


def _tiles(prefix, packed=False):
    # the generated tiles named prefix*; the packed-A axpy tiles end in "p"
    return [getattr(_micro, n) for n in dir(_micro) if n.startswith(prefix) and n.endswith("p") == packed]


def _check_axpy(MR, dtype, kc, frac_m, frac_n, seed, run):
    # run(out, A, B, mv, nv, NR) writes out[:mv, :nv] (=|+=) A[:mv] @ B[:, :nv] through a tile; checked
    # against float64 with the bound (kc + 2) eps |A||B|, and every other element of out untouched
    NR = 2 * simd.lanes(np.dtype(dtype))
    mv, nv = 1 + int(frac_m * (MR - 1)), 1 + int(frac_n * (NR - 1))
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((MR, kc)).astype(dtype), rng.standard_normal((kc, NR + 3)).astype(dtype)
    prev = rng.standard_normal((MR, NR + 5)).astype(dtype)
    out = prev.copy()
    acc = run(out, A, B, mv, nv, NR)
    want = prev.astype(np.float64)
    want[:mv, :nv] = (prev[:mv, :nv] if acc else 0) + A[:mv].astype(np.float64) @ B[:, :nv]
    mag = np.abs(A).astype(np.float64) @ np.abs(B) + np.abs(prev)[:, :NR + 3]
    bound = (kc + 2) * np.finfo(dtype).eps * np.pad(mag, ((0, 0), (0, 2))) + np.finfo(dtype).tiny
    assert np.all(np.abs(out - want) <= bound)


_AXPY_ARGS = dict(dtype=st.sampled_from(FLOATS), trans=st.booleans(), acc=st.booleans(), kc=st.integers(0, 40),
                  frac_m=st.floats(0, 1), frac_n=st.floats(0, 1), seed=st.integers(0, 2**31))


@settings(max_examples=30, deadline=None)
@given(tile=st.sampled_from(_tiles("axpy_")), **_AXPY_ARGS)
def test_axpy_tiles(tile, dtype, trans, acc, kc, frac_m, frac_n, seed):
    MR = int(tile.__name__.split("_")[1])

    def run(out, A, B, mv, nv, NR):  # A read in place: a (MR,kc), or a (kc,MR) for trans
        a = np.ascontiguousarray(A.T) if trans else A
        sai, sap = (1, MR) if trans else (kc, 1)
        tile(out.reshape(-1), 0, NR + 5, a.reshape(-1), 0, sai, sap, B.reshape(-1), 0, NR + 3, kc, mv, nv, acc)
        return acc
    _check_axpy(MR, dtype, kc, frac_m, frac_n, seed, run)


@settings(max_examples=30, deadline=None)
@given(tile=st.sampled_from(_tiles("axpy_", packed=True)), **_AXPY_ARGS)
def test_packed_axpy_tiles(tile, dtype, trans, acc, kc, frac_m, frac_n, seed):
    MR = int(tile.__name__.split("_")[1][:-1])

    def run(out, A, B, mv, nv, NR):  # A packed by pack_a from a (MR,kc) or a (kc,MR), 3 elements in
        a = np.ascontiguousarray(A.T) if trans else A
        sai, sap = (1, MR) if trans else (kc, 1)
        flat = np.concatenate([np.full(3, np.nan, dtype), a.reshape(-1)])
        ap = np.full(MR * kc + 2, np.nan, dtype)
        _store.pack_a(ap, 1, flat, 3, sai, sap, kc, mv, MR)
        want_ap = np.zeros((kc, MR), dtype)
        want_ap[:, :mv] = A[:mv].T
        assert np.array_equal(ap[1:1 + MR * kc], want_ap.reshape(-1)) and np.isnan(ap[[0, -1]]).all()
        tile(out.reshape(-1), 0, NR + 5, ap, 1, B.reshape(-1), 0, NR + 3, kc, mv, nv, acc)
        return acc
    _check_axpy(MR, dtype, kc, frac_m, frac_n, seed, run)


@settings(max_examples=30, deadline=None)
@given(tile=st.sampled_from(_tiles("dot_")), dtype=st.sampled_from(FLOATS), acc=st.booleans(),
       kc=st.integers(0, 70), frac_m=st.floats(0, 1), frac_n=st.floats(0, 1), seed=st.integers(0, 2**31))
def test_dot_tiles(tile, dtype, acc, kc, frac_m, frac_n, seed):
    MR, NR = (int(v) for v in tile.__name__.split("_")[1].split("x"))
    mv, nv = 1 + int(frac_m * (MR - 1)), 1 + int(frac_n * (NR - 1))
    rng = np.random.default_rng(seed)
    A, Bt = rng.standard_normal((MR, kc + 2)).astype(dtype), rng.standard_normal((NR, kc + 1)).astype(dtype)
    prev = rng.standard_normal((MR, NR + 1)).astype(dtype)
    out = prev.copy()
    tile(out.reshape(-1), 0, NR + 1, A.reshape(-1), 0, kc + 2, Bt.reshape(-1), 0, kc + 1, kc, mv, nv, acc)
    want = prev.astype(np.float64)
    want[:mv, :nv] = (prev[:mv, :nv] if acc else 0) + A[:mv, :kc].astype(np.float64) @ Bt[:nv, :kc].T
    mag = np.abs(A[:, :kc]).astype(np.float64) @ np.abs(Bt[:, :kc]).T + np.abs(prev)[:, :NR]
    bound = (kc + 2) * np.finfo(dtype).eps * np.pad(mag, ((0, 0), (0, 1))) + np.finfo(dtype).tiny
    assert np.all(np.abs(out - want) <= bound)


@numba.njit
def _copy_range(out, x, i, lo, hi):
    # out[lo:hi] = x[i+lo:i+hi] through a range-masked load (zeros elsewhere) and a full store, then
    # out[W + lo : W + hi] = the same lanes through a range-masked store over a NaN-free background
    W = simd.lanes_of(x)
    v = simd.vloadr(x, i, lo, hi)
    vstore(out, 0, v, W)
    simd.vstorer(out, W + i, v, lo, hi)


@pytest.mark.parametrize("dtype", DTYPES)
def test_range_masked_load_and_store(dtype):
    W = simd.lanes(np.dtype(dtype))
    x = np.arange(4 * W, dtype=dtype) + 1
    for i, lo, hi in [(W, 0, W), (W, 3, W - 2), (W, 5, 5), (W, 6, 2), (W - 3, 3, W), (0, 0, 1), (2 * W, 1, W)]:
        out = np.full(5 * W, -7, dtype)
        _copy_range(out, x, i, lo, hi)
        want = np.zeros(W, dtype)
        want[lo:max(lo, hi)] = x[i + lo:i + max(lo, hi)]
        np.testing.assert_array_equal(out[:W], want)                    # zeros outside [lo, hi)
        stored = out[W:]
        mask = np.zeros(stored.size, bool)
        mask[i + lo:i + max(lo, hi)] = True
        np.testing.assert_array_equal(stored[mask], x[i + lo:i + max(lo, hi)])
        np.testing.assert_array_equal(stored[~mask], -7)                # lanes outside never written


@numba.njit
def _take(out, v, m, a, b, nan_takes):
    W = simd.lanes_of(v)
    vv, mm, aa, bb = vload(v, 0, W), vload(m, 0, W), vload(a, 0, W), vload(b, 0, W)
    vstore(out, 0, simd.vtake(vv, mm, aa, bb) if nan_takes else simd.vwhere(vv, mm, aa, bb), W)


@pytest.mark.parametrize("nan_takes", [True, False])
@pytest.mark.parametrize("dtype", FLOATS)
def test_take_is_torchs_max_scan_step_and_where_is_ordered(dtype, nan_takes):
    """vtake: a where v > m or v is NaN (torch's max scan step); vwhere: a where v > m, ordered (relu)."""
    W = simd.lanes(np.dtype(dtype))
    rng = np.random.default_rng(3)
    v, m = rng.integers(-2, 3, W).astype(dtype), rng.integers(-2, 3, W).astype(dtype)
    v[:3], m[:3] = [np.nan, 1.0, np.nan], [1.0, np.nan, np.nan]                # NaN in v, in m, in both
    if W > 4:
        v[3:5], m[3:5] = [-np.inf, 0.0], [-np.inf, -0.0]                       # ties are not taken
    a, b = np.arange(W, dtype=dtype), -np.arange(W, dtype=dtype) - 1
    out = np.empty(W, dtype)
    _take(out, v, m, a, b, nan_takes)
    take = np.array([vj > mj or (nan_takes and np.isnan(vj)) for vj, mj in zip(v, m)])
    np.testing.assert_array_equal(out, np.where(take, a, b))


@numba.njit
def _unzip(out, a):
    W = simd.lanes_of(a)
    x, y = vload(a, 0, W), vload(a, W, W)
    vstore(out, 0, simd.vunzip(x, y, 0), W)
    vstore(out, W, simd.vunzip(x, y, 1), W)
    vstore(out, 2 * W, simd.vzip(simd.vunzip(x, y, 0), simd.vunzip(x, y, 1)), 2 * W)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unzip_splits_a_run_by_parity_and_zip_undoes_it(dtype):
    W = simd.lanes(np.dtype(dtype))
    a = np.random.default_rng(1).permutation(2 * W).astype(dtype)
    out = np.empty(4 * W, dtype)
    _unzip(out, a)
    np.testing.assert_array_equal(out[:W], a[0::2])
    np.testing.assert_array_equal(out[W:2 * W], a[1::2])
    np.testing.assert_array_equal(out[2 * W:], a)


@numba.njit
def _store_int(out, x, i, n):
    # out[i:i+n] = int64(x[:n]) through one masked float load and one converting store
    simd.vstorei(out, i, vload(x, 0, n), n)


@pytest.mark.parametrize("dtype", FLOATS)
@settings(max_examples=30, deadline=None)
@given(n=st.integers(-1, 20), i=st.integers(0, 3), seed=st.integers(0, 2 ** 16))
def test_converting_store_truncates_like_int64_and_never_touches_past_n(dtype, n, i, seed):
    L = simd.lanes(np.dtype(dtype))
    x = (np.random.default_rng(seed).uniform(-2 ** 20, 2 ** 20, L) * np.array([1, 0.5] * L)[:L]).astype(dtype)
    out = np.full(L + 4, -7, np.int64)
    _store_int(out, x, np.int64(i), np.int64(n))
    k = max(0, min(n, L))
    want = np.full(L + 4, -7, np.int64)
    want[i:i + k] = [np.int64(v) for v in x[:k]]
    assert np.array_equal(out, want)
