"""fastnn.autograd's torch surface: grad, inference_mode and torch-style user Functions, against torch
(values, None/zero placement, error wording) and closed forms."""
import numpy as np
import pytest
torch = pytest.importorskip("torch", reason="torch==2.13.0 is the oracle of these tests")

import fastnn
from fastnn.autograd import Function, grad

X = np.array([[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]])


def both(requires_grad=True):
    return (torch.tensor(X, requires_grad=requires_grad), fastnn.tensor(X, requires_grad=requires_grad))


def close(f, t):
    np.testing.assert_allclose(f.detach().numpy(), t.detach().numpy(), rtol=1e-12, atol=1e-12 * np.abs(X).max())


def test_grad_matches_torch_and_leaves_grad_alone():
    for L, x in zip((torch, fastnn), both()):
        w = L.tensor(np.array([1.5, -2.0, 0.5]), requires_grad=True)
        y = ((x * w).exp().sum(1) ** 2).sum()
        r = grad(y, [x, w]) if L is fastnn else torch.autograd.grad(y, [x, w])
        assert isinstance(r, tuple) and len(r) == 2 and x.grad is None and w.grad is None
        if L is torch:
            tr = r
        else:
            close(r[0], tr[0])
            close(r[1], tr[1])


def test_grad_closed_form_non_leaf_input_and_grad_outputs():
    x = fastnn.tensor(X, requires_grad=True)
    h = x * 3
    (dh,) = grad((h * h).sum(), h)                       # d/dh sum h^2 = 2h, h a non-leaf
    np.testing.assert_allclose(dh.numpy(), 6 * X, rtol=1e-15)
    v = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    (dx,) = grad(x.sin(), x, grad_outputs=fastnn.tensor(v))
    np.testing.assert_allclose(dx.numpy(), v * np.cos(X), rtol=1e-14)
    (d1,) = grad([x.sum(), (2 * x).sum()], x)             # several outputs: their gradients add
    np.testing.assert_allclose(d1.numpy(), np.full_like(X, 3.0))


def test_grad_dict_inputs_retain_graph_and_hooks():
    x = fastnn.tensor(X, requires_grad=True)
    y = (x.exp() * 2).sum()
    r = grad(y, {"x": x}, retain_graph=True)
    assert list(r) == ["x"]
    np.testing.assert_allclose(r["x"].numpy(), 2 * np.exp(X), rtol=1e-14)
    grad(y, x)                                            # the retained graph runs again, then is freed
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        grad(y, x)
    h = x * 1.0
    h.register_hook(lambda g: g * 10)                     # tensor hooks run during grad, as torch
    (dx,) = grad((h * 2).sum(), x)
    np.testing.assert_allclose(dx.numpy(), np.full_like(X, 20.0))


def test_grad_allow_unused_and_materialize_match_torch():
    got = {}
    for L, x in zip(("torch", "fastnn"), both()):
        M = torch if L == "torch" else fastnn
        g = torch.autograd.grad if L == "torch" else grad
        u = M.tensor(np.ones(2), requires_grad=True)
        got[L] = (g((x * 2).sum(), [x, u], allow_unused=True, retain_graph=True),
                  g((x * 2).sum(), [x, u], materialize_grads=True))
    for t, f in zip(got["torch"], got["fastnn"]):
        assert t[1] is None or f[1] is not None
        assert (t[1] is None) == (f[1] is None)
        close(f[0], t[0])
    np.testing.assert_array_equal(got["fastnn"][1][1].numpy(), np.zeros(2))


def error(fn):
    with pytest.raises(Exception) as e:
        fn()
    return type(e.value), str(e.value)


def test_grad_errors_use_torch_wording():
    def cases(L, g):
        a = L.tensor(np.ones(2), requires_grad=True)
        b = L.tensor(np.ones(2), requires_grad=True)
        c = L.tensor(np.ones(2))
        return [lambda: g((a * 2).sum(), c),
                lambda: g((a * 2).sum(), [a, b]),
                lambda: g(a * 2, a),
                lambda: g(c * 2, a),
                lambda: g([a * 2, a * 3], a, [L.ones(2)]),
                lambda: g((a * 2).sum(), [a, b], allow_unused=False, materialize_grads=True),
                lambda: g(a * 2, a, [1.0]),
                lambda: g(a * 2, a, L.ones(3))]
    for t, f in zip(cases(torch, torch.autograd.grad), cases(fastnn, grad)):
        (tt, tm), (ft, fm) = error(t), error(f)
        assert ft is tt and fm == tm


