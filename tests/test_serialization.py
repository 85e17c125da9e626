"""fastnn.save / fastnn.load: round trips of tensors and state_dicts, map_location, atomic writes."""
import os

import numpy as np
import pytest

import fastnn
from fastnn import nn, optim


def test_state_dict_round_trip_restores_the_model(tmp_path):
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    opt = optim.Adam(model.parameters(), lr=0.1)
    x = fastnn.randn(5, 4)
    model(x).sum().backward()
    opt.step()
    fastnn.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3}, tmp_path / "ck.pth")
    ck = fastnn.load(tmp_path / "ck.pth")
    other = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    other.load_state_dict(ck["model"])
    np.testing.assert_array_equal(other(x).detach().numpy(), model(x).detach().numpy())
    assert ck["epoch"] == 3 and ck["optim"]["state"][0]["step"].item() == 1
    np.testing.assert_array_equal(ck["optim"]["state"][0]["exp_avg"].numpy(),
                                  opt.state_dict()["state"][0]["exp_avg"].numpy())


def test_tensor_attributes_survive(tmp_path):
    t = fastnn.tensor([[1.5, 2.0]], dtype=fastnn.float64, requires_grad=True)
    fastnn.save([t, fastnn.tensor([1, 2])], tmp_path / "t.pth")
    a, b = fastnn.load(tmp_path / "t.pth")
    assert a.dtype == fastnn.float64 and a.requires_grad and a.tolist() == [[1.5, 2.0]]
    assert b.dtype == fastnn.int64 and b.tolist() == [1, 2]


def test_map_location(backend, tmp_path):
    fastnn.save(fastnn.ones(3), tmp_path / "x.pth")
    y = fastnn.load(tmp_path / "x.pth", map_location=backend)
    assert str(y.device) == backend and y.tolist() == [1.0, 1.0, 1.0]


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ck.pth"
    fastnn.save({"v": 1}, path)

    def boom(*a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        fastnn.save({"v": 2}, path)
    assert fastnn.load(path) == {"v": 1}
    assert os.listdir(tmp_path) == ["ck.pth"]


def test_deepcopy_of_a_module_keeps_parameters():
    import copy

    model = nn.Sequential(nn.Linear(3, 2))
    clone = copy.deepcopy(model)
    assert isinstance(clone[0].weight, nn.Parameter) and len(list(clone.parameters())) == 2
    np.testing.assert_array_equal(clone[0].weight.detach().numpy(), model[0].weight.detach().numpy())
    with fastnn.no_grad():
        clone[0].weight.fill_(0)
    assert model[0].weight.detach().numpy().any()  # a real copy
