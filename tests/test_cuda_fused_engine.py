"""The CUDA fused MLP through the engine's public path (fastnn.fused.FusedMLP on a model moved to 'cuda',
and fastnn.train.run(device='cuda')) on the emulated GPU: one graph capture per batch shape, one graph
launch per step, no host sync inside an epoch, also while OneCycleLR changes lr and beta1 every step;
and the parameters equal the eager CPU run's (float32 rounding of differently ordered sums)."""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.fused import FusedMLP
from fastnn.train import TrainConfig, load_checkpoint, run

EPS = float(np.finfo(np.float32).eps)


@pytest.fixture(scope="module")
def cuda():
    from fastnn import backends

    be = backends.get_backend("cuda")   # emulated when no GPU (tests/conftest.py); a failure is a failure
    return be


def _model(device):
    fastnn.manual_seed(3)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 5)).to(device)


def _data(n=22):
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, 12)).astype(np.float32), rng.integers(0, 5, n).astype(np.int64)


def _eager(X, Y, perm, B, scheduled, epochs):
    """The same training on the CPU eager path: the oracle for the fused parameters."""
    model = _model("cpu")
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=epochs * 3) if scheduled else None
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        for s in range(0, len(perm), B):
            rows = perm[s:s + B]
            opt.zero_grad()
            loss_fn(model(fastnn.tensor(X[rows])), fastnn.tensor(Y[rows])).backward()
            opt.step()
            if sched is not None:
                sched.step()
    return [p.detach().numpy() for p in model.parameters()]


@pytest.mark.parametrize("scheduled", [False, True], ids=["constant", "onecycle"])
def test_fused_mlp_on_cuda_captures_once_per_shape(cuda, scheduled):
    X, Y = _data()
    perm = np.random.default_rng(2).permutation(len(X)).astype(np.int64)
    B, epochs = 8, 3                                       # 2 full batches + 1 of 6 rows per epoch
    model = _model("cuda")
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=epochs * 3) if scheduled else None
    fm = FusedMLP(model, nn.CrossEntropyLoss(), opt)
    Xd, Yd = fastnn.tensor(X, device="cuda"), fastnn.tensor(Y, device="cuda")
    on_step = sched.step if sched is not None else None
    betas = []
    for e in range(epochs):
        before = cuda.stats.as_dict()
        fm.epoch(Xd, Yd, B, perm=perm, on_step=on_step)
        d = {k: v - before[k] for k, v in cuda.stats.as_dict().items()}
        betas.append(opt.param_groups[0]["betas"][0])
        assert d["graph_captures"] == (2 if e == 0 else 0), d       # shapes 8 and 6, captured once
        assert d["graph_launches"] == 3, d                          # one launch per step
        assert d["host_syncs"] == 1, d                              # the epoch's single read at its end
    if scheduled:
        assert len(set(betas)) == epochs                            # beta1 really changed every epoch
    want = _eager(X, Y, perm, B, scheduled, epochs)
    for got, ref in zip(model.parameters(), want):
        got = got.detach().cpu().numpy()
        np.testing.assert_allclose(got, ref, atol=256 * EPS * np.abs(ref).max(), rtol=0)


def test_fused_graph_key_ignores_parameter_values(cuda):
    """Changing the weights (an eager step, a load) must not re-capture: the key holds no values."""
    X, Y = _data(16)
    model = _model("cuda")
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    fm = FusedMLP(model, nn.CrossEntropyLoss(), opt)
    Xd, Yd = fastnn.tensor(X, device="cuda"), fastnn.tensor(Y, device="cuda")
    fm.step(Xd, Yd)
    captures = cuda.stats.graph_captures
    with fastnn.no_grad():
        for p in model.parameters():
            p.mul_(0.5)
    opt.param_groups[0]["lr"] = 0.05
    opt.param_groups[0]["momentum"] = 0.8
    for _ in range(3):
        fm.step(Xd, Yd)
    assert cuda.stats.graph_captures == captures


def test_train_run_on_cuda_with_onecycle_counts(tmp_path, cuda):
    """fastnn.train.run(device='cuda') with OneCycleLR: fused, one launch per step, one sync per epoch."""
    # SGD with momentum (OneCycleLR cycles it): Adam's m/sqrt(v) turns a rounding-level difference in a
    # near-zero gradient into a step of ~lr (one weight of 8192 moved 2e-5 when the CPU GEMM changed from
    # OpenBLAS to ours); Adam + OneCycleLR parity is the FusedMLP tests' above (smaller model)
    kw = dict(dataset="synthetic", synthetic_size=(96, 32), batch_size=32, quiet=True, optimizer="sgd",
              momentum=0.9, schedule="onecycle", epochs=2)
    counts = []

    def on_epoch(rec, model):
        counts.append(cuda.stats.as_dict())

    start = cuda.stats.as_dict()
    f = run(TrainConfig(device="cuda", path="fused", out=str(tmp_path / "fused"), **kw), log=lambda *a: None,
            on_epoch=on_epoch)
    assert f["path"] == "fused"
    steps = 96 // 32
    prev = start
    for c in counts:
        assert c["graph_launches"] - prev["graph_launches"] == steps
        prev = c
    assert counts[-1]["graph_captures"] - start["graph_captures"] == 1
    e = run(TrainConfig(device="cpu", path="eager", out=str(tmp_path / "eager"), **kw), log=lambda *a: None)
    a, _ = load_checkpoint(tmp_path / "eager" / "checkpoint.safetensors")
    b, _ = load_checkpoint(tmp_path / "fused" / "checkpoint.safetensors")
    for k in a:
        np.testing.assert_allclose(b[k], a[k], atol=256 * EPS * np.abs(a[k]).max(), rtol=0, err_msg=k)
    assert e["history"][-1]["train_loss"] == pytest.approx(f["history"][-1]["train_loss"], rel=1e-3)
