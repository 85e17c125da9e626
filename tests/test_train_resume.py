"""Resume: an interrupted-and-resumed run equals an uninterrupted one; SIGKILL mid-epoch loses at most that epoch."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fastnn.train import TrainConfig, load_checkpoint, run

QUIET = dict(dataset="synthetic", synthetic_size=(256, 64), quiet=True)


def _run(**kw):
    return run(TrainConfig(**QUIET, **kw), log=lambda *a: None)


CASES = [
    dict(optimizer="sgd", momentum=0.9, nesterov=True, schedule="step", step_size=1, gamma=0.5),
    dict(optimizer="adam", schedule="onecycle"),
    dict(optimizer="adamw", schedule="cosine"),
    dict(optimizer="rmsprop", momentum=0.5),
    dict(optimizer="adagrad", batch_size=48),      # short last batch
]


class Interrupted(Exception):
    pass


def _stop_after(n):
    def on_epoch(rec, model):
        if rec["epoch"] == n:
            raise Interrupted
    return on_epoch


def _paths():
    return ["eager", "fused"]


@pytest.mark.parametrize("path", _paths())
@pytest.mark.parametrize("case", CASES, ids=lambda c: c["optimizer"] + "-" + c.get("schedule", "none"))
def test_resumed_run_matches_uninterrupted_run(tmp_path, case, path):
    full = _run(epochs=3, out=str(tmp_path / "full"), path=path, **case)
    with pytest.raises(Interrupted):       # the same run, stopped after epoch 1
        run(TrainConfig(**QUIET, epochs=3, out=str(tmp_path / "part"), path=path, **case),
            log=lambda *a: None, on_epoch=_stop_after(1))
    ck = str(tmp_path / "part" / "checkpoint.safetensors")
    resumed = _run(epochs=3, resume=ck, path=path, **case)
    assert resumed["run_dir"] == str(tmp_path / "part")
    a, sa = load_checkpoint(tmp_path / "full" / "checkpoint.safetensors")
    b, sb = load_checkpoint(tmp_path / "part" / "checkpoint.safetensors")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert sa["epoch"] == sb["epoch"] == 3 and sa["step"] == sb["step"]
    assert sa["rng"] == sb["rng"]
    for i, st in sa["optimizer"]["state"].items():
        for name, v in st.items():
            np.testing.assert_array_equal(v.numpy(), sb["optimizer"]["state"][i][name].numpy(), err_msg=name)
    assert sa["optimizer"]["param_groups"][0]["lr"] == sb["optimizer"]["param_groups"][0]["lr"]
    assert [h["train_loss"] for h in full["history"]] == [h["train_loss"] for h in resumed["history"]]
    assert [h["test_acc"] for h in full["history"]] == [h["test_acc"] for h in resumed["history"]]


@pytest.mark.parametrize("first, then", [("fused", "eager"), ("eager", "fused")])
def test_checkpoints_resume_across_paths(tmp_path, first, then):
    """Both paths write torch-layout optimizer state, so either can continue the other's run."""
    case = dict(optimizer="adam", epochs=2, out=str(tmp_path))
    with pytest.raises(Interrupted):
        run(TrainConfig(**QUIET, path=first, **case), log=lambda *a: None, on_epoch=_stop_after(1))
    res = _run(resume=str(tmp_path / "checkpoint.safetensors"), path=then, **case)
    assert [h["path"] for h in res["history"]] == [first, then]
    _, st = load_checkpoint(tmp_path / "checkpoint.safetensors")
    steps = 2 * -(-QUIET["synthetic_size"][0] // 64)
    assert all(float(s["step"].numpy()) == steps for s in st["optimizer"]["state"].values())
    assert res["history"][1]["train_loss"] < res["history"][0]["train_loss"]


def test_resume_of_a_finished_run_trains_no_more(tmp_path):
    _run(epochs=1, out=str(tmp_path / "a"))
    ck = tmp_path / "a" / "checkpoint.safetensors"
    before = load_checkpoint(ck)[0]
    res = _run(epochs=1, resume=str(ck))
    assert len(res["history"]) == 1
    after = load_checkpoint(ck)[0]
    assert all(np.array_equal(before[k], after[k]) for k in before)


def _wait_for(pred, timeout, proc):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def test_sigkill_mid_epoch_then_resume(tmp_path):
    """kill -9 while epoch k+1 trains: the checkpoint of epoch k loads and training continues from it."""
    out = tmp_path / "run"
    ck, metrics = out / "checkpoint.safetensors", out / "metrics.json"
    cmd = [sys.executable, "-m", "fastnn", "train", "--dataset", "synthetic", "--synthetic-size", "3200,64",
           "--epochs", "1000", "--out", str(out), "--quiet", "--path", "eager"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert _wait_for(lambda: metrics.exists(), 240, proc), proc.stderr.read() if proc.poll() is not None else ""
        secs = json.loads(metrics.read_text())["epochs"][-1]["seconds"]
        time.sleep(secs / 2)                     # into the middle of the next epoch
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    tensors, state = load_checkpoint(ck)       # intact: written by os.replace, never torn
    k = state["epoch"]
    assert k >= 1 and len(state["history"]) == k
    res = run(TrainConfig.from_dict(dict(state["config"], epochs=k + 1, resume=str(ck), out=None, quiet=True)),
              log=lambda *a: None)
    assert [h["epoch"] for h in res["history"]] == list(range(1, k + 2))
    t2, s2 = load_checkpoint(ck)
    assert s2["epoch"] == k + 1 and any(not np.array_equal(tensors[n], t2[n]) for n in tensors)
    assert [e["epoch"] for e in json.loads(metrics.read_text())["epochs"]] == list(range(1, k + 2))
