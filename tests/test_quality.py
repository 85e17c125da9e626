"""The issue's quality bars on real MNIST, as full runs (opt-in: FASTNN_QUALITY=1; about a minute each).

1. mlp, Adam(1e-3), batch 64, inputs in [-1, 1], 10 epochs: within 0.3 points of PyTorch's 97.2%
   (measured here with the same recipe, shared/README.md), as the mean of seeds 0, 1, 2 on one thread
   (a single run's last-epoch accuracy moves by +-0.5 points from seed to seed, for torch as for us).
2. The documented 98% recipe: mlp, Adam, OneCycleLR(max_lr=3e-3), batch 64, 10 epochs: >= 98.0%.
"""
import os

import pytest

from fastnn.train import TrainConfig, run

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.environ.get("FASTNN_QUALITY") != "1", reason="set FASTNN_QUALITY=1")]

TORCH_ADAM_10_EPOCHS = 0.972  # PyTorch 2.13, same recipe, this machine kind (shared/README.md)


def _train(tmp_path, seed=0, **kw):
    cfg = TrainConfig(dataset="mnist", model="mlp", optimizer="adam", batch_size=64, epochs=10, normalize=True,
                      quiet=True, out=str(tmp_path / f"seed{seed}"), seed=seed, threads=1, **kw)
    return run(cfg, log=lambda *_: None)["history"][-1]["test_acc"]


def test_adam_matches_pytorch_within_point_three(tmp_path):
    accs = [_train(tmp_path, seed=s, lr=1e-3) for s in (0, 1, 2)]
    assert abs(sum(accs) / len(accs) - TORCH_ADAM_10_EPOCHS) <= 0.003 + 1e-9, accs


def test_documented_recipe_reaches_98_percent(tmp_path):
    assert _train(tmp_path, lr=1e-3, schedule="onecycle", max_lr=3e-3) >= 0.980
