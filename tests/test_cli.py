"""`fastnn train` CLI: argument parsing, config merging on --resume, run folder contents, clear errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fastnn.cli import config_from_args, main, train_parser
from fastnn.train import TrainConfig, load_checkpoint
from fastnn.train.models import expected_shapes

QUICK = ["--dataset", "synthetic", "--synthetic-size", "256,64", "--quiet"]


def parse(*argv):
    return config_from_args(train_parser().parse_args(list(argv)))


def test_defaults_are_trainconfig_defaults():
    assert parse() == TrainConfig()
    assert (TrainConfig().batch_size, TrainConfig().epochs, TrainConfig().path) == (64, 5, "auto")


def test_options_map_to_config_fields():
    c = parse("--dataset", "fashion-mnist", "--model", "sigmoid-mlp", "--optimizer", "sgd", "--lr", "0.05",
              "--momentum", "0.9", "--nesterov", "--weight-decay", "1e-4", "--batch-size", "32", "--epochs", "2",
              "--seed", "7", "--threads", "1", "--schedule", "step", "--step-size", "2", "--gamma", "0.5",
              "--path", "eager", "--data-dir", "/d", "--out", "/o", "--normalize")
    assert (c.dataset, c.model, c.optimizer, c.lr, c.momentum, c.nesterov, c.weight_decay) == \
           ("fashion-mnist", "sigmoid-mlp", "sgd", 0.05, 0.9, True, 1e-4)
    assert (c.batch_size, c.epochs, c.seed, c.threads, c.schedule, c.step_size, c.gamma) == (32, 2, 7, 1, "step", 2, 0.5)
    assert (c.path, c.data_dir, c.out, c.normalize) == ("eager", "/d", "/o", True)
    assert parse("--optimizer", "adam", "--betas", "0.8,0.99").betas == (0.8, 0.99)


def test_resolved_defaults_per_optimizer():
    assert parse("--optimizer", "sgd").resolved_lr() == 0.01
    assert parse("--optimizer", "adam").resolved_lr() == 1e-3
    assert parse("--optimizer", "adamw").resolved_weight_decay() == 0.01
    assert parse("--optimizer", "adam").resolved_weight_decay() == 0.0


@pytest.mark.parametrize("argv, msg", [
    (["--optimizer", "lbfgs"], "unknown optimizer 'lbfgs'"),
    (["--model", "resnet"], "unknown model 'resnet'"),
    (["--schedule", "linear"], "unknown schedule"),
    (["--path", "jit"], "unknown path 'jit'"),
    (["--batch-size", "0"], "batch_size must be >= 1"),
    (["--nesterov"], "--nesterov needs --optimizer sgd with --momentum > 0"),
])
def test_bad_values_are_refused_with_a_message(argv, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(")):
        parse(*argv)


def test_malformed_betas_exit_with_usage(capsys):
    with pytest.raises(SystemExit):
        train_parser().parse_args(["--betas", "0.9"])
    assert "expected two numbers" in capsys.readouterr().err


def test_top_level_help_version_and_unknown_command(capsys):
    assert main([]) == 2
    assert main(["--version"]) == 0 and "fastnn 0." in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["fit"])
    assert "unknown command 'fit'" in capsys.readouterr().err


def test_python_m_fastnn_train_help_runs(tmp_path):
    p = subprocess.run([sys.executable, "-m", "fastnn", "train", "--help"], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)  # not the repo root: `python -m` would import the source tree
    assert p.returncode == 0, p.stderr
    for opt in ("--dataset", "--optimizer", "--schedule", "--path", "--resume", "--normalize",
                "pixel/255 - 0.5)/0.5"):
        assert opt in p.stdout


def test_train_writes_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *QUICK, "--epochs", "2", "--out", str(out), "--path", "eager"]) == 0
    text = capsys.readouterr().out
    assert "path: eager (requested with --path eager)" in text
    lines = [ln for ln in text.splitlines() if ln.startswith("epoch")]
    assert len(lines) == 2 and all(k in lines[0] for k in ("train loss", "test loss", "test acc", "samples/s"))
    assert sorted(os.listdir(out)) == ["checkpoint.safetensors", "curves.png", "metrics.json"]
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["epochs"] == 2 and m["path"] == "eager" and [e["epoch"] for e in m["epochs"]] == [1, 2]
    assert {"numpy", "numba", "python", "fastnn"} <= set(m["versions"])
    for e in m["epochs"]:
        assert 0 <= e["test_acc"] <= 1 and e["seconds"] > 0 and np.isfinite(e["train_loss"])
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tensors, state = load_checkpoint(out / "checkpoint.safetensors")
    assert {k: v.shape for k, v in tensors.items()} == expected_shapes("mlp")
    assert state["epoch"] == 2 and state["config"]["dataset"] == "synthetic"


def test_default_run_folder_is_runs_timestamp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *QUICK, "--epochs", "1"]) == 0
    (run,) = os.listdir(tmp_path / "runs")
    assert len(run) == len("20250101-120000") and run[8] == "-"
    assert (tmp_path / "runs" / run / "metrics.json").exists()


def test_errors_are_messages_not_tracebacks(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path / "missing.safetensors")]) == 1
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["train", *QUICK, "--dataset", "cifar", "--out", str(tmp_path)]) == 1
    assert "unknown dataset 'cifar'" in capsys.readouterr().err


def test_resume_refuses_another_architecture(tmp_path, capsys):
    out = tmp_path / "a"
    assert main(["train", *QUICK, "--epochs", "1", "--out", str(out), "--model", "sigmoid-mlp"]) == 0
    capsys.readouterr()
    rc = main(["train", "--resume", str(out / "checkpoint.safetensors"), "--model", "mlp", "--epochs", "2"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "missing keys: 4.weight, 4.bias" in err and "0.weight: checkpoint (256, 784) vs model (128, 784)" in err


def test_resume_takes_unspecified_options_from_the_checkpoint(tmp_path):
    out = tmp_path / "a"
    assert main(["train", *QUICK, "--epochs", "1", "--out", str(out), "--optimizer", "sgd", "--lr", "0.2",
                 "--batch-size", "32"]) == 0
    c = parse("--resume", str(out / "checkpoint.safetensors"), "--epochs", "3")
    assert (c.optimizer, c.lr, c.batch_size, c.epochs, c.dataset) == ("sgd", 0.2, 32, 3, "synthetic")
    assert c.resume.endswith("checkpoint.safetensors") and c.out is None


def test_resume_with_another_optimizer_is_refused(tmp_path, capsys):
    out = tmp_path / "a"
    assert main(["train", *QUICK, "--epochs", "1", "--out", str(out), "--optimizer", "sgd"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(out / "checkpoint.safetensors"), "--optimizer", "adam"]) == 1
    assert "holds sgd optimizer state" in capsys.readouterr().err
