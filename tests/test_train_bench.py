"""The training bench scripts: train_cpu.py drives fastnn.train.run, numpy_mlp.py is a correct MLP+Adam,
compare.py's timing summary drops the warm-up epoch."""
import importlib.util
import os
import sys

import numpy as np
import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")


def _load(name):
    if BENCH not in sys.path:
        sys.path.insert(0, BENCH)
    spec = importlib.util.spec_from_file_location(name, os.path.join(BENCH, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_train_cpu_runs_the_library_loop_and_prints_a_table(tmp_path, capsys):
    mod = _load("train_cpu")
    res = mod.main(["--dataset", "synthetic", "--synthetic-size", "128,32", "--epochs", "2", "--quiet",
                    "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert [h["epoch"] for h in res["history"]] == [1, 2]
    rows = [ln for ln in out.splitlines() if ln.startswith("| 1 |") or ln.startswith("| 2 |")]
    assert len(rows) == 2 and f"{100 * res['history'][1]['test_acc']:.2f}%" in rows[1]
    assert os.path.exists(tmp_path / "checkpoint.safetensors")


def test_train_cpu_refuses_cuda(capsys):
    mod = _load("train_cpu")
    with pytest.raises(SystemExit):
        mod.main(["--device", "cuda"])
    assert "train_gpu.py" in capsys.readouterr().err


def test_compare_summary_excludes_the_warmup_epoch():
    mod = _load("compare")
    s = mod.summarize([9.0, 1.0, 3.0, 2.0], batch=64, n_train=600)
    assert (s["median_s"], s["min_s"], s["max_s"], s["timed_epochs"]) == (2.0, 1.0, 3.0, 3)
    assert s["samples_per_s"] == 300.0
    table = mod.markdown([dict(batch=64, threads=1, system="numpy", test_acc=0.9, vs_torch=1.5, **s),
                          dict(batch=64, threads=1, system="torch", error="boom")], {"jax-scan": "not installed"})
    assert "| 64 | 1 | numpy | 2.000 | 1.000-3.000 | 300 | 1.50x | 90.00% |" in table
    assert "failed: boom" in table and "jax-scan: skipped (not installed)" in table


def test_compare_thread_env_caps_every_pool():
    env = _load("compare").thread_env(2)
    assert all(env[k] == "2" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                        "NUMBA_NUM_THREADS"))


def _batch(seed, n=32):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 784)).astype(np.float32), rng.integers(0, 10, n)


def test_numpy_mlp_gradients_match_central_differences():
    """Its hand-written backward against float64 central differences of its own forward + loss."""
    mlp = _load("numpy_mlp").NumpyMLP((6, 5, 4, 3), seed=1)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((7, 6)).astype(np.float32), rng.integers(0, 3, 7)

    def loss_at(flat):
        a, off = x.astype(np.float64), 0
        dims = mlp.dims
        for k, (i, o) in enumerate(zip(dims[:-1], dims[1:])):
            W = flat[off:off + o * i].reshape(o, i)
            off += o * i
            b = flat[off:off + o]
            off += o
            a = a @ W.T + b
            if k < len(dims) - 2:
                a = np.maximum(a, 0)
        z = a - a.max(1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))

    flat0 = mlp.flat.astype(np.float64).copy()
    mlp.lr = 0.0                                   # keep the parameters; we only want the gradient
    mlp.train_step(x, y)
    h = 1e-6
    num = np.array([(loss_at(flat0 + h * e) - loss_at(flat0 - h * e)) / (2 * h) for e in np.eye(flat0.size)])
    eps = np.finfo(np.float32).eps
    np.testing.assert_allclose(mlp.grad, num, atol=64 * eps, rtol=64 * eps)


@pytest.mark.torch
def test_numpy_mlp_adam_steps_match_torch():
    torch = pytest.importorskip("torch")
    mlp = _load("numpy_mlp").NumpyMLP((784, 128, 64, 10), seed=0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64),
                              torch.nn.ReLU(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        for k, i in enumerate((0, 2, 4)):
            net[i].weight.copy_(torch.from_numpy(mlp.W[k]))
            net[i].bias.copy_(torch.from_numpy(mlp.b[k]))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for s in range(3):
        x, y = _batch(s)
        ours = mlp.train_step(x, y)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        opt.step()
        assert ours == pytest.approx(loss.item(), rel=1e-5)
    for k, i in enumerate((0, 2, 4)):
        # each Adam step moves a weight by <= ~lr; ulp-level gradient differences can flip tiny-gradient
        # coordinates, so allow 5% of one step per step (measured differences are ~1e-6)
        np.testing.assert_allclose(mlp.W[k], net[i].weight.detach().numpy(), atol=3 * 0.05 * 1e-3, rtol=0)
