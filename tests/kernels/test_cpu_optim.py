"""CPU optimizer kernels (kernels/optim/cpu.py) vs the NumPy reference and vs torch.optim."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn.kernels.optim import cpu, ref

STEPS = 10


def _hp_strategy(name):
    """Hyper-parameters for `name`, as the positional tail of the kernel call (after `step`)."""
    b = st.booleans()
    if name == "sgd":
        return st.tuples(st.sampled_from([0.1, 0.01]), st.sampled_from([0.0, 0.9]), st.sampled_from([0.0, 0.3]),
                         st.sampled_from([0.0, 0.01]), b, b).map(
            lambda t: t if not t[4] or (t[1] > 0 and t[2] == 0) else t[:4] + (False, t[5]))
    if name == "adagrad":
        return st.tuples(st.sampled_from([0.1, 0.01]), st.sampled_from([0.0, 0.05]), st.sampled_from([0.0, 0.01]),
                         st.sampled_from([1e-10, 1e-3]), b)
    if name == "rmsprop":
        return st.tuples(st.sampled_from([0.01, 0.001]), st.sampled_from([0.99, 0.3]), st.sampled_from([1e-8, 1e-3]),
                         st.sampled_from([0.0, 0.01]), st.sampled_from([0.0, 0.9]), b, b)
    if name == "adadelta":
        return st.tuples(st.sampled_from([1.0, 0.1]), st.sampled_from([0.9, 0.3]), st.sampled_from([1e-6, 1e-3]),
                         st.sampled_from([0.0, 0.01]), b)
    return st.tuples(st.sampled_from([1e-3, 0.01]), st.sampled_from([0.9, 0.3]), st.sampled_from([0.999, 0.9]),
                     st.sampled_from([1e-8, 1e-3]), st.sampled_from([0.0, 0.05]), b, b, b)


N_STATE = {"sgd": 1, "adagrad": 1, "rmsprop": 3, "adam": 3, "adadelta": 2}


def _init_state(name, n, dtype, hp):
    states = [np.zeros(n, dtype) for _ in range(N_STATE[name])]
    if name == "adagrad":
        states[0][:] = 0.1  # initial_accumulator_value
    return states


def _run(mod, name, param, states, grads, hp):
    fn = getattr(mod, name + "_step")
    for step, g in enumerate(grads, start=1):
        fn(param, *states, g, step, *hp)


def _tol(dtype):
    eps = np.finfo(dtype).eps
    # same op order as the reference (bit-identical except Adam's sqrt(v)*(1/sqrt(bc2)), <= 1 ulp per step)
    return 8 * STEPS * eps


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adam", "adadelta"])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_cpu_matches_ref(name, data):
    n = data.draw(st.sampled_from([0, 1, 2, 7, 33, 100]), label="n")
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    hp = data.draw(_hp_strategy(name), label="hp")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    param = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(STEPS)]
    p_ref, p_cpu = param.copy(), param.copy()
    s_ref, s_cpu = _init_state(name, n, dtype, hp), _init_state(name, n, dtype, hp)
    _run(ref, name, p_ref, s_ref, grads, hp)
    _run(cpu, name, p_cpu, s_cpu, grads, hp)
    tol = _tol(dtype)
    np.testing.assert_allclose(p_cpu, p_ref, rtol=tol, atol=tol)
    for a, b in zip(s_cpu, s_ref):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    assert not np.array_equal(p_cpu, param) or n == 0  # the update did something


def test_state_buffers_may_be_empty_when_unused():
    """momentum == 0 / not centered / not amsgrad: the unused state may be a size-0 array."""
    rng = np.random.default_rng(0)
    p, g, e = rng.standard_normal(5), rng.standard_normal(5), np.zeros(0)
    for mod in (ref, cpu):
        q = p.copy()
        mod.sgd_step(q, e, g, 1, 0.1, 0.0, 0.0, 0.0, False, False)
        np.testing.assert_allclose(q, p - 0.1 * g, rtol=1e-15)
        q, sq = p.copy(), np.zeros(5)
        mod.rmsprop_step(q, sq, e, e, g, 1, 0.01, 0.99, 1e-8, 0.0, 0.0, False, False)
        np.testing.assert_allclose(q, p - 0.01 * g / (np.sqrt(0.01 * g * g) + 1e-8), rtol=1e-12)
        q, m, v = p.copy(), np.zeros(5), np.zeros(5)
        mod.adam_step(q, m, v, e, g, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, False, False, False)
        # first Adam step: m/bc1 = g, sqrt(v)/sqrt(bc2) = |g|  ->  p - lr * g / (|g| + eps)
        np.testing.assert_allclose(q, p - 1e-3 * g / (np.abs(g) + 1e-8), rtol=1e-12)


def test_check_buffers_errors():
    p = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        cpu.check_buffers("adam_step", p, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="float64"):
        cpu.check_buffers("adam_step", p, np.zeros(4, np.float64))
    with pytest.raises(ValueError, match="flat"):
        cpu.check_buffers("adam_step", p, np.zeros((2, 2), np.float32))
    cpu.check_buffers("adam_step", p, p.copy(), np.zeros(0, np.float32))  # empty unused state is fine


# ----------------------------------------------------------------------------- torch.optim oracle

TORCH_CASES = [
    ("sgd", (0.05, 0.9, 0.25, 0.01, False, False)),
    ("sgd", (0.05, 0.8, 0.0, 0.02, True, True)),
    ("sgd", (0.1, 0.0, 0.0, 0.0, False, False)),
    ("adagrad", (0.05, 0.1, 0.01, 1e-6, False)),
    ("adagrad", (0.02, 0.0, 0.0, 1e-10, True)),
    ("rmsprop", (0.01, 0.9, 1e-6, 0.01, 0.8, True, False)),
    ("rmsprop", (0.01, 0.3, 1e-8, 0.0, 0.0, False, True)),
    ("adam", (0.01, 0.8, 0.99, 1e-6, 0.05, True, False, False)),
    ("adam", (0.01, 0.3, 0.9, 1e-7, 0.0, False, False, True)),
    ("adam", (0.02, 0.85, 0.995, 1e-6, 0.1, False, True, False)),  # AdamW
    ("adam", (0.02, 0.85, 0.995, 1e-6, 0.1, True, True, True)),    # AdamW + amsgrad + maximize
    ("adadelta", (1.0, 0.9, 1e-6, 0.0, False)),
    ("adadelta", (0.5, 0.7, 1e-4, 0.05, True)),
]


def _torch_opt(torch, name, p, hp):
    if name == "sgd":
        lr, mom, damp, wd, nest, mx = hp
        return torch.optim.SGD([p], lr=lr, momentum=mom, dampening=damp, weight_decay=wd, nesterov=nest,
                               maximize=mx, foreach=False)
    if name == "adagrad":
        lr, lrd, wd, eps, mx = hp
        return torch.optim.Adagrad([p], lr=lr, lr_decay=lrd, weight_decay=wd, eps=eps, maximize=mx,
                                   initial_accumulator_value=0.1, foreach=False)
    if name == "rmsprop":
        lr, alpha, eps, wd, mom, cen, mx = hp
        return torch.optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps, weight_decay=wd, momentum=mom,
                                   centered=cen, maximize=mx, foreach=False)
    if name == "adadelta":
        lr, rho, eps, wd, mx = hp
        return torch.optim.Adadelta([p], lr=lr, rho=rho, eps=eps, weight_decay=wd, maximize=mx, foreach=False)
    lr, b1, b2, eps, wd, ams, dec, mx = hp
    cls = torch.optim.AdamW if dec else torch.optim.Adam
    return cls([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, amsgrad=ams, maximize=mx, foreach=False)


@pytest.mark.torch
@pytest.mark.parametrize("name,hp", TORCH_CASES)
def test_cpu_matches_torch(name, hp):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    n = 257
    param = rng.standard_normal(n)
    grads = [rng.standard_normal(n) for _ in range(STEPS)]
    tp = torch.tensor(param.copy(), dtype=torch.float64, requires_grad=True)
    opt = _torch_opt(torch, name, tp, hp)
    for g in grads:
        tp.grad = torch.tensor(g)
        opt.step()
    ours = param.copy()
    _run(cpu, name, ours, _init_state(name, n, np.float64, hp), grads, hp)
    np.testing.assert_allclose(ours, tp.detach().numpy(), rtol=1e-6, atol=1e-12)
