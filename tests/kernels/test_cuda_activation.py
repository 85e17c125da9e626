"""CUDA activation kernels (kernels/activation/activation.cu) on the CPU emulator vs float64 closed forms."""
import importlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

cuda_emulator = pytest.importorskip("cuda_emulator")
from fastnn.kernels.cuda_build import cu_file  # noqa: E402

pytestmark = pytest.mark.skipif(not cuda_emulator.available(), reason="CUDA emulator (g++ C++20) unusable here")
EPS = np.finfo(np.float32).eps
i32, f32 = np.int32, np.float32
ACTS = {"none": 0, "relu": 1, "sigmoid": 2, "tanh": 3}


def _mod():
    return cuda_emulator.load(cu_file("activation"))


def _fwd64(name, x):
    """float64 forward oracle: ref.<name>(out, x) when kernels/activation/ref.py has it, else closed form."""
    out = np.empty(x.shape, np.float64)
    try:
        getattr(importlib.import_module("fastnn.kernels.activation.ref"), name)(out, x)
        return out
    except (ImportError, AttributeError):
        pass
    with np.errstate(over="ignore"):
        return {"none": lambda v: v, "relu": lambda v: np.maximum(v, 0.0),
                "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)), "tanh": np.tanh}[name](x)


def _bwd64(name, dout, out):
    """float64 backward oracle through the saved output: ref.<name>_backward(dx, dout, out) or closed form."""
    dx = np.empty(out.shape, np.float64)
    try:
        getattr(importlib.import_module("fastnn.kernels.activation.ref"), f"{name}_backward")(dx, dout, out)
        return dx
    except (ImportError, AttributeError):
        pass
    d = {"none": np.ones_like(out), "relu": (out > 0).astype(np.float64),
         "sigmoid": out * (1 - out), "tanh": 1 - out * out}[name]
    return dout * d


def _bias_act64(pre, x, b, act, name):
    """float64 oracle of bias_act: ref.bias_act(out, x, b, act) when present, else the forward of x + b."""
    out = np.empty(x.shape, np.float64)
    try:
        ref = importlib.import_module("fastnn.kernels.activation.ref")
        ref.bias_act(out, x, np.zeros(x.shape[1]) if b is None else b.astype(np.float64), act)
        return out
    except (ImportError, AttributeError):
        return _fwd64(name, pre)


def _grid(n, block=64):
    return max(1, min((n + block - 1) // block, 3))  # deliberately small grids: exercises grid-stride loops


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 700), scale=st.sampled_from([1.0, 30.0, 1e4]), seed=st.integers(0, 2**16))
def test_named_forward_backward(name, n, scale, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * scale).astype(f32)
    out = np.full(n, np.nan, f32)
    _mod().launch(f"{name}_forward", grid=_grid(n), block=64, args=(out, x, i32(n)))
    ref = _fwd64(name, x.astype(np.float64))
    assert np.all(np.isfinite(out))
    assert np.all(np.abs(out - ref) <= 4 * EPS * np.abs(ref) + 1e-38)
    dout = rng.standard_normal(n).astype(f32)
    dx = np.full(n, np.nan, f32)
    _mod().launch(f"{name}_backward", grid=_grid(n), block=64, args=(dx, dout, out, i32(n)))
    ref_dx = _bwd64(name, dout.astype(np.float64), out.astype(np.float64))
    assert np.all(np.abs(dx - ref_dx) <= 4 * EPS * np.abs(dout) + 1e-38)


@pytest.mark.parametrize("name", list(ACTS))
def test_generic_act_kernels_agree_with_oracle(name):
    rng = np.random.default_rng(ACTS[name])
    n = 301
    x = (rng.standard_normal(n) * 5).astype(f32)
    out = np.full(n, np.nan, f32)
    _mod().launch("act_forward", grid=2, block=32, args=(out, x, i32(n), i32(ACTS[name])))
    ref = _fwd64(name, x.astype(np.float64))
    assert np.all(np.abs(out - ref) <= 4 * EPS * np.abs(ref) + 1e-38)
    dout = rng.standard_normal(n).astype(f32)
    dx = np.full(n, np.nan, f32)
    _mod().launch("act_backward", grid=2, block=32, args=(dx, dout, out, i32(n), i32(ACTS[name])))
    ref_dx = _bwd64(name, dout.astype(np.float64), out.astype(np.float64))
    assert np.all(np.abs(dx - ref_dx) <= 4 * EPS * np.abs(dout) + 1e-38)


def test_sigmoid_extremes_are_exact_limits():
    x = np.array([-1e4, -200.0, -80.0, 0.0, 80.0, 200.0, 1e4], f32)
    out = np.full(x.shape, np.nan, f32)
    _mod().launch("sigmoid_forward", grid=1, block=32, args=(out, x, i32(x.size)))
    assert out[0] == 0.0 and out[1] == 0.0 and out[-1] == 1.0 and out[-2] == 1.0 and out[3] == 0.5
    np.testing.assert_allclose(out[2], 1 / (1 + np.exp(80.0)), rtol=4 * EPS)  # normal, survives -ftz


@pytest.mark.parametrize("name", list(ACTS))
@pytest.mark.parametrize("with_bias", [True, False])
@settings(max_examples=8, deadline=None)
@given(M=st.integers(1, 9), N=st.integers(1, 70), seed=st.integers(0, 2**16))
def test_bias_act_forward(name, with_bias, M, N, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((M, N)) * 3).astype(f32)
    b = rng.standard_normal(N).astype(f32) if with_bias else None
    out = np.full((M, N), np.nan, f32)
    _mod().launch("bias_act_forward", grid=_grid(M * N), block=64,
                  args=(out, x, b, i32(M), i32(N), i32(ACTS[name])))
    pre = x.astype(np.float64) + (b if with_bias else 0.0)
    ref = _bias_act64(pre, x.astype(np.float64), b, ACTS[name], name)
    # x + b rounds once (|err| <= eps|pre|), every activation here is 1-Lipschitz
    assert np.all(np.abs(out - ref) <= 4 * EPS * (np.abs(ref) + np.abs(pre)) + 1e-38)
