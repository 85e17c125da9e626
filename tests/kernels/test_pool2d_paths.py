"""Both CPU max-pool forward paths (SIMD over a row's outputs, scalar per window) and the dispatcher,
against kernels/pool2d/ref.py in float32 and float64: values and argmax positions, with ties, NaN and
-inf in the data (torch's scan), padding, dilation, ceil_mode and size-1 dims."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.kernels.pool2d import cpu, ref
from fastnn.kernels.pool2d.windows import sliding


@st.composite
def cases(draw):
    k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 2))
    p = draw(st.integers(0, k // 2))
    H, W = draw(st.integers(d * (k - 1) + 1, 12)), draw(st.integers(d * (k - 1) + 1, 45))
    return dict(C=draw(st.integers(1, 3)), H=H, W=W, k=k, s=s, p=p, d=d, ceil=draw(st.booleans()),
                seed=draw(st.integers(0, 2 ** 16)))


def _data(c, dtype):
    rng = np.random.default_rng(c["seed"])
    x = rng.integers(-3, 4, (1, c["C"], c["H"], c["W"])).astype(dtype)     # many ties
    x[rng.random(x.shape) < 0.05] = np.nan
    x[rng.random(x.shape) < 0.05] = -np.inf
    hs, hn, _, _ = sliding(c["H"], c["k"], c["s"], c["p"], c["d"], c["ceil"])
    ws, wn, _, _ = sliding(c["W"], c["k"], c["s"], c["p"], c["d"], c["ceil"])
    return x, hs, hn, ws, wn


def _check(fn, c, dtype, tables):
    x, hs, hn, ws, wn = _data(c, dtype)
    want, want_idx = ref.max_forward(x, hs, hn, ws, wn, c["d"], c["d"])
    out, idx = np.full(want.shape[1:], 7, dtype), np.full(want.shape[1:], -1, np.int64)
    fn(out, idx, x[0], hs, hn, ws, *tables(wn), np.int64(c["d"]), np.int64(c["d"]))
    np.testing.assert_array_equal(out, want[0])                   # NaN == NaN here
    np.testing.assert_array_equal(idx, want_idx[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, deadline=None)
@given(c=cases())
def test_max_forward_paths_match_reference(dtype, c):
    x, hs, hn, ws, wn = _data(c, dtype)
    _check(cpu.max_image_forward_scalar, c, dtype, lambda wn: (wn,))
    _check(cpu.max_image_forward, c, dtype, lambda wn: (wn,))
    sw = cpu.uniform_stride(ws, wn)
    if sw > 0:
        _check(cpu.max_image_forward_simd, c, dtype, lambda wn: (wn[0], sw))


def test_uniform_stride_detects_clipped_windows():
    ws, wn, _, _ = sliding(28, 2, 2, 0, 1, False)
    assert cpu.uniform_stride(ws, wn) == 2
    ws, wn, _, _ = sliding(28, 3, 2, 1, 1, False)                 # the first window is clipped by padding
    assert cpu.uniform_stride(ws, wn) == 0
    ws, wn, _, _ = sliding(5, 2, 2, 0, 1, True)                   # ceil_mode: the last window is cut
    assert cpu.uniform_stride(ws, wn) == 0


GUARDED = """
import ctypes, mmap
import numpy as np
from fastnn.kernels.pool2d import cpu as pool, windows as win
page = mmap.PAGESIZE
buf = mmap.mmap(-1, 2 * page)
addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
assert ctypes.CDLL(None).mprotect(ctypes.c_void_p(addr + page), ctypes.c_size_t(page), 0) == 0  # PROT_NONE
for dtype in (np.float32, np.float64):
    first = np.frombuffer(buf, dtype, count=page // np.dtype(dtype).itemsize)
    for W in (2, 6, 28, 40):                        # 1..20 outputs per row: one or two vectors
        x = first[first.size - 2 * W:].reshape(1, 2, W)   # the image's last element ends the page
        x[:] = np.random.default_rng(W).standard_normal(x.shape)
        hs, hn = win.sliding(2, 2, 2, 0, 1, False)[:2]
        ws, wn = win.sliding(W, 2, 2, 0, 1, False)[:2]
        out, idx = np.empty((1, 1, W // 2), dtype), np.empty((1, 1, W // 2), np.int64)
        pool.max_image_forward(out, idx, x, hs, hn, ws, wn, np.int64(1), np.int64(1))
        want = x.reshape(1, 1, 2, W // 2, 2).max(axis=(2, 4))
        assert (out == want).all(), (dtype, W)
print("ok")
"""


def test_stride2_max_forward_never_reads_past_the_image(tmp_path):
    """The stride-2 row path loads 2n - 1 elements per window column: run in a child with the image
    ending a page whose successor is PROT_NONE, so one element too many faults. (cwd: not the repo
    root, where `python -c` would import the source tree instead of the installed fastnn.)"""
    import os
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", GUARDED], capture_output=True, text=True, env=dict(os.environ),
                       cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr[-2000:])
