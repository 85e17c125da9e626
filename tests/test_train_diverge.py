"""`fastnn train` stops a diverging run (issue 14 point 2): a NaN/Inf loss exits with status 1 and a
message naming the epoch (and step on the eager cpu path), the value and the hints, before the epoch's
checkpoint is written, so the last finite checkpoint stays byte-identical; --clip-grad-norm on both
paths; --detect-anomaly runs the eager path with fastnn.autograd's anomaly mode on."""
import numpy as np
import pytest

import fastnn
from fastnn.cli import main
from fastnn.train import loop

QUICK = ["--dataset", "synthetic", "--synthetic-size", "256,64", "--quiet", "--optimizer", "sgd"]
# lr 0.1 for epoch 1, then StepLR multiplies it by 1e9: epoch 2's loss overflows to NaN
BLOW_UP = ["--lr", "0.1", "--schedule", "step", "--step-size", "1", "--gamma", "1e9", "--epochs", "3"]


@pytest.fixture
def saved(monkeypatch):
    """The bytes of checkpoint.safetensors right after each save_checkpoint call of the run."""
    record, original = [], loop.save_checkpoint

    def save_and_read(path, *args, **kwargs):
        original(path, *args, **kwargs)
        with open(path, "rb") as f:
            record.append(f.read())
    monkeypatch.setattr(loop, "save_checkpoint", save_and_read)
    return record


@pytest.mark.parametrize("path", ["eager", "fused"])
def test_divergence_stops_the_run_and_keeps_the_last_finite_checkpoint(tmp_path, capsys, saved, path):
    with np.errstate(all="ignore"):
        rc = main(["train", *QUICK, *BLOW_UP, "--out", str(tmp_path), "--path", path])
    err = capsys.readouterr().err
    assert rc == 1
    where = "epoch 2, step " if path == "eager" else "epoch 2: "   # the eager cpu path checks every step
    assert f"training diverged at {where}" in err and "the training loss is nan" in err
    assert "the checkpoint of epoch 1" in err and "was left as it was" in err
    assert "Try a lower --lr (this run: 0.1, 1e+08 when it diverged) or --clip-grad-norm 1.0." in err
    assert len(saved) == 1                                   # epoch 1's, and nothing after it
    assert (tmp_path / "checkpoint.safetensors").read_bytes() == saved[0]
    state = fastnn.train.load_checkpoint(str(tmp_path / "checkpoint.safetensors"))[0]
    assert all(np.isfinite(v).all() for v in state.values())


def test_divergence_in_the_first_epoch_writes_no_checkpoint(tmp_path, capsys, saved):
    with np.errstate(all="ignore"):
        rc = main(["train", *QUICK, "--lr", "1e9", "--epochs", "2", "--out", str(tmp_path), "--path", "eager"])
    err = capsys.readouterr().err
    assert rc == 1 and "training diverged at epoch 1, step " in err and "no checkpoint was written" in err
    assert saved == [] and not (tmp_path / "checkpoint.safetensors").exists()


def test_resume_with_a_lower_lr_applies_it(tmp_path):
    """The hint's remedy: --resume CHECKPOINT --lr LOWER trains on at the new lr (the optimizer state
    loaded from the checkpoint would otherwise bring the old lr back); without --lr the old one stays."""
    out = tmp_path / "run"
    assert main(["train", *QUICK, "--lr", "0.1", "--epochs", "1", "--out", str(out)]) == 0
    ckpt = str(out / "checkpoint.safetensors")
    assert main(["train", "--resume", ckpt, "--epochs", "2", "--quiet"]) == 0
    assert fastnn.train.load_checkpoint(ckpt)[1]["optimizer"]["param_groups"][0]["lr"] == 0.1
    assert main(["train", "--resume", ckpt, "--epochs", "3", "--lr", "0.02", "--quiet"]) == 0
    assert fastnn.train.load_checkpoint(ckpt)[1]["optimizer"]["param_groups"][0]["lr"] == 0.02


def test_clip_grad_norm_same_on_eager_and_fused_and_it_clips(tmp_path):
    def weights(path, *extra):
        out = tmp_path / f"{path}{len(extra)}"
        argv = [*QUICK, "--lr", "0.5", "--epochs", "2", "--out", str(out), "--path", path, *extra]
        assert main(["train", *argv]) == 0
        return fastnn.train.load_checkpoint(str(out / "checkpoint.safetensors"))[0]

    eager, fused = weights("eager", "--clip-grad-norm", "0.05"), weights("fused", "--clip-grad-norm", "0.05")
    plain = weights("eager")
    for k in eager:     # float32, 8 steps: the fused-vs-eager bar of tests/test_fused.py
        np.testing.assert_allclose(fused[k], eager[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert max(np.abs(plain[k] - eager[k]).max() for k in eager) > 1e-3     # clipping changed the run


def test_clip_grad_norm_must_be_positive(capsys):
    assert main(["train", *QUICK, "--clip-grad-norm", "0"]) == 1
    assert "--clip-grad-norm must be a positive max norm, got 0.0" in capsys.readouterr().err


def test_detect_anomaly_runs_eager_with_anomaly_mode(tmp_path, capsys, monkeypatch):
    seen, original = [], loop.EagerTrainer.train_epoch

    def recording(self, *args, **kwargs):
        seen.append(fastnn.is_anomaly_enabled())
        return original(self, *args, **kwargs)
    monkeypatch.setattr(loop.EagerTrainer, "train_epoch", recording)
    assert main(["train", *QUICK, "--epochs", "2", "--detect-anomaly", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "path: eager (auto: --detect-anomaly checks every op's backward" in out
    assert seen == [True, True] and not fastnn.is_anomaly_enabled()
    assert main(["train", *QUICK, "--detect-anomaly", "--path", "fused", "--out", str(tmp_path)]) == 1
    assert "--detect-anomaly checks every op's backward, which only the eager" in capsys.readouterr().err
