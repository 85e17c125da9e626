"""Kernel family activation, on every backend and kernel by kernel.

Primitives (`backend` fixture: cpu, and cuda where activation.cu serves float32 and ref.py float64):
backend.activation / activation_backward vs kernels/activation/ref.py, hypothesis shapes with size-0/1
dims and non-contiguous inputs. CPU kernels (Numba entry points): vs float64 central differences
(backward), closed forms and stability at |x| ~ 1e4, error messages. CUDA kernels (activation.cu on the
emulator, small grids exercising the grid-stride loops): the named and the code-switched kernels vs
float64 closed forms, sigmoid's exact limits."""
import importlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cuda_emulator
from conftest_cuda import needs_emulator
from primitive import call, fixture_settings, randn, ref64
from fastnn.kernels.activation import cpu, ref
from fastnn.kernels.cuda_build import cu_file

# ==== primitives on every backend (the `backend` fixture), and the CPU kernels' own checks ====

NAMES = ["relu", "sigmoid", "tanh"]


FLOATS = [np.float32, np.float64]


shapes = st.lists(st.integers(0, 7), min_size=1, max_size=3).map(tuple)


_x = randn


def _ref(name, *arrays):
    return ref64(getattr(ref, name), *arrays)


@fixture_settings(max_examples=40)
@given(name=st.sampled_from(NAMES), dtype=st.sampled_from(FLOATS), shape=shapes, seed=st.integers(0, 2**31),
       contiguous=st.booleans())
def test_forward_matches_reference(backend, name, dtype, shape, seed, contiguous):
    """backend.activation (cpu: Numba; cuda: activation.cu for float32, ref.py on the device otherwise)."""
    x = _x(shape, dtype, seed)
    out = call(backend, "activation", x, name, contiguous=contiguous)
    assert out.dtype == dtype and out.shape == x.shape
    want = _ref(name, x)
    assert np.all(np.abs(out - want) <= 4 * np.finfo(dtype).eps * np.abs(want) + np.finfo(dtype).tiny)


@fixture_settings(max_examples=40)
@given(name=st.sampled_from(NAMES), dtype=st.sampled_from(FLOATS), shape=shapes, seed=st.integers(0, 2**31),
       contiguous=st.booleans())
def test_backward_matches_reference(backend, name, dtype, shape, seed, contiguous):
    x, dout = _x(shape, dtype, seed), _x(shape, dtype, seed + 1)
    out = call(backend, "activation", x, name)
    dx = call(backend, "activation_backward", dout, out, name, contiguous=contiguous)
    assert dx.dtype == dtype and dx.shape == x.shape
    want = _ref(name + "_backward", dout, out)
    eps = np.finfo(dtype).eps
    assert np.all(np.abs(dx - want) <= 4 * eps * np.abs(dout) + np.finfo(dtype).tiny)


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_central_differences(name):
    """float64: dx = dout * f'(x) with f' from (f(x+h) - f(x-h)) / 2h of the reference forward."""
    x = _x((5, 6), np.float64, 0)
    x[np.abs(x) < 1e-3] = 0.5  # keep relu away from its kink
    dout = _x((5, 6), np.float64, 1)
    out = np.empty_like(x)
    getattr(cpu, name)(out, x)
    dx = np.empty_like(x)
    getattr(cpu, name + "_backward")(dx, dout, out)
    h = 1e-6
    num = dout * (_ref(name, x + h) - _ref(name, x - h)) / (2 * h)
    np.testing.assert_allclose(dx, num, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("dtype", FLOATS)
def test_closed_forms_and_stability(dtype):
    x = np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype)
    out = np.empty_like(x)
    with np.errstate(all="raise"):
        cpu.sigmoid(out, x)
        assert np.all(np.isfinite(out))
        np.testing.assert_array_equal(out[[0, 2, 4]], np.array([0.0, 0.5, 1.0], dtype))
        cpu.tanh(out, x)
        np.testing.assert_array_equal(out[[0, 2, 4]], np.array([-1.0, 0.0, 1.0], dtype))
        cpu.relu(out, x)
        np.testing.assert_array_equal(out, np.maximum(x, 0))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("n", [0, 1, 7, 8, 15, 16, 17, 33, 100])
