"""Checkpoints: safetensors round trip, trainer-state encoding, atomic replace, architecture refusal, torch loading."""
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import fastnn
from fastnn.train import checkpoint as ck
from fastnn.train.models import expected_shapes


def _state(seed=0, name="mlp"):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in expected_shapes(name).items()}


def test_model_tensors_round_trip_bitwise(tmp_path):
    sd = _state()
    p = tmp_path / "c.safetensors"
    ck.save_checkpoint(p, sd, {"epoch": 3})
    got, meta = ck.load_checkpoint(p)
    assert set(got) == set(sd) and meta["epoch"] == 3
    for k in sd:
        assert got[k].dtype == sd[k].dtype and np.array_equal(got[k], sd[k])


def test_fastnn_tensors_are_saved_by_value(tmp_path):
    sd = {k: fastnn.from_numpy(v) for k, v in _state(1).items()}
    ck.save_checkpoint(tmp_path / "c.safetensors", sd)
    got, meta = ck.load_checkpoint(tmp_path / "c.safetensors")
    assert meta == {}
    for k in sd:
        assert np.array_equal(got[k], sd[k].numpy())


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                         st.floats(allow_nan=False), st.text(max_size=5))
arrays = hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64]),
                    hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
trees = st.recursive(st.one_of(json_scalars, arrays),
                     lambda c: st.one_of(st.lists(c, max_size=3), st.tuples(c, c),
                                         st.dictionaries(st.one_of(st.text(max_size=4), st.integers(0, 9)),
                                                         c, max_size=3)), max_leaves=12)


def _same(a, b):
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and np.array_equal(a, b, equal_nan=True))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=40, deadline=None)
@given(trees)
def test_trainer_state_encoding_round_trips(tree):
    """Optimizer/scheduler state survives JSON: arrays (any shape incl. 0-d and size-0), tuples, int keys."""
    import json

    assert _same(tree, ck.decode(json.loads(json.dumps(ck.encode(tree)))))


def test_tensors_in_trainer_state_come_back_as_tensors(tmp_path):
    m = fastnn.from_numpy(np.arange(6, dtype=np.float32).reshape(2, 3))
    state = {"state": {0: {"step": 7, "exp_avg": m}}, "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999)}]}
    ck.save_checkpoint(tmp_path / "c.safetensors", _state(), state)
    _, got = ck.load_checkpoint(tmp_path / "c.safetensors")
    ea = got["state"][0]["exp_avg"]
    assert isinstance(ea, fastnn.Tensor) and np.array_equal(ea.numpy(), m.numpy())
    assert got["param_groups"][0]["betas"] == (0.9, 0.999) and got["state"][0]["step"] == 7


def test_noncontiguous_arrays_are_stored_as_their_values(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4).T        # Fortran-ordered view
    ck.save_checkpoint(tmp_path / "c.safetensors", {"w": a}, {"m": a[::2]})
    got, st_ = ck.load_checkpoint(tmp_path / "c.safetensors")
    assert np.array_equal(got["w"], a) and np.array_equal(st_["m"], a[::2])


def test_failed_write_leaves_the_old_checkpoint_and_no_temp_file(tmp_path, monkeypatch):
    p = tmp_path / "c.safetensors"
    old = _state(0)
    ck.save_checkpoint(p, old, {"epoch": 1})

    def boom(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="simulated"):
        ck.save_checkpoint(p, _state(1), {"epoch": 2})
    monkeypatch.undo()
    got, meta = ck.load_checkpoint(p)
    assert meta["epoch"] == 1 and all(np.array_equal(got[k], old[k]) for k in old)
    assert os.listdir(tmp_path) == ["c.safetensors"]


def test_atomic_write_goes_through_a_temp_file_in_the_same_directory(tmp_path, monkeypatch):
    seen = []
    real = os.replace

    def spy(src, dst):
        seen.append((os.path.dirname(os.path.abspath(src)), os.path.abspath(dst), os.path.getsize(src)))
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    ck.atomic_write_bytes(tmp_path / "f.bin", b"x" * 100)
    assert seen == [(str(tmp_path), str(tmp_path / "f.bin"), 100)]
    assert (tmp_path / "f.bin").read_bytes() == b"x" * 100


def test_other_architecture_is_refused_naming_keys_and_shapes(tmp_path):
    ck.save_checkpoint(tmp_path / "c.safetensors", _state(name="sigmoid-mlp"))
    got, _ = ck.load_checkpoint(tmp_path / "c.safetensors")
    with pytest.raises(ValueError) as e:
        ck.check_compatible(expected_shapes("mlp"), got)
    msg = str(e.value)
    assert "missing keys: 4.weight, 4.bias" in msg
    assert "0.weight: checkpoint (256, 784) vs model (128, 784)" in msg
    assert "2.weight: checkpoint (10, 256) vs model (64, 128)" in msg


def test_unexpected_keys_are_named(tmp_path):
    sd = _state()
    sd["extra.weight"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"unexpected keys: extra\.weight"):
        ck.check_compatible(expected_shapes("mlp"), sd)


def test_garbage_and_missing_files_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(ValueError, match="bad.safetensors: not a readable safetensors checkpoint"):
        ck.load_checkpoint(bad)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        ck.load_checkpoint(tmp_path / "nope.safetensors")


@pytest.mark.torch
def test_torch_loads_the_checkpoint_into_the_same_model(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    sd = _state(3)
    ck.save_checkpoint(tmp_path / "c.safetensors", sd, {"epoch": 1, "blob": np.zeros(5)})
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64),
                                torch.nn.ReLU(), torch.nn.Linear(64, 10))
    model.load_state_dict(load_file(str(tmp_path / "c.safetensors")))      # strict: same keys and shapes
    for k, v in model.state_dict().items():
        assert np.array_equal(v.numpy(), sd[k])


def test_trainer_state_too_big_for_the_header_spills_into_tensors(tmp_path, monkeypatch):
    """Optimizer moments that would overflow safetensors' header are stored as tensors and come back."""
    from fastnn.train import checkpoint as ck

    monkeypatch.setattr(ck, "MAX_JSON", 100)
    big = np.arange(1000, dtype=np.float32)
    state = {"optimizer": {"state": {0: {"exp_avg": big, "step": 3}}}, "epoch": 2}
    path = tmp_path / "c.safetensors"
    ck.save_checkpoint(path, {"w": np.ones(3, np.float32)}, state)
    tensors, got = ck.load_checkpoint(path)
    assert list(tensors) == ["w"]
    np.testing.assert_array_equal(got["optimizer"]["state"][0]["exp_avg"], big)
    assert got["optimizer"]["state"][0]["step"] == 3 and got["epoch"] == 2
