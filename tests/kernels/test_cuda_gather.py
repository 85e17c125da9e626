"""CUDA data-pipeline kernels of the fused MLP (kernels/fused_mlp/gather.cu) on the CPU emulator vs NumPy
fancy indexing: batch gathers through a device permutation + cursor, and epoch loss/accuracy accumulators."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cuda_emulator
from conftest_cuda import needs_emulator
from fastnn.kernels.cuda_build import cu_file

pytestmark = needs_emulator
EPS = np.finfo(np.float32).eps
i32, i64, f32 = np.int32, np.int64, np.float32


def _mod():
    return cuda_emulator.load(cu_file("fused_mlp", "gather"))


@pytest.mark.parametrize("dtype", ["f32", "u8"])
@pytest.mark.parametrize("itype", ["i64", "i32"])
@settings(max_examples=12, deadline=None)
@given(N=st.integers(1, 60), D=st.integers(1, 40), B=st.integers(1, 16), start=st.integers(0, 70),
       use_pos=st.booleans(), seed=st.integers(0, 2**16))
def test_gather_rows_and_labels(dtype, itype, N, D, B, start, use_pos, seed):
    rng = np.random.default_rng(seed)
    data = (rng.integers(0, 256, (N, D)).astype(np.uint8) if dtype == "u8"
            else rng.standard_normal((N, D)).astype(f32))
    labels = rng.integers(0, 10, N).astype(i64)
    perm = rng.permutation(N).astype(np.int64 if itype == "i64" else np.int32)
    start = start % N
    pos = np.array([start], i32) if use_pos else None  # device cursor, or the start row passed directly
    host_start = 0 if use_pos else start
    scale, shift = (1 / 255 / 0.3, -0.1 / 0.3) if dtype == "u8" else (1.0, 0.0)
    out = np.full((B, D), -7.0, f32)
    _mod().launch(f"gather_rows_{dtype}_{itype}", grid=2, block=64,
                  args=(out, data, perm, pos, i32(host_start), i32(B), i32(N), i32(D), f32(scale), f32(shift)))
    rows = perm[start: start + B]
    k = rows.size  # ragged last batch: rows past N are left untouched
    ref = data[rows].astype(np.float64) * np.float32(scale) + np.float32(shift)
    assert np.all(np.abs(out[:k] - ref) <= 4 * EPS * (np.abs(ref) + abs(shift)))
    assert np.all(out[k:] == -7.0)
    lab = np.full(B, -1, i64)
    _mod().launch(f"gather_labels_{itype}", grid=1, block=32,
                  args=(lab, labels, perm, pos, i32(host_start), i32(B), i32(N)))
    np.testing.assert_array_equal(lab[:k], labels[rows])
    assert np.all(lab[k:] == -1)


def test_cursor_walks_epoch_and_wraps():
    N, B = 10, 4
    pos = np.array([0], i32)
    seen = []
    for _ in range(4):
        seen.append(int(pos[0]))
        _mod().launch("advance_cursor", grid=1, block=1, args=(pos, i32(B), i32(N)))
    assert seen == [0, 4, 8, 0]


@settings(max_examples=15, deadline=None)
@given(B=st.integers(1, 12), C=st.integers(1, 80), block=st.sampled_from([32, 64]), seed=st.integers(0, 2**16))
def test_epoch_accumulate_and_reset(B, C, block, seed):
    rng = np.random.default_rng(seed)
    logits = np.round(rng.standard_normal((B, C)) * 2).astype(f32)  # rounded: ties -> first index wins
    labels = rng.integers(0, C, B).astype(i64)
    loss_rows = rng.random(B).astype(f32)
    loss_sum, correct = np.array([np.nan], f32), np.array([-5], i32)
    _mod().launch("epoch_reset", grid=1, block=1, args=(loss_sum, correct))
    assert loss_sum[0] == 0.0 and correct[0] == 0
    for _ in range(2):  # two batches accumulate
        _mod().launch("epoch_accumulate", grid=min(B, 3), block=block,
                      args=(loss_sum, correct, loss_rows, logits, labels, i32(B), i32(C)))
    assert correct[0] == 2 * np.sum(np.argmax(logits, axis=1) == labels)
    ref = 2 * loss_rows.astype(np.float64).sum()
    assert abs(loss_sum[0] - ref) <= 4 * EPS * 2 * B * ref


@pytest.mark.parametrize("p", [0.0, 0.25, 0.5, 0.9])
@pytest.mark.parametrize("use_step_ptr", [False, True])
@pytest.mark.parametrize("seed", [12345, 2**63 + 977])
@pytest.mark.parametrize("index0", [0, 3 * 517])
def test_dropout_hash_matches_ref_masks(p, use_step_ptr, seed, index0):
    """seed as a scalar, or (with the step pointer) from a device buffer, as a captured graph reads it;
    index0 offsets the hashed index (a data-parallel rank's first row in the global batch)."""
    from fastnn.kernels.fused_mlp import ref
    rng = np.random.default_rng(int(p * 100))
    n, layer, step = 517, 2, 7
    x = rng.standard_normal(n).astype(f32)
    hp = np.array([step - 1, 0.1, 0, 0], np.float64) if use_step_ptr else None  # optimizer's device counter
    seed_buf = np.array([seed], np.uint64) if use_step_ptr else None
    out = np.full(n, np.nan, f32)
    _mod().launch("dropout_hash", grid=3, block=64,
                  args=(out, x, np.uint64(0 if use_step_ptr else seed), seed_buf, hp,
                        i64(1 if use_step_ptr else step), i32(layer), i32(n), np.float64(p), i64(index0)))
    u = ref.dropout_uniform(seed, step, layer, index0 + np.arange(n))
    expect = np.where(u >= p, x * np.float32(1.0 / (1.0 - p)), np.float32(0))
    np.testing.assert_array_equal(out, expect)  # same hash, same single rounding: bit-identical
    assert 0 < (out != 0).sum() < n or p == 0.0


@settings(max_examples=15, deadline=None)
@given(B=st.integers(1, 9), C=st.integers(1, 70), block=st.sampled_from([32, 64]), seed=st.integers(0, 2**16))
def test_mse_fused(B, C, block, seed):
    rng = np.random.default_rng(seed)
    pred = np.round(rng.standard_normal((B, C)) * 2).astype(f32)  # ties in argmax: first index wins
    y = np.round(rng.standard_normal((B, C)) * 2).astype(f32)
    loss_rows = np.full(B, np.nan, f32)
    dpred = np.full((B, C), np.nan, f32)
    loss_sum, correct = np.array([1.0], f32), np.array([2], i32)
    _mod().launch("mse_fused", grid=min(B, 4), block=block,
                  args=(loss_rows, dpred, pred, y, i32(B), i32(C), loss_sum, correct))
    diff = pred.astype(np.float64) - y
    ref_rows = (diff * diff).mean(axis=1)
    assert np.all(np.abs(loss_rows - ref_rows) <= 4 * EPS * np.sqrt(C + 1) * ref_rows + 1e-38)
    np.testing.assert_allclose(loss_rows.astype(np.float64).mean(), (diff * diff).mean(), rtol=8 * EPS * np.sqrt(C + B))
    assert np.all(np.abs(dpred - 2 * diff / diff.size) <= 4 * EPS * np.abs(2 * diff / diff.size))
    assert correct[0] == 2 + np.sum(pred.argmax(axis=1) == y.argmax(axis=1))
    assert abs(loss_sum[0] - (1.0 + ref_rows.sum())) <= 8 * EPS * (1.0 + ref_rows.sum()) * np.sqrt(C + B)