def test_relu_special_values_in_place_and_ragged(dtype, in_place, n):
    """relu's explicit-vector kernels (act_forward_ / act_backward_, the fused steps call them in place)
    over ragged lengths, against NumPy's closed forms: forward x where not x < 0 else 0 (NaN propagates,
    -0.0 and inf kept), backward dout where out > 0 else 0 (a NaN or inf dout does not leak through)."""
    rng = np.random.default_rng(n)
    special = np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 1.0, -1.0], dtype)
    x = np.where(rng.random(n) < 0.3, rng.choice(special, n), rng.standard_normal(n)).astype(dtype)
    want = np.where(x < 0, dtype(0), x)
    out = x.copy() if in_place else np.full(n, 7, dtype)
    cpu.relu(out, out if in_place else x)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(want))
    dout = np.where(rng.random(n) < 0.2, rng.choice(special, n), rng.standard_normal(n)).astype(dtype)
    want_dx = np.where(out > 0, dout, dtype(0))
    dx = dout.copy() if in_place else np.full(n, 7, dtype)
    cpu.relu_backward(dx, dx if in_place else dout, out)
    np.testing.assert_array_equal(dx, want_dx)


def _exact(name, v):
    """sigmoid or tanh of the float v to 40 digits (decimal): the oracle for the float64 kernels."""
    import decimal

    with decimal.localcontext() as ctx:
        ctx.prec = 40
        d = decimal.Decimal(float(v))
        if name == "sigmoid":
            return float(1 / (1 + (-d).exp()))
        if abs(d) < decimal.Decimal("1e-5"):                   # the series: 1 - e would cancel
            return float(d - d ** 3 / 3 + 2 * d ** 5 / 15 - 17 * d ** 7 / 315)
        e = (-2 * abs(d)).exp()
        t = (1 - e) / (1 + e)
        return float(t if d >= 0 else -t)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
@pytest.mark.parametrize("in_place", [False, True])
def test_sigmoid_tanh_vector_exp_accuracy(name, dtype, in_place):
    """The vector exp/expm1 behind sigmoid and tanh (kernels/activation/cpu.py _exp_parts) over a dense
    grid, tiny and huge |x|, the underflow bound of each dtype and special values: within 4 eps of the
    exact value (float64 NumPy for float32 outputs, 40-digit decimal for float64), plus the smallest
    normal where the exact value is subnormal; tanh(+-0) = +-0, sigmoid(+-0) = 0.5, NaN stays NaN."""
    fi = np.finfo(dtype)
    bounds = [87.3, 87.3365, 87.34, 88.8, 103.0, 708.3, 708.3964, 708.5, 745.2, 1e4, np.inf]
    x = np.concatenate([np.linspace(-30, 30, 6001), np.geomspace(float(fi.tiny), 2, 400), bounds, [0.0, np.nan]])
    x = np.concatenate([x, -x]).astype(dtype)
    out = x.copy() if in_place else np.full(x.shape, 7, dtype)
    getattr(cpu, name)(out, out if in_place else x)
    fin = ~np.isnan(x)
    if dtype == np.float64:
        sub = np.flatnonzero(fin)[::7]
        want = np.array([_exact(name, v) for v in x[sub]])
        got = out[sub]
    else:
        with np.errstate(over="ignore"):
            x64 = x[fin].astype(np.float64)
            want = 1 / (1 + np.exp(-x64)) if name == "sigmoid" else np.tanh(x64)
        got = out[fin]
    bad = np.abs(got - want) > 4 * fi.eps * np.abs(want) + fi.tiny
    assert not bad.any(), (x[fin][bad][:5] if dtype == np.float32 else x[sub][bad][:5], got[bad][:5], want[bad][:5])
    assert np.isnan(out[~fin]).all()
    zeros = x == 0
    if name == "tanh":
        np.testing.assert_array_equal(np.signbit(out[zeros]), np.signbit(x[zeros]))
    else:
        np.testing.assert_array_equal(out[zeros], 0.5)


def test_errors_are_clear():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="one shape and dtype"):
        cpu.relu(np.empty((3, 2), np.float32), x)
    with pytest.raises(TypeError, match="int64"):
        cpu.relu(np.empty((2, 3), np.int64), x.astype(np.int64))


# ==== CUDA kernels (the .cu launched on the emulator directly) ====

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


def _grid(n, block=64):
    return max(1, min((n + block - 1) // block, 3))  # deliberately small grids: exercises grid-stride loops


@needs_emulator
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


@needs_emulator
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


@needs_emulator
def test_sigmoid_extremes_are_exact_limits():
    x = np.array([-1e4, -200.0, -80.0, 0.0, 80.0, 200.0, 1e4], f32)
    out = np.full(x.shape, np.nan, f32)
    _mod().launch("sigmoid_forward", grid=1, block=32, args=(out, x, i32(x.size)))
    assert out[0] == 0.0 and out[1] == 0.0 and out[-1] == 1.0 and out[-2] == 1.0 and out[3] == 0.5
    np.testing.assert_allclose(out[2], 1 / (1 + np.exp(80.0)), rtol=4 * EPS)  # normal, survives -ftz
