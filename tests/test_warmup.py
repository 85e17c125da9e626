"""The first run without the wait (fastnn/train/warmup.py): the fused kernel compiles in a background
process while the eager path trains; the switch at an epoch boundary; the background process never
outlives the command (normal end, Ctrl-C, the parent killed); concurrent cold compiles into one
cache leave a cache that a third process loads and computes correctly with (oracle: fused_mlp/ref.py).

Every process here that needs an empty JIT cache gets its own NUMBA_CACHE_DIR. The one full compile
of the fused kernel (two processes at once) is shared by the tests through a module fixture.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fastnn.train import TrainConfig
from fastnn.train import warmup

QUICK = ["--dataset", "synthetic", "--quiet", "--threads", "1"]


def _env(cache, background=True):
    return dict(os.environ, NUMBA_CACHE_DIR=str(cache), FASTNN_BACKGROUND_COMPILE="1" if background else "0")


def _py(code, cache, cwd, timeout=600, **kw):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=_env(cache), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, **kw)


def _alive(pid):
    """True while pid runs (a zombie nobody reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _children(pid):
    """pid's background-compile children (other short-lived children, e.g. `uname -p`, are left out)."""
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        kids = [int(c) for c in f.read().split()]
    out = []
    for k in kids:
        try:
            with open(f"/proc/{k}/cmdline") as f:
                if "fastnn.train.warmup" in f.read():
                    out.append(k)
        except FileNotFoundError:
            pass
    return out


def _wait_gone(pid, seconds=15):
    end = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < end:
        time.sleep(0.05)
    return not _alive(pid)


@pytest.fixture(scope="module")
def fused_cache(tmp_path_factory):
    """A cache directory filled by two cold compiles of the fused kernel started at once: `fastnn compile`
    and the background process `python -m fastnn.train.warmup CONFIG`."""
    cache, cwd = tmp_path_factory.mktemp("nbcache"), tmp_path_factory.mktemp("cwd")
    procs = [subprocess.Popen([sys.executable, "-m", "fastnn", "compile"], env=_env(cache), cwd=cwd,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True),
             subprocess.Popen([sys.executable, "-m", "fastnn.train.warmup", json.dumps(TrainConfig().to_dict())],
                              env=_env(cache), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert "fused kernel: compiled" in outs[0]
    return cache


CHECK = """
    import json
    import numpy as np
    from numba.core import event
    from fastnn.kernels.fused_mlp import cpu, ref
    from fastnn.backends.base import FusedMLPSpec
    from fastnn.backends.cpu_fused import CPUFusedMLP
    from fastnn.train import TrainConfig, warmup

    loaded = warmup.fused_cached(TrainConfig())  # True: train_epoch came from the cache
    rng = np.random.default_rng(3)
    X, Y = rng.uniform(-1, 1, (48, 784)).astype(np.float32), rng.integers(0, 10, 48)
    P = 784 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10
    spec = FusedMLPSpec(sizes=(784, 32, 16, 10), activations="relu", bias=True, optimizer="sgd",
                        hparams=dict(lr=0.1, momentum=0.9), params=rng.uniform(-0.05, 0.05, P).astype(np.float32))
    t = CPUFusedMLP(spec)
    opt_code, hp = t.hp
    p64, st64, g64 = t.params.astype(np.float64), t.state.astype(np.float64), np.zeros(t.params.size)
    with event.install_recorder("numba:compile") as rec:
        loss, acc = t.epoch(X, Y, batch_size=16, perm=np.arange(48))
    compiled = sorted({e.data["dispatcher"].py_func.__name__ for _, e in rec.buffer})
    rloss, racc, _ = ref.train_epoch(p64, g64, st64, X.astype(np.float64), Y, np.arange(48), 16, False, 1.0, 0.0,
                                     hp, opt_code, 0, t.dims, t.has_bias, t.act_codes, t.drop_p, 0, 1)
    err = float(np.max(np.abs(t.params - p64)) / np.max(np.abs(p64)))
    print(json.dumps({"loaded": loaded, "compiled": compiled, "loss": [loss, rloss], "acc": [acc, racc],
                      "err": err}))
"""


def test_concurrent_cold_compiles_leave_a_cache_a_third_process_loads(fused_cache, tmp_path):
    p = _py(CHECK, fused_cache, tmp_path)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["loaded"] is True and "train_epoch" not in r["compiled"], r
    # float32 kernel against the float64 reference after 3 SGD steps: rounding-level differences only
    assert r["err"] < 64 * np.finfo(np.float32).eps, r
    assert abs(r["loss"][0] - r["loss"][1]) < 1e-4 * max(1.0, abs(r["loss"][1])) and r["acc"][0] == r["acc"][1]


def test_fastnn_compile_makes_the_next_run_fused_from_epoch_1(fused_cache, tmp_path):
    p = subprocess.run([sys.executable, "-m", "fastnn", "compile"], env=_env(fused_cache), cwd=tmp_path,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0 and "fused kernel: already cached" in p.stdout, p.stdout + p.stderr
    p = subprocess.run([sys.executable, "-m", "fastnn", "train", *QUICK, "--epochs", "1", "--out", str(tmp_path / "r")],
                       env=_env(fused_cache), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "path: fused (" in p.stdout and "background" not in p.stdout, p.stdout


def test_probe_never_compiles_and_stop_ends_a_running_compile(tmp_path, monkeypatch):
    # the probe on an empty cache: False, and no train_epoch entry written (its compile never started)
    p = _py("from fastnn.train import TrainConfig, warmup; print(warmup.fused_cached(TrainConfig()))",
            tmp_path / "cache", tmp_path)
    assert p.returncode == 0 and p.stdout.split()[-1] == "False", p.stderr
    assert not [f for _, _, fs in os.walk(tmp_path / "cache") for f in fs if "train_epoch" in f]
    # a background compile into an empty cache runs until stopped; stop() kills and reaps it
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache2"))
    bg = warmup.BackgroundCompile(TrainConfig())
    time.sleep(1.0)
    assert not bg.ready() and not bg.failed()
    assert bg.stop() is True
    assert bg.proc.returncode is not None and not _alive(bg.proc.pid)
    assert bg.stop() is False  # idempotent


def test_the_compile_dies_with_its_parent(tmp_path):
    code = """
        import sys, time
        from fastnn.train import TrainConfig, warmup
        bg = warmup.BackgroundCompile(TrainConfig())
        print(bg.proc.pid, flush=True)
        time.sleep(120)
    """
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=_env(tmp_path / "cache"),
                              cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)  # no atexit, no finally: only PR_SET_PDEATHSIG is left
        parent.wait()
        assert _wait_gone(child)
    finally:
        parent.kill()


@pytest.fixture(scope="module")
def eager_cache(tmp_path_factory):
    """A cache directory holding the eager kernels only (the fused kernel is not compiled there)."""
    cache = tmp_path_factory.mktemp("eagercache")
    p = subprocess.run([sys.executable, "-m", "fastnn", "compile", "--path", "eager"], env=_env(cache),
                       cwd=tmp_path_factory.mktemp("cwd"), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0 and "fused kernel: not used" in p.stdout, p.stdout + p.stderr
    return cache


def test_a_run_that_ends_first_stops_the_compile_and_says_so(eager_cache, tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "fastnn", "train", *QUICK, "--epochs", "2", "--out",
                          str(tmp_path / "r")], env=_env(eager_cache), cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    lines, kids = [], []
    for line in p.stdout:
        lines.append(line)
        if line.startswith("path:"):
            kids = _children(p.pid)
    p.wait(timeout=600)
    out = "".join(lines)
    assert p.returncode == 0, out + p.stderr.read()
    assert "path: eager->fused" in out and "stopped the background compile" in out, out
    assert len(kids) == 1 and _wait_gone(kids[0], 5)
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert [e["path"] for e in m["epochs"]] == ["eager", "eager"]


def test_ctrl_c_stops_the_compile(eager_cache, tmp_path):
    # SIGINT at its default in the child: a shell that starts pytest in the background leaves SIGINT
    # ignored, which the child would inherit (Python then installs no KeyboardInterrupt handler)
    p = subprocess.Popen([sys.executable, "-m", "fastnn", "train", *QUICK, "--epochs", "100000", "--out",
                          str(tmp_path / "r")], env=_env(eager_cache), cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in p.stdout:
            if line.startswith("epoch"):
                break
        kids = _children(p.pid)
        assert len(kids) == 1 and _alive(kids[0])
        p.send_signal(signal.SIGINT)  # the parent alone: it must end the child itself
        p.communicate(timeout=60)
        assert p.returncode == 130
        assert _wait_gone(kids[0], 5)
    finally:
        p.kill()


class _FakeCompile:
    """Stands in for BackgroundCompile: ready from the n-th poll on."""

    def __init__(self, n):
        self.n, self.seconds = n, 0.0

    def ready(self):
        self.n -= 1
        return self.n <= 0

    def failed(self):
        return False

    def stop(self):
        return False


def test_switch_at_an_epoch_boundary_continues_the_same_run():
    """Two eager epochs then two fused ones through WarmingTrainer equal four eager epochs (the fused and
    eager paths share the optimizer's flat buffers; float32 rounding apart)."""
    import fastnn
    from fastnn.train.config import make_optimizer
    from fastnn.train.fused import FusedTrainer
    from fastnn.train.loop import EagerTrainer
    from fastnn.train.models import build_model

    rng = np.random.default_rng(0)
    X, Y = rng.uniform(-1, 1, (256, 784)).astype(np.float32), rng.integers(0, 10, 256).astype(np.int64)
    cfg = TrainConfig()
    runs = []
    for warming in (False, True):
        fastnn.manual_seed(0)
        model = build_model("mlp")
        opt = make_optimizer(cfg, model.parameters())
        eager = EagerTrainer(model, opt)
        trainer = warmup.WarmingTrainer(eager, lambda: FusedTrainer(model, opt), _FakeCompile(3),
                                        log=lambda *a: None) if warming else eager
        names = []
        for e in range(4):
            trainer.train_epoch(X, Y, np.random.default_rng(e).permutation(256), 64)
            names.append(trainer.name)
        runs.append((np.concatenate([p.detach().numpy().ravel() for p in model.parameters()]), names))
    (ref, _), (got, names) = runs
    assert names == ["eager", "eager", "fused", "fused"]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
