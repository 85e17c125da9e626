"""Module hooks (forward pre / forward / full backward, removable handles) and Module helpers (apply,
named_modules, children, requires_grad_, float/double/half) against torch running the same program."""
import numpy as np
import pytest

import fastnn
import fastnn.nn as nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def _model(lib):
    return lib.Sequential(lib.Linear(3, 4), lib.GELU(), lib.LayerNorm(4), lib.Linear(4, 2))


def _np(t):
    return t.detach().cpu().numpy() if hasattr(t, "cpu") else t.detach().numpy()


def _run(lib, fx, make, device=None):
    """Build the model, load the weights, register hooks that record and modify, run forward+backward."""
    m = _model(lib).double()
    if device:
        m = m.to(device)
    rec = []
    hs = [m[0].register_forward_pre_hook(lambda mod, a: (a[0] * 2,)),
          m[1].register_forward_hook(lambda mod, a, o: rec.append(("fwd", _np(a[0]), _np(o))) or o + 1),
          m[2].register_full_backward_hook(
              lambda mod, gi, go: rec.append(("bwd", [_np(g) for g in gi], [_np(g) for g in go]))
              or tuple(g * 3 for g in gi)),
          m[0].register_full_backward_hook(lambda mod, gi, go: rec.append(("bwd0", [g is None for g in gi],
                                                                           [_np(g) for g in go])))]
    return m, rec, hs


def _close(actual, desired, rtol=1e-12):
    """float64 agreement: rtol relative, plus 64 eps of the array's scale for entries that cancel to ~0."""
    desired = np.asarray(desired)
    scale = float(np.max(np.abs(desired))) if desired.size else 0.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=64 * np.finfo(np.float64).eps * scale)


def _weights(lib_model):
    return {k: v.detach().cpu().numpy() if hasattr(v, "cpu") else v.numpy() for k, v in lib_model.state_dict().items()}


def test_hooks_record_and_modify_like_torch(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    tm, trec, ths = _run(torch.nn, x, None)
    fm, frec, fhs = _run(nn, x, None, backend)
    fm.load_state_dict(_weights(tm))
    tx = torch.tensor(x, requires_grad=True)
    fx = fastnn.tensor(x, device=backend, requires_grad=True)
    tout, fout = tm(tx), fm(fx)
    _close(_np(fout), _np(tout))
    g = rng.standard_normal((5, 2))
    (tout * torch.tensor(g)).sum().backward()
    (fout * fastnn.tensor(g, device=backend)).sum().backward()
    assert [r[0] for r in frec] == [r[0] for r in trec]
    for fr, tr in zip(frec, trec):
        for fa, ta in zip(fr[1:], tr[1:]):
            if isinstance(ta, list):
                for a, b in zip(fa, ta):
                    _close(a, b)
            else:
                _close(fa, ta)
    _close(_np(fx.grad), _np(tx.grad), rtol=1e-11)
    for (n, tp), fp in zip(tm.named_parameters(), fm.parameters()):
        np.testing.assert_allclose(_np(fp.grad), _np(tp.grad), rtol=1e-11, err_msg=n)
    for h in fhs:
        h.remove()
    for h in ths:
        h.remove()
    frec.clear()
    trec.clear()
    _close(_np(fm(fx)), _np(tm(tx)))
    assert frec == [] == trec


def test_hook_order_prepend_and_context_manager():
    for lib in (torch.nn, nn):
        m, order = lib.Linear(2, 2), []
        m.register_forward_hook(lambda *a: order.append("a"))
        m.register_forward_hook(lambda *a: order.append("b"), prepend=True)
        with m.register_forward_pre_hook(lambda *a: order.append("pre")):
            m((torch if lib is torch.nn else fastnn).zeros(1, 2))
        m((torch if lib is torch.nn else fastnn).zeros(1, 2))
        assert order == ["pre", "b", "a", "b", "a"]


def _tree(lib):
    return lib.Sequential(lib.Linear(2, 3), lib.Sequential(lib.ReLU(), lib.Linear(3, 1)), lib.ModuleDict(
        {"ln": lib.LayerNorm(3), "emb": lib.Embedding(4, 3)}))


def test_module_helpers_match_torch():
    tm, fm = _tree(torch.nn), _tree(nn)
    assert [n for n, _ in fm.named_modules()] == [n for n, _ in tm.named_modules()]
    assert [type(c).__name__ for c in fm.children()] == [type(c).__name__ for c in tm.children()]
    assert [n for n, _ in fm.named_children()] == [n for n, _ in tm.named_children()]
    seen_t, seen_f = [], []
    tm.apply(lambda m: seen_t.append(type(m).__name__))
    fm.apply(lambda m: seen_f.append(type(m).__name__))
    assert seen_f == seen_t
    tm.requires_grad_(False)
    fm.requires_grad_(False)
    assert [p.requires_grad for p in fm.parameters()] == [p.requires_grad for p in tm.parameters()] == [False] * 7
    for name in ("double", "half", "float"):
        getattr(tm, name)()
        getattr(fm, name)()
        assert [str(p.dtype).split(".")[-1] for p in fm.parameters()] == \
               [str(p.dtype).split(".")[-1] for p in tm.parameters()]
