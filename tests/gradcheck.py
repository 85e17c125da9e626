"""Float64 central differences: the oracle every hand-derived backward is tested against.

`check_grads(fn, numpy_fn, arrays, device)` runs the engine in float64 on `device`; on 'cuda' it also
runs float32, the dtype the .cu kernels serve (float64 on cuda runs each family's ref.py on the device
array module), against the same float64 oracle evaluated at the float32-rounded inputs.
"""
import numpy as np

import fastnn

EPS32 = float(np.finfo(np.float32).eps)


def numerical_grads(fn, arrays, eps=1e-6, w=None):
    """d sum(fn(*arrays) * w) / d array for each array, w a fixed random weight (float64)."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    out0 = np.asarray(fn(*arrays), dtype=np.float64)
    if w is None:
        w = np.random.default_rng(123).standard_normal(out0.shape)
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        if a.size == 0:
            grads.append(g)
            continue
        it = np.nditer(a, flags=["multi_index"])
        for _ in it:
            i = it.multi_index
            old = a[i]
            a[i] = old + eps
            plus = np.sum(np.asarray(fn(*arrays)) * w)
            a[i] = old - eps
            minus = np.sum(np.asarray(fn(*arrays)) * w)
            a[i] = old
            g[i] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads, w


def _engine_grads(fastnn_fn, arrays, w, device, dtype):
    ts = [fastnn.tensor(np.asarray(a, dtype=dtype), device=device, requires_grad=True) for a in arrays]
    out = fastnn_fn(*ts)
    (out * fastnn.tensor(w.astype(dtype), device=device)).sum().backward()
    grads = [t.grad.cpu().numpy() if t.grad is not None else np.zeros(np.shape(a)) for t, a in zip(ts, arrays)]
    return out.detach().cpu().numpy(), grads


def check_grads(fastnn_fn, numpy_fn, arrays, device="cpu", rtol=1e-5, atol=1e-7):
    """Compare fastnn autograd grads (float64) with central differences of the NumPy reference; on
    'cuda' also float32 (check_grads_float32)."""
    num, w = numerical_grads(numpy_fn, arrays)
    out, grads = _engine_grads(fastnn_fn, arrays, w, device, np.float64)
    np.testing.assert_allclose(out, numpy_fn(*arrays), rtol=1e-10, atol=1e-12)
    for got, g in zip(grads, num):
        np.testing.assert_allclose(got, g, rtol=rtol, atol=atol)
    if fastnn.device(device).type == "cuda":
        check_grads_float32(fastnn_fn, numpy_fn, arrays, device)


def float32_tolerance(arrays, out_size):
    """Relative tolerance of a float32 forward/backward against the exact (float64) values.

    Inputs and weights are rounded to float32 first and the oracle is evaluated at the rounded values,
    so only the arithmetic's rounding counts. Every forward value and every gradient entry is a sum of
    at most n = (input elements + output elements) terms, each term a chain of at most c = 16 roundings
    (products, exp/log/tanh/sqrt: each within a few ulps on the CPU and in CUDA's expf/logf/tanhf).
    The standard bound for such a sum is gamma_{n+c} * sum|terms|, gamma_k = k*u, u = eps/2:
      - one pass: (n + c) * u * sum|terms|;
      - the backward reads the forward's saved outputs, so its error carries the forward's too (x2),
        amplified by the op's local condition, taken as at most 2 for these test problems (x2);
      - sum|terms| is taken as |value| + max|value| of the array (_close applies it): the test problems
        are O(1) data with moderate cancellation; an entry that cancels to ~0 keeps the max term.
    Together: 2 * 2 * (n + c) * u = 2 (n + c) eps. The central differences' own error (float64,
    h = 1e-6: ~1e-10 relative) is negligible against it.
    """
    n = sum(int(np.size(a)) for a in arrays) + int(out_size)
    return 2 * (n + 16) * EPS32


def _close(got, want, tol, what):
    scale = np.max(np.abs(want), initial=0.0)
    err = np.abs(np.asarray(got, np.float64) - want)
    bad = err > tol * (np.abs(want) + scale) + np.finfo(np.float32).tiny
    assert not np.any(bad), (f"float32 {what}: max error {err.max():.3g} against bound "
                             f"{tol:.3g} * (|want| + {scale:.3g}) at {np.argwhere(bad)[:5].tolist()}")


def check_grads_float32(fastnn_fn, numpy_fn, arrays, device):
    """The engine in float32 on `device` (the .cu kernels on cuda) against float64 central differences
    at the float32-rounded inputs, with float32_tolerance's eps-derived bound."""
    arrays = [np.asarray(a, dtype=np.float32).astype(np.float64) for a in arrays]
    out0 = np.asarray(numpy_fn(*arrays), dtype=np.float64)
    w = np.random.default_rng(123).standard_normal(out0.shape).astype(np.float32).astype(np.float64)
    num, _ = numerical_grads(numpy_fn, arrays, w=w)
    out, grads = _engine_grads(fastnn_fn, arrays, w, device, np.float32)
    tol = float32_tolerance(arrays, out0.size)
    _close(out, out0, tol, "forward")
    for k, (got, g) in enumerate(zip(grads, num)):
        _close(got, g, tol, f"gradient of input {k}")
