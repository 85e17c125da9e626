"""Module machinery: registration, iteration, state_dict/load_state_dict, train/eval, to(), repr, init."""
import math
from collections import OrderedDict

import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
import fastnn.nn.functional as F


class Network(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(784, 256)
        self.output = nn.Linear(256, 10)

    def forward(self, x):
        x = F.sigmoid(self.hidden(x))
        x = F.softmax(self.output(x), dim=1)
        return x


def _mlp():
    return nn.Sequential(OrderedDict([("fc1", nn.Linear(784, 128)), ("relu1", nn.ReLU()),
                                      ("fc2", nn.Linear(128, 64)), ("relu2", nn.ReLU()),
                                      ("output", nn.Linear(64, 10)), ("softmax", nn.Softmax(dim=1))]))


def test_registration_and_iteration():
    net = Network()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["hidden.weight", "hidden.bias", "output.weight", "output.bias"]
    assert [type(m).__name__ for m in net.modules()] == ["Network", "Linear", "Linear"]
    assert [n for n, _ in net.named_children()] == ["hidden", "output"]
    assert sum(p.numel() for p in net.parameters()) == 784 * 256 + 256 + 256 * 10 + 10
    net.extra = nn.Parameter(fastnn.zeros(2))
    net.plain = 3
    assert "extra" in dict(net.named_parameters()) and net.plain == 3
    with pytest.raises(AttributeError, match="'Network' object has no attribute 'nope'"):
        net.nope
    with pytest.raises(TypeError, match="cannot assign 'int' as parameter 'extra'"):
        net.extra = 5
    del net.extra
    assert "extra" not in dict(net.named_parameters())
    shared = nn.Linear(2, 2)
    twice = nn.Sequential(shared, shared)
    assert len(list(twice.parameters())) == 2  # deduplicated like torch


def test_sequential_ordered_dict_indexing():
    model = _mlp()
    assert model.fc1 is model[0] and model.output is model[-2] and len(model) == 6
    assert [type(m).__name__ for m in model][:2] == ["Linear", "ReLU"]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and head.fc1 is model.fc1 and list(head._modules) == ["fc1", "relu1"]
    seq = nn.Sequential(nn.Linear(2, 3))
    seq.append(nn.ReLU())
    assert list(seq._modules) == ["0", "1"]
    with pytest.raises(IndexError):
        seq[5]
    x = fastnn.randn(4, 784)
    out = model(x)
    ref = x
    for m in model:
        ref = m(ref)
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())


def test_repr_like_torch():
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10), nn.LogSoftmax(dim=1))
    assert repr(model) == ("Sequential(\n"
                           "  (0): Linear(in_features=784, out_features=128, bias=True)\n"
                           "  (1): ReLU()\n"
                           "  (2): Linear(in_features=128, out_features=10, bias=True)\n"
                           "  (3): LogSoftmax(dim=1)\n)")
    nested = nn.Sequential(OrderedDict([("body", nn.Sequential(nn.Linear(2, 2))), ("act", nn.Tanh())]))
    assert repr(nested) == ("Sequential(\n  (body): Sequential(\n    (0): Linear(in_features=2, out_features=2, "
                            "bias=True)\n  )\n  (act): Tanh()\n)")


def test_state_dict_keys_and_in_place_load():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    sd = model.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                        "1.num_batches_tracked", "3.weight", "3.bias"]
    assert sd["1.num_batches_tracked"].dtype == fastnn.int64
    other = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    storage = other[0].weight._data
    result = other.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert other[0].weight._data is storage  # copied in place
    np.testing.assert_array_equal(other[0].weight.detach().numpy(), model[0].weight.detach().numpy())
    # the returned state_dict shares storage but is detached
    assert not sd["0.weight"].requires_grad


def test_load_state_dict_errors():
    small = nn.Sequential(nn.Linear(784, 10))
    big = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    with pytest.raises(RuntimeError) as e:
        big.load_state_dict(small.state_dict())
    msg = str(e.value)
    assert msg.startswith("Error(s) in loading state_dict for Sequential:")
    assert 'Missing key(s) in state_dict: "2.weight", "2.bias".' in msg
    assert ("size mismatch for 0.weight: copying a param with shape [10, 784] from checkpoint, "
            "the shape in current model is [128, 784].") in msg
    sd = dict(small.state_dict(), extra=fastnn.zeros(1))
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "extra"'):
        small.load_state_dict(sd)
    res = small.load_state_dict(sd, strict=False)
    assert res.unexpected_keys == ["extra"]


def test_train_eval_zero_grad_apply_to():
    model = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    assert model.training and model[1].training
    model.eval()
    assert not model.training and not model[1].training
    model.train()
    assert model[1].training
    out = model(fastnn.randn(4, 3)).sum()
    out.backward()
    assert model[0].weight.grad is not None
    model.zero_grad(set_to_none=False)
    assert (model[0].weight.grad.numpy() == 0).all()
    model.zero_grad()
    assert model[0].weight.grad is None
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Dropout", "Sequential"]
    w = model[0].weight
    model.double()
    assert model[0].weight is w and w.dtype == fastnn.float64 and model[0].bias.dtype == fastnn.float64
    assert model.to("cpu") is model


def test_custom_init_helpers():
    layer = nn.Linear(300, 200)
    layer.weight.data.normal_(std=0.01)
    layer.bias.data.fill_(0)
    W = layer.weight.detach().numpy()
    assert (layer.bias.detach().numpy() == 0).all()
    np.testing.assert_allclose(W.std(), 0.01, rtol=0.02)  # 60k samples: std error ~0.3 %
    t = fastnn.empty(200, 300)
    nn.init.xavier_uniform_(t, gain=2.0)
    a = 2.0 * math.sqrt(6.0 / 500)
    assert np.abs(t.numpy()).max() <= a
    np.testing.assert_allclose(t.numpy().std(), a / math.sqrt(3), rtol=0.02)
    nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    np.testing.assert_allclose(t.numpy().std(), math.sqrt(2.0 / 200), rtol=0.02)
    nn.init.xavier_normal_(t)
    np.testing.assert_allclose(t.numpy().std(), math.sqrt(2.0 / 500), rtol=0.02)
    nn.init.kaiming_uniform_(t, a=math.sqrt(5))
    assert np.abs(t.numpy()).max() <= 1 / math.sqrt(300)
    nn.init.constant_(t, 0.5)
    assert (t.numpy() == 0.5).all()
    nn.init.ones_(t)
    nn.init.zeros_(layer.bias)  # works on a Parameter (runs under no_grad)
    assert (t.numpy() == 1).all() and (layer.bias.detach().numpy() == 0).all()
    assert nn.init.calculate_gain("tanh") == 5.0 / 3
    assert nn.init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2.0 / 1.04)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(fastnn.empty(3))
