"""fastnn.linalg.vector_norm / norm against torch.linalg: values and gradients, every backend."""
import math

import numpy as np
import pytest

import fastnn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

ORDS = [2, 1, 0, 3.5, math.inf, -math.inf]


@pytest.mark.parametrize("ord", ORDS)
@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1)])
def test_vector_norm_matches_torch(backend, ord, dim):
    x = np.random.default_rng(3).standard_normal((4, 5))
    t = torch.tensor(x, requires_grad=True)
    f = fastnn.tensor(x, device=backend, requires_grad=True)
    tn, fn = torch.linalg.vector_norm(t, ord, dim), fastnn.linalg.vector_norm(f, ord, dim)
    assert tuple(fn.shape) == tuple(tn.shape)
    np.testing.assert_allclose(fn.detach().cpu().numpy(), tn.detach().numpy(), rtol=1e-12, atol=1e-14)
    if ord != 0:
        tn.sum().backward()
        fn.sum().backward()
        np.testing.assert_allclose(f.grad.cpu().numpy(), t.grad.numpy(), rtol=1e-11, atol=1e-14)


def test_norm_frobenius_and_errors(backend):
    x = np.arange(12.0).reshape(3, 4) - 5
    f = fastnn.tensor(x, device=backend)
    assert float(fastnn.linalg.norm(f)) == pytest.approx(float(torch.linalg.norm(torch.tensor(x))), rel=1e-14)
    assert float(fastnn.linalg.norm(f, "fro")) == pytest.approx(float(torch.linalg.norm(torch.tensor(x), "fro")))
    with pytest.raises(RuntimeError, match="Expected a floating point"):
        fastnn.linalg.vector_norm(fastnn.tensor([1, 2], device=backend))
    with pytest.raises(NotImplementedError, match="nuc"):
        fastnn.linalg.norm(f, "nuc")
