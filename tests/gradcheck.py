"""Float64 central differences: the oracle every hand-derived backward is tested against."""
import numpy as np

import fastnn


def numerical_grads(fn, arrays, eps=1e-6):
    """d sum(fn(*arrays) * w) / d array for each array, w a fixed random weight (float64)."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    out0 = np.asarray(fn(*arrays), dtype=np.float64)
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


def check_grads(fastnn_fn, numpy_fn, arrays, device="cpu", rtol=1e-5, atol=1e-7):
    """Compare fastnn autograd grads (float64) with central differences of the NumPy reference."""
    num, w = numerical_grads(numpy_fn, arrays)
    ts = [fastnn.tensor(np.asarray(a, dtype=np.float64), device=device, requires_grad=True) for a in arrays]
    out = fastnn_fn(*ts)
    np.testing.assert_allclose(out.detach().cpu().numpy(), numpy_fn(*arrays), rtol=1e-10, atol=1e-12)
    (out * fastnn.tensor(w, device=device)).sum().backward()
    for t, g in zip(ts, num):
        got = t.grad.cpu().numpy() if t.grad is not None else np.zeros_like(g)
        np.testing.assert_allclose(got, g, rtol=rtol, atol=atol)
