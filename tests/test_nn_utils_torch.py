"""fastnn.nn.utils and fastnn.autograd's anomaly mode against torch running the same program: clipped
gradients, returned norms and error messages; detect_anomaly naming the op whose backward made NaN."""
import math
import warnings

import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
from fastnn import autograd

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def _grads_pair(arrays, device, dtype):
    t, f = [], []
    for a in arrays:
        tp = torch.zeros(a.shape, dtype=getattr(torch, dtype), requires_grad=True)
        tp.grad = torch.tensor(a, dtype=getattr(torch, dtype))
        fp = fastnn.zeros(*a.shape, dtype=getattr(fastnn, dtype), device=device, requires_grad=True)
        fp.grad = fastnn.tensor(a, dtype=getattr(fastnn, dtype), device=device)
        t.append(tp)
        f.append(fp)
    return t, f


def _np(x):
    return x.detach().cpu().numpy() if hasattr(x, "cpu") else x.backend.to_numpy(x._data)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf"), 0.0])
@pytest.mark.parametrize("max_norm", [0.1, 1e6])
def test_clip_grad_norm_like_torch(backend, dtype, norm_type, max_norm):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) * 2 for s in ((4, 3), (3,), (1, 5))] + [np.zeros((2, 2))]
    t, f = _grads_pair(arrays, backend, dtype)
    tn = torch.nn.utils.clip_grad_norm_(t, max_norm, norm_type)
    fn = nn.utils.clip_grad_norm_(f, max_norm, norm_type)
    eps = np.finfo(dtype).eps
    assert str(fn.dtype).split(".")[-1] == str(tn.dtype).split(".")[-1]
    np.testing.assert_allclose(float(fn), float(tn), rtol=16 * eps)
    for tp, fp in zip(t, f):
        want = _np(tp.grad)
        np.testing.assert_allclose(_np(fp.grad), want, rtol=16 * eps, atol=16 * eps * np.abs(want).max(initial=1.0))


def test_clip_errors_and_value_like_torch(backend):
    a = [np.array([1.0, np.inf]), np.array([-5.0, 0.25])]
    t, f = _grads_pair(a, backend, "float64")
    with pytest.raises(RuntimeError) as te:
        torch.nn.utils.clip_grad_norm_(t, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError) as fe:
        nn.utils.clip_grad_norm_(f, 1.0, error_if_nonfinite=True)
    assert str(fe.value) == str(te.value)
    torch.nn.utils.clip_grad_value_(t, 0.5)
    nn.utils.clip_grad_value_(f, 0.5)
    for tp, fp in zip(t, f):
        np.testing.assert_array_equal(_np(fp.grad), _np(tp.grad))
    with pytest.raises(TypeError) as te:
        torch.nn.utils.vector_to_parameters(np.zeros(3), t)
    with pytest.raises(TypeError) as fe:
        nn.utils.vector_to_parameters(np.zeros(3), f)
    assert str(fe.value) == str(te.value)


def test_parameters_to_vector_like_torch():
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)).double()
    fm = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).double()
    fm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    np.testing.assert_array_equal(_np(nn.utils.parameters_to_vector(fm.parameters())),
                                  _np(torch.nn.utils.parameters_to_vector(tm.parameters())))


def _nan_backward(lib, dev_kw):
    """y = (a * inf) * 0: the outer MulBackward0 passes 0 down, the inner one computes 0 * inf = NaN
    for a's gradient (its 0th output)."""
    a = lib.tensor([1.0, 2.0], requires_grad=True, **dev_kw)
    b = lib.tensor([math.inf, 1.0], **dev_kw)
    _nan_backward.leaf = a
    return ((a * b) * 0).sum()


def test_detect_anomaly_names_the_op_like_torch(backend):
    with warnings.catch_warnings(record=True) as tw, torch.autograd.detect_anomaly():
        warnings.simplefilter("always")
        y = _nan_backward(torch, {})
        with pytest.raises(RuntimeError) as te:
            y.backward()
    with warnings.catch_warnings(record=True) as fw, autograd.detect_anomaly():
        warnings.simplefilter("always")
        y = _nan_backward(fastnn, {"device": backend})
        with np.errstate(invalid="ignore"), pytest.raises(RuntimeError) as fe:
            y.backward()
    assert str(fe.value) == str(te.value) == "Function 'MulBackward0' returned nan values in its 0th output."
    ours = [str(w.message) for w in fw]
    assert str(tw[0].message) == ours[0]          # "Anomaly Detection has been enabled. ..."
    assert any(m.startswith("Error detected in MulBackward0. Traceback of forward call that caused the error:")
               and "_nan_backward" in m for m in ours)
    assert not fastnn.is_anomaly_enabled() and not torch.is_anomaly_enabled()


def test_anomaly_off_lets_nan_through_and_set_detect_anomaly_restores(backend):
    y = _nan_backward(fastnn, {"device": backend})
    with np.errstate(invalid="ignore"):
        y.backward()                               # off: no check, the NaN reaches the leaf (as in torch)
    assert np.isnan(_np(_nan_backward.leaf.grad)).tolist() == [True, False]
    with autograd.set_detect_anomaly(True):
        assert fastnn.is_anomaly_enabled() and fastnn.is_anomaly_check_nan_enabled()
        y = _nan_backward(fastnn, {"device": backend})
        with np.errstate(invalid="ignore"), pytest.warns(UserWarning, match="Error detected in MulBackward0"), \
                pytest.raises(RuntimeError, match="returned nan values in its 0th output"):
            y.backward()
    assert not fastnn.is_anomaly_enabled()
    with autograd.set_detect_anomaly(True, check_nan=False):
        y = _nan_backward(fastnn, {"device": backend})
        with np.errstate(invalid="ignore"):
            y.backward()                           # check_nan=False: recorded but not checked, as torch
        assert np.isnan(_np(_nan_backward.leaf.grad)).tolist() == [True, False]
    assert not fastnn.is_anomaly_enabled()
