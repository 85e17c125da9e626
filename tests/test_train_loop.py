"""The training loop: evaluation math, input recipe, path choice, learning on synthetic data, torch interop,
and (slow) real-MNIST training to an accuracy floor."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from fastnn.train import TrainConfig, load_checkpoint, run
from fastnn.train.data import load_data, to_features
from fastnn.train.loop import choose_trainer, loss_and_accuracy

QUIET = dict(dataset="synthetic", synthetic_size=(256, 128), quiet=True)


def _silent(cfg, **kw):
    return run(cfg, log=lambda *a: None, **kw)


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 5)),
                  elements=st.floats(-30, 30)), st.data())
def test_loss_and_accuracy_match_a_per_row_oracle(logits, data):
    n, c = logits.shape
    y = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    loss, acc = loss_and_accuracy(logits, y)
    rows = [math.log(sum(math.exp(v) for v in r)) - r[t] for r, t in zip(logits.tolist(), y)]
    assert loss == pytest.approx(sum(rows) / n, rel=1e-12, abs=1e-12)
    assert acc == sum(int(np.argmax(r) == t) for r, t in zip(logits, y)) / n


def test_uniform_logits_give_log_c():
    loss, acc = loss_and_accuracy(np.zeros((4, 10)), np.array([0, 1, 2, 0]))
    assert loss == pytest.approx(math.log(10), rel=1e-15) and acc == 0.5


def test_input_recipe_maps_0_255_to_unit_and_symmetric_ranges():
    img = np.array([[[0, 51, 255]]], dtype=np.uint8)
    eps = np.finfo(np.float32).eps
    np.testing.assert_allclose(to_features(img, False), [[0.0, 0.2, 1.0]], atol=2 * eps, rtol=0)
    x = to_features(img, True)
    assert x.dtype == np.float32 and x.shape == (1, 3)
    np.testing.assert_allclose(x, [[-1.0, -0.6, 1.0]], atol=4 * eps, rtol=0)


def test_synthetic_data_is_deterministic_and_subsettable():
    a = load_data("synthetic", synthetic_size=(40, 10))
    b = load_data("synthetic", synthetic_size=(40, 10), train_subset=16, test_subset=5)
    assert [v.shape for v in a] == [(40, 784), (40,), (10, 784), (10,)]
    assert np.array_equal(a[0][:16], b[0]) and np.array_equal(a[3][:5], b[3])
    assert a[1].dtype == np.int64 and set(np.unique(a[1])) <= set(range(10))


@pytest.mark.parametrize("model, kw", [("mlp", dict(optimizer="adam", epochs=3)),
                                       ("sigmoid-mlp", dict(optimizer="sgd", lr=0.1, momentum=0.9, epochs=4))])
def test_training_lowers_the_loss_on_learnable_data(tmp_path, model, kw):
    res = _silent(TrainConfig(**QUIET, model=model, out=str(tmp_path), path="eager", **kw))
    h = res["history"]
    assert h[-1]["train_loss"] < h[0]["train_loss"] < math.log(10) + 0.5
    assert h[-1]["test_acc"] > 0.8


def test_eager_path_is_explained():
    cfg = TrainConfig(path="eager")
    _, path, why = choose_trainer(cfg, *_model_opt(cfg))
    assert (path, why) == ("eager", "requested with --path eager")


def _model_opt(cfg):
    from fastnn.train import build_model, make_optimizer

    m = build_model(cfg.model)
    return m, make_optimizer(cfg, m.parameters())


def test_auto_falls_back_with_the_reason_and_fused_refuses():
    from fastnn import nn, optim

    cfg = TrainConfig(path="auto")
    model = nn.Sequential(nn.Linear(784, 10), nn.LogSoftmax(dim=1))  # not a plain MLP
    _, path, why = choose_trainer(cfg, model, optim.Adam(model.parameters()))
    assert path == "eager" and why.startswith("auto: layer 1 is LogSoftmax")
    with pytest.raises(ValueError, match="--path fused cannot run this configuration: layer 1 is LogSoftmax"):
        choose_trainer(TrainConfig(path="fused"), model, optim.Adam(model.parameters()))


def test_auto_picks_fused_for_the_zoo_mlp():
    cfg = TrainConfig(path="auto")
    _, path, why = choose_trainer(cfg, *_model_opt(cfg))
    assert path == "fused" and "one Numba call per epoch" in why


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_fused_and_eager_paths_train_the_same_model(tmp_path, opt):
    """Same init, data order and optimizer: the parameters agree to float32 accumulation error."""
    hist = {}
    for path in ("eager", "fused"):
        res = _silent(TrainConfig(**QUIET, optimizer=opt, momentum=0.9 if opt == "sgd" else 0.0, epochs=2,
                                  out=str(tmp_path / path), path=path))
        assert res["path"] == path
        hist[path] = res["history"]
    a, _ = load_checkpoint(tmp_path / "eager" / "checkpoint.safetensors")
    b, _ = load_checkpoint(tmp_path / "fused" / "checkpoint.safetensors")
    # GEMM summation order differs (BLAS vs fastnn's kernels): SGD keeps the paths within a few eps;
    # Adam divides by sqrt(v), so coordinates whose gradient is ~0 amplify those rounding differences
    # toward O(lr) per step (measured ~1e3 eps of the tensor's max) -- a looser, still discriminating bound.
    eps = np.finfo(np.float32).eps
    c = 16 if opt == "sgd" else 1e4
    for k in a:
        scale = np.abs(a[k]).max()
        np.testing.assert_allclose(b[k], a[k], atol=c * eps * scale, rtol=0, err_msg=k)
    for he, hf in zip(hist["eager"], hist["fused"]):
        assert hf["train_loss"] == pytest.approx(he["train_loss"], rel=1e-3)


@pytest.mark.torch
def test_torch_runs_the_saved_model_to_the_same_logits(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    from fastnn.train.loop import logits_numpy

    res = _silent(TrainConfig(**QUIET, epochs=1, out=str(tmp_path), path="eager"))
    net = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64),
                              torch.nn.ReLU(), torch.nn.Linear(64, 10))
    net.load_state_dict(load_file(str(tmp_path / "checkpoint.safetensors")))
    x = load_data("synthetic", synthetic_size=(256, 128))[2]
    with torch.no_grad():
        want = net(torch.from_numpy(x)).double().numpy()
    got = logits_numpy(res["model"], x)
    eps = np.finfo(np.float32).eps
    np.testing.assert_allclose(got, want, rtol=64 * eps * math.sqrt(784), atol=64 * eps * math.sqrt(784))


@pytest.mark.slow
def test_real_mnist_300_adam_steps_clear_85_percent(tmp_path):
    """300 steps of Adam(1e-3), batch 64 on real MNIST (fetched/cached by fastnn.data)."""
    try:
        from fastnn.data import MNIST

        MNIST(train=False)
    except Exception as e:          # no cached copy and no network: skip, naming why
        pytest.skip(f"MNIST unavailable: {e}")
    res = _silent(TrainConfig(dataset="mnist", optimizer="adam", lr=1e-3, batch_size=64, epochs=1,
                              train_subset=300 * 64, normalize=True, quiet=True, out=str(tmp_path)))
    h = res["history"][0]
    assert h["train_loss"] < 0.8 and h["test_loss"] < 0.5
    assert h["test_acc"] > 0.85


def test_trainer_choice_has_no_import_cycle():
    """fastnn/train/fused.py imports nothing that imports it back: loop.py (the trainer choice, beside
    EagerTrainer) -> fused.py (FusedTrainer) -> evaluation.py. Checked on the source, every import
    statement (top-level and inside functions)."""
    import ast
    import pathlib

    import fastnn.train

    root = pathlib.Path(fastnn.train.__file__).parent

    def imports(name):
        tree = ast.parse((root / f"{name}.py").read_text())
        return {n.module.split(".")[0] for n in ast.walk(tree)
                if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module}

    assert imports("fused") == {"evaluation"}
    assert imports("evaluation") == set()
    assert {"fused", "evaluation"} <= imports("loop")
    assert callable(choose_trainer) and choose_trainer.__module__ == "fastnn.train.loop"