def test_create_graph_is_refused_plainly():
    x = fastnn.tensor(X, requires_grad=True)
    with pytest.raises(NotImplementedError, match="create_graph=True"):
        grad((x * x).sum(), x, create_graph=True)


def test_inference_mode_as_torch():
    for L in (torch, fastnn):
        x = L.ones(2, requires_grad=True)
        with L.inference_mode():
            assert not (x * 2).requires_grad and L.is_inference_mode_enabled() and not L.is_grad_enabled()
            with L.inference_mode(False):
                assert L.is_grad_enabled() and not L.is_inference_mode_enabled()
        assert L.is_grad_enabled() and not L.is_inference_mode_enabled()

        @L.inference_mode
        def bare():
            return (x * 2).requires_grad

        @L.inference_mode()
        def called():
            return (x * 2).requires_grad

        @L.autograd.inference_mode(False)
        def off():
            return L.is_grad_enabled()

        with L.no_grad():
            assert off()
        assert not bare() and not called() and bare.__name__ == "bare"


def user_ops(L):
    class ScaledExp(L.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            y = x.exp() * k
            ctx.save_for_backward(y)
            ctx.k = k
            ctx.seen = ctx.needs_input_grad
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y, None

    class SplitSign(L.autograd.Function):
        """Two outputs (positive part, negative part) and an integer-valued mask marked non-differentiable."""

        @staticmethod
        def forward(ctx, x):
            pos, neg = x.clamp(min=0), x.clamp(max=0)
            mask = (x > 0).to(x.dtype)
            ctx.mark_non_differentiable(mask)
            ctx.save_for_backward(mask)
            return pos, neg, mask

        @staticmethod
        def backward(ctx, gp, gn, gm):
            (mask,) = ctx.saved_tensors
            return gp * mask + gn * (1 - mask)

    class MulSetup(L.autograd.Function):
        """torch 2 style: forward without ctx, setup_context separate; broadcast gradient reduced."""

        @staticmethod
        def forward(x, w):
            return x * w

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(*inputs)

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            return g * w, g * x               # g * x has x's shape: torch sums it to w's

    return ScaledExp, SplitSign, MulSetup


def test_user_function_matches_torch():
    res = {}
    for L in (torch, fastnn):
        ScaledExp, SplitSign, MulSetup = user_ops(L)
        x = L.tensor(X, requires_grad=True)
        w = L.tensor(np.array([2.0, -1.0, 0.5]), requires_grad=True)
        y = ScaledExp.apply(x, 3.0)
        pos, neg, mask = SplitSign.apply(x)
        z = MulSetup.apply(x, w)
        ((y * y).sum() + (pos * 2 + neg * 5).sum() + (z ** 2).sum()).backward()
        res[L.__name__] = (y, pos, neg, mask, z, x.grad, w.grad, y.grad_fn.name(), mask.requires_grad,
                           z.grad_fn.name())
    t, f = res["torch"], res["fastnn"]
    for a, b in zip(t[:7], f[:7]):
        close(b, a)
    assert f[7] == t[7] == "ScaledExpBackward" and f[8] is t[8] is False and f[9] == t[9] == "MulSetupBackward"


def test_user_function_ctx_details():
    ScaledExp, _, _ = user_ops(fastnn)
    x = fastnn.tensor(X, requires_grad=True)
    y = ScaledExp.apply(x, 3.0)
    assert y.grad_fn.ctx.seen == (True, False)           # one flag per forward argument
    y.sum().backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.sum().backward()
    with fastnn.no_grad():
        assert ScaledExp.apply(x, 1.0).grad_fn is None


def test_user_function_bad_backward_errors_as_torch():
    def make(L, n_out):
        class Bad(L.autograd.Function):
            @staticmethod
            def forward(ctx, x, k):
                return x * k

            @staticmethod
            def backward(ctx, g):
                return (g, None, None)[:n_out] if n_out != 9 else (g[:1], None)
        return Bad

    for n_out in (1, 9):
        msgs = []
        for L in (torch, fastnn):
            x = L.tensor(np.ones(3), requires_grad=True)
            msgs.append(error(lambda: make(L, n_out).apply(x, 2.0).sum().backward()))
        assert msgs[0][0] is msgs[1][0] and msgs[0][1] == msgs[1][1]

    class NoSave(fastnn.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(3)
            return x

    with pytest.raises(TypeError, match="save_for_backward can only save variables, but argument 0 is of type int"):
        NoSave.apply(fastnn.ones(2, requires_grad=True))
