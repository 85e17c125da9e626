"""Losses: forward against NumPy references, backward against float64 central differences, bad inputs."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastnn
import fastnn.nn as nn
import fastnn.nn.functional as F
from gradcheck import check_grads

REDUCTIONS = ["mean", "sum", "none"]


def _red(loss, reduction, count=None):
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / (loss.size if count is None else count)


def _log_softmax(x):
    z = x - x.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _t(a, device, dtype=None):
    return fastnn.tensor(a, dtype=dtype, device=device)


# ---- regression losses ---------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_l1_forward_backward(backend, reduction):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    check_grads(lambda a, b: F.mse_loss(a, b, reduction=reduction),
                lambda a, b: _red((a - b) ** 2, reduction), [x, y], device=backend)
    # |x - y| is smooth away from x == y (guaranteed here by the random draw)
    check_grads(lambda a, b: F.l1_loss(a, b, reduction=reduction),
                lambda a, b: _red(np.abs(a - b), reduction), [x, y], device=backend)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(0, 4), m=st.integers(1, 3))
def test_mse_module_shapes(n, m):
    rng = np.random.default_rng(n * 7 + m)
    x, y = rng.standard_normal((n, m)).astype(np.float32), rng.standard_normal((n, m)).astype(np.float32)
    out = nn.MSELoss(reduction="sum")(fastnn.tensor(x), fastnn.tensor(y))
    eps = np.finfo(np.float32).eps
    np.testing.assert_allclose(out.item(), ((x - y) ** 2).sum(), rtol=8 * eps * max(1, x.size), atol=eps)
    none = nn.L1Loss(reduction="none")(fastnn.tensor(x), fastnn.tensor(y))
    np.testing.assert_allclose(none.numpy(), np.abs(x - y), rtol=eps)


# ---- cross-entropy and NLL -----------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_matches_reference(backend, reduction):
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    tt = _t(t, backend)
    ref = lambda a: _red(-_log_softmax(a)[np.arange(5), t], reduction)  # noqa: E731
    check_grads(lambda a: F.cross_entropy(a, tt, reduction=reduction), ref, [x], device=backend)
    check_grads(lambda a: nn.CrossEntropyLoss(reduction=reduction)(a, tt), ref, [x], device=backend)


def test_cross_entropy_weight_ignore_index_smoothing(backend):
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((6, 3)), np.array([0, 2, -100, 1, 2, 0])
    w = np.array([0.5, 2.0, 1.5])
    valid = t != -100
    ts = np.where(valid, t, 0)
    tt, wt = _t(t, backend), _t(w, backend, fastnn.float64)

    def ref(a):
        rw = w[ts] * valid
        return (-_log_softmax(a)[np.arange(6), ts] * rw).sum() / rw.sum()

    check_grads(lambda a: F.cross_entropy(a, tt, weight=wt), ref, [x], device=backend)

    eps = 0.2

    def ref_smooth(a):
        lp = _log_softmax(a)
        per = (1 - eps) * -lp[np.arange(6), ts] + eps / 3 * -lp.sum(axis=1)
        return (per * valid).sum() / valid.sum()

    check_grads(lambda a: F.cross_entropy(a, tt, label_smoothing=eps), ref_smooth, [x], device=backend)


def test_cross_entropy_probability_targets(backend):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3))
    p = rng.random((4, 3))
    p /= p.sum(axis=1, keepdims=True)
    check_grads(lambda a, q: F.cross_entropy(a, q),
                lambda a, q: (-(q * _log_softmax(a)).sum(axis=1)).mean(), [x, p], device=backend)


def test_cross_entropy_is_stable_for_huge_logits(backend):
    x = _t(np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]]), backend, fastnn.float32)
    loss = F.cross_entropy(x, _t([0, 2], backend), reduction="none")
    np.testing.assert_allclose(loss.detach().cpu().numpy(), [0.0, 1e4], rtol=1e-6)


def test_cross_entropy_unbatched_and_nd(backend):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(4)
    check_grads(lambda a: F.cross_entropy(a, _t(np.int64(2), backend)),
                lambda a: -_log_softmax(a[None])[0, 2], [x], device=backend)
    x3, t3 = rng.standard_normal((2, 3, 4)), rng.integers(0, 3, (2, 4))

    def ref(a):
        lp = _log_softmax(np.moveaxis(a, 1, -1).reshape(-1, 3))
        return -lp[np.arange(8), t3.reshape(-1)].reshape(2, 4)

    check_grads(lambda a: F.cross_entropy(a, _t(t3, backend), reduction="none"), ref, [x3], device=backend)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(backend, reduction):
    rng = np.random.default_rng(6)
    x, t = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    tt = _t(t, backend)
    check_grads(lambda a: nn.NLLLoss(reduction=reduction)(a, tt),
                lambda a: _red(-a[np.arange(5), t], reduction), [x], device=backend)
    # log_softmax + nll == cross_entropy
    xt = _t(x, backend)
    a = F.nll_loss(F.log_softmax(xt, dim=1), tt, reduction=reduction)
    b = F.cross_entropy(xt, tt, reduction=reduction)
    np.testing.assert_allclose(a.cpu().numpy(), b.cpu().numpy(), rtol=1e-12, atol=1e-12)


# ---- binary losses -------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce(backend, reduction):
    rng = np.random.default_rng(7)
    x, y = rng.uniform(0.05, 0.95, (3, 4)), rng.random((3, 4))
    ref = lambda a, b: _red(-(b * np.log(a) + (1 - b) * np.log(1 - a)), reduction)  # noqa: E731
    check_grads(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction), ref, [x, y], device=backend)
    w = rng.random((3, 4))
    check_grads(lambda a, b: nn.BCELoss(weight=_t(w, backend, fastnn.float64), reduction=reduction)(a, b),
                lambda a, b: _red(-w * (b * np.log(a) + (1 - b) * np.log(1 - a)), reduction), [x, y],
                device=backend)


def test_bce_clamps_log_at_minus_100(backend):
    x = _t([0.0, 1.0, 0.0], backend, fastnn.float64)
    y = _t([1.0, 0.0, 0.0], backend, fastnn.float64)
    out = F.binary_cross_entropy(x, y, reduction="none").cpu().numpy()
    np.testing.assert_allclose(out, [100.0, 100.0, 0.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits(backend, reduction):
    rng = np.random.default_rng(8)
    x, y = 3 * rng.standard_normal((3, 4)), rng.random((3, 4))

    def ref(a, b, pw=1.0):
        logsig = -np.logaddexp(0, -a)
        log1msig = -np.logaddexp(0, a)
        return _red(-(pw * b * logsig + (1 - b) * log1msig), reduction)

    check_grads(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction), ref, [x, y],
                device=backend)
    pw = rng.uniform(0.5, 3, 4)
    check_grads(lambda a, b: nn.BCEWithLogitsLoss(pos_weight=_t(pw, backend, fastnn.float64),
                                                  reduction=reduction)(a, b),
                lambda a, b: ref(a, b, pw), [x, y], device=backend)


def test_bce_with_logits_is_stable(backend):
    x = _t([1e4, -1e4, 0.0], backend, fastnn.float32)
    y = _t([0.0, 1.0, 1.0], backend, fastnn.float32)
    out = F.binary_cross_entropy_with_logits(x, y, reduction="none").cpu().numpy()
    np.testing.assert_allclose(out, [1e4, 1e4, np.log(2)], rtol=1e-6)


# ---- bad inputs ----------------------------------------------------------------------------
def test_cross_entropy_label_out_of_range(backend):
    x = fastnn.randn(3, 10, device=backend)
    with pytest.raises(IndexError, match=r"^Target 10 is out of bounds\.$"):
        F.cross_entropy(x, _t([1, 10, 2], backend))
    with pytest.raises(IndexError, match=r"Target -1 is out of bounds\."):
        nn.NLLLoss()(x, _t([1, -1, 2], backend))


def test_cross_entropy_float_target_is_refused(backend):
    x = fastnn.randn(4, 10, device=backend)
    with pytest.raises(RuntimeError, match="expected scalar type Long but found float32"):
        nn.CrossEntropyLoss()(x, _t([1.0, 2.0, 3.0, 4.0], backend))


def test_loss_batch_mismatch(backend):
    x = fastnn.randn(64, 10, device=backend)
    t = fastnn.randint(0, 10, (32,), device=backend)
    with pytest.raises(ValueError, match=r"Expected input batch_size \(64\) to match target batch_size \(32\)\."):
        nn.CrossEntropyLoss()(x, t)
    with pytest.raises(ValueError, match=r"Expected input batch_size \(64\) to match target batch_size \(32\)\."):
        F.nll_loss(x, t)


def test_bce_bad_inputs(backend):
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(_t([0.5, 1.5], backend), _t([0.0, 1.0], backend))
    with pytest.raises(ValueError, match="different to the input size"):
        F.binary_cross_entropy(_t([[0.5], [0.2]], backend), _t([0.0, 1.0], backend))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.mse_loss(_t([1.0], backend), _t([1.0], backend), reduction="avg")


def test_nan_input_propagates(backend):
    x = _t([[np.nan, 0.0], [1.0, 2.0]], backend)
    loss = F.cross_entropy(x, _t([0, 1], backend))
    assert np.isnan(loss.item())


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 5), c=st.integers(1, 5), transposed=st.booleans(),
       reduction=st.sampled_from(["sum", "none"]), seed=st.integers(0, 2 ** 16))
def test_cross_entropy_property(n, c, transposed, reduction, seed):
    """float32 logits of any small shape (incl. N=0, C=1, non-contiguous) against the float64 reference."""
    rng = np.random.default_rng(seed)
    x = (3 * rng.standard_normal((c, n) if transposed else (n, c))).astype(np.float32)
    t = rng.integers(0, c, n)
    xt = fastnn.tensor(x)
    if transposed:
        xt, x = xt.t(), x.T
    out = F.cross_entropy(xt, fastnn.tensor(t), reduction=reduction).numpy()
    ref = _red(-_log_softmax(x.astype(np.float64))[np.arange(n), t], reduction)
    eps = np.finfo(np.float32).eps
    np.testing.assert_allclose(out, ref, rtol=16 * eps * max(n, 1), atol=16 * eps * (1 + np.abs(x).max(initial=0)))
    # the per-row losses are non-negative, the reduced gradient sums to zero over classes
    xg = fastnn.tensor(x, requires_grad=True)
    F.cross_entropy(xg, fastnn.tensor(t), reduction="sum").backward()
    np.testing.assert_allclose(xg.grad.numpy().sum(axis=1), np.zeros(n), atol=8 * eps * c)
