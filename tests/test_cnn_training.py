"""A whole CNN training step on every backend: LeNet-5 (conv, ReLU, max pool, linear) and a BatchNorm2d /
AvgPool / AdaptiveAvgPool net, trained a few Adam steps on the emulated cuda backend, match the CPU
backend's parameters to float32 rounding; and one CPU step matches torch's in float64."""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.vision import models

EPS = float(np.finfo(np.float32).eps)


def _bn_net():
    # conv biases before BatchNorm get ~0 gradients (BN removes the mean) that Adam would blow up to
    # lr-sized steps of rounding noise, so these convs have none (as in ResNets)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(4, 8, 3, padding=1, groups=2, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))


def _train(make, device, steps=3, dtype=np.float32):
    fastnn.manual_seed(0)
    model = make()
    if dtype == np.float64:
        model = model.double()
    model = model.to(device)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 1, 28, 28)).astype(dtype)
    y = rng.integers(0, 10, 8)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(fastnn.tensor(x, device=device)), fastnn.tensor(y, device=device))
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return [p.detach().cpu().numpy() for p in model.parameters()], losses


@pytest.mark.parametrize("make", [models.lenet5, _bn_net], ids=["lenet5", "bn_net"])
def test_cnn_training_on_cuda_matches_cpu(make):
    from fastnn.backends import get_backend

    get_backend("cuda")                          # emulated here (tests/conftest.py); a failure is a failure
    cpu, lc = _train(make, "cpu")
    gpu, lg = _train(make, "cuda")
    np.testing.assert_allclose(lg, lc, rtol=1e-4)
    for a, b in zip(cpu, gpu):
        # float32 sums in other orders; Adam divides by sqrt(v), so a step's error stays near eps * lr / eps
        np.testing.assert_allclose(b, a, rtol=0, atol=256 * EPS * max(1.0, np.abs(a).max()))


def test_lenet5_step_matches_torch_float64():
    torch = pytest.importorskip("torch")
    fastnn.manual_seed(0)
    f = models.lenet5().double()
    t = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                            torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                            torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(),
                            torch.nn.Linear(84, 10)).double()
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in f.state_dict().items()})
    fo, to = optim.Adam(f.parameters(), lr=1e-3), torch.optim.Adam(t.parameters(), lr=1e-3, foreach=False)
    rng = np.random.default_rng(1)
    for _ in range(3):
        x, y = rng.standard_normal((16, 1, 28, 28)), rng.integers(0, 10, 16)
        fo.zero_grad(), to.zero_grad()
        nn.functional.cross_entropy(f(fastnn.tensor(x)), fastnn.tensor(y)).backward()
        torch.nn.functional.cross_entropy(t(torch.tensor(x)), torch.tensor(y)).backward()
        fo.step(), to.step()
    for (k, a), b in zip(f.state_dict().items(), t.state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)
