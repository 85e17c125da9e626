"""End-to-end: the seed's Network class and an OrderedDict Sequential train a few steps; loss falls."""
from collections import OrderedDict

import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
import fastnn.nn.functional as F
import fastnn.optim as optim


class Network(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(784, 256)
        self.output = nn.Linear(256, 10)

    def forward(self, x):
        x = F.sigmoid(self.hidden(x))
        x = F.softmax(self.output(x), dim=1)
        return x


def _data(backend, n=32):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 784)).astype(np.float32)
    y = rng.integers(0, 10, n)
    return fastnn.tensor(x, device=backend), fastnn.tensor(y, device=backend)


def _train(model, loss_fn, opt, x, y, steps):
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_seed_network_trains(backend):
    model = Network().to(backend)
    x, y = _data(backend, n=16)
    opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    losses = _train(model, lambda p, t: F.nll_loss(p.log(), t), opt, x, y, 8)
    assert np.isfinite(losses).all() and losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("opt_name", ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop"])
def test_ordered_dict_sequential_trains(backend, opt_name):
    model = nn.Sequential(OrderedDict([("fc1", nn.Linear(784, 48)), ("relu1", nn.ReLU()),
                                       ("drop", nn.Dropout(0.1)), ("bn", nn.BatchNorm1d(48)),
                                       ("fc2", nn.Linear(48, 10))])).to(backend)
    x, y = _data(backend)
    lr = {"SGD": 0.1, "Adagrad": 0.05}.get(opt_name, 1e-3)
    opt = getattr(optim, opt_name)(model.parameters(), lr=lr)
    losses = _train(model, nn.CrossEntropyLoss(), opt, x, y, 10)
    assert np.isfinite(losses).all() and losses[-1] < 0.8 * losses[0]
    model.eval()
    acc = (model(x).argmax(dim=1) == y).float().mean().item()
    assert acc > 0.5  # memorising 32 random labels: chance is 0.1


def test_gradients_accumulate_like_torch(backend):
    layer = nn.Linear(3, 2).to(backend)
    x = fastnn.randn(4, 3, device=backend)
    layer(x).sum().backward()
    g1 = layer.weight.grad.cpu().numpy().copy()
    layer(x).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.cpu().numpy(), 2 * g1, rtol=1e-6)
    # d/dW sum(x W^T + b) = column sums of x, for every output row
    np.testing.assert_allclose(g1, np.broadcast_to(x.cpu().numpy().sum(0), (2, 3)), rtol=1e-5)
