"""fastnn.distributed, DistributedDataParallel and DistributedSampler: real MPI jobs (mpiexec) with timeouts."""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("mpi4py", reason="mpi4py not installed: pip install 'fastnn[dist]'")

from fastnn.utils.data.distributed import DistributedSampler  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "dist_scripts")


def mpirun(n, script, *args, timeout=300, threads=1):
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    if mpiexec is None:
        pytest.skip("mpi4py is importable but no mpiexec is on PATH")
    t = str(threads)
    env = dict(os.environ, NUMBA_NUM_THREADS=t, OMP_NUM_THREADS=t, OPENBLAS_NUM_THREADS="1")
    cmd = [mpiexec, "-n", str(n), sys.executable, "-m", "mpi4py", os.path.join(SCRIPTS, script), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("world", [2, 3])
def test_ddp_equals_one_process(tmp_path, world, opt):
    """20 steps at per-rank batch 12/N (then an uneven batch of 7) == one process at batch 12 (float64)."""
    out = tmp_path / "res.json"
    p = mpirun(world, "ddp_train.py", opt, str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["world"] == world
    assert res["max_abs_diff"] < 1e-10
    assert res["bitwise_equal"]
    assert res["keys"] == ["module.0.weight", "module.0.bias", "module.2.weight", "module.2.bias"]


def _fused_dp(tmp_path, world, opt, mode, *device):
    out = tmp_path / "res.json"
    p = mpirun(world, "fused_dp_train.py", opt, mode, str(out), *device, threads=2 if mode == "threads" else 1)
    if device and p.returncode != 0 and "emulated cuda backend unavailable" in p.stderr:
        pytest.skip("emulated cuda backend unavailable")
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["world"] == world
    assert res["bitwise_equal"]          # every rank holds the same parameters
    assert res["moved"] > 1e-3           # training changed them (the comparison is not vacuous)
    return res


@pytest.mark.parametrize("world,opt,mode", [(2, "sgd", "plain"), (3, "sgd", "plain"), (2, "adam", "plain"),
                                            (3, "adam", "plain"), (2, "adam", "dropout"), (3, "sgd", "dropout"),
                                            (3, "sgd", "clip"), (2, "adam", "threads")])
def test_fused_data_parallel_equals_one_process(tmp_path, world, opt, mode):
    """FusedMLP(data_parallel=True) on N ranks == one process's FusedMLP at the global batch, float64: an
    epoch of 20 batches of 12 plus an uneven one of 7 (ranks take 4/4/4.., then 2/2/3 rows), one of 13
    rows (a last batch of 1 row: 0/1, 0/0/1), then two steps whose 10 rows are split unevenly (3/7,
    2/1/7); dropout masks keyed by the global row; clipping on the global gradient; 2 threads per rank
    (row shards inside a rank's slice, partial gradients summed in parallel). Ranks start from other
    weights and pass other permutations."""
    res = _fused_dp(tmp_path, world, opt, mode)
    if mode == "threads":   # the multi-thread branch really ran: 2 shards, P above the parallel-sum size
        from fastnn.kernels.fused_mlp.cpu import PAR_MIN_PARAMS
        assert res["shards"] == 2 and res["P"] >= PAR_MIN_PARAMS
    assert res["max_abs_diff"] < 1e-10
    got, want = np.array(res["got"]), np.array(res["want"])
    np.testing.assert_allclose(got[:, 0], want[:, 0], rtol=1e-12, atol=0)   # global mean losses
    np.testing.assert_array_equal(got[:, 1], want[:, 1])                    # accuracy, correct counts


@pytest.mark.parametrize("world,opt,mode", [(2, "sgd", "plain"), (3, "adam", "dropout"), (2, "adam", "clip")])
def test_fused_data_parallel_on_emulated_cuda(tmp_path, world, opt, mode):
    """The cuda fused step with the gradient allreduce captured into its graph (nccl stand-in reducing
    through MPI on the emulated backend; not real NCCL) == one process's cuda FusedMLP, float32."""
    res = _fused_dp(tmp_path, world, opt, mode, "cuda")
    P = 6 * 16 + 16 + 16 * 4 + 4
    assert res["max_abs_diff"] < 64 * np.finfo(np.float32).eps * res["param_scale"]
    got, want = np.array(res["got"]), np.array(res["want"])
    np.testing.assert_allclose(got[:, 0], want[:, 0], rtol=1e-5, atol=0)
    np.testing.assert_array_equal(got[:, 1], want[:, 1])
    # four graphs (batch 12, the uneven 7, the 1-row batch, the step) each captured ONE gradient
    # allreduce; it ran once per step (21 + 2 epoch steps + 2 steps) from the graphs' replays
    assert res["captured"] == [["allReduce", P]] * 4
    assert res["calls"].count(["allReduce", P]) == 25


def test_a_failing_rank_ends_the_job(tmp_path):
    t0 = time.monotonic()
    p = mpirun(3, "rank_raises.py", timeout=60)
    assert time.monotonic() - t0 < 30
    assert p.returncode != 0
    assert "rank 1 fails on purpose" in p.stderr


def test_nccl_path_on_emulated_cuda(tmp_path):
    """backend='nccl' orchestration with a stand-in communicator reducing through MPI (not real NCCL)."""
    base = tmp_path / "n.json"
    p = mpirun(2, "nccl_ddp.py", str(base))
    if p.returncode != 0 and "emulated cuda backend unavailable" in p.stderr:
        pytest.skip("emulated cuda backend unavailable")
    assert p.returncode == 0, p.stderr[-3000:]
    r = [json.loads((tmp_path / f"n.json.{k}").read_text()) for k in range(2)]
    x = [np.arange(6, dtype=np.float32) * (k + 1) for k in range(2)]
    for k in range(2):
        np.testing.assert_array_equal(r[k]["max"], np.maximum(x[0], x[1]))
        np.testing.assert_array_equal(r[k]["gather"], np.stack(x))
        np.testing.assert_array_equal(r[k]["scatter"], x[0] + k + x[1] + k)
        assert r[k]["cpu_error"] == "No backend type associated with device type cpu"
        xb = [np.random.default_rng(j).standard_normal((4, 6)).astype(np.float32) for j in range(2)]
        want = np.tile((xb[0].sum(0) + xb[1].sum(0)) / 2, (3, 1))  # d(sum(x W^T))/dW, averaged
        np.testing.assert_allclose(r[k]["grad"], want, rtol=1e-5, atol=1e-5)
        assert ["allReduce", 21] in r[k]["calls"]  # one flat allreduce of weight+bias grads
    assert r[0]["weight"] == r[1]["weight"]


# ---- DistributedSampler (no MPI job needed: num_replicas and rank given) ---------------------------
@pytest.mark.parametrize("n,world,drop_last", [(10, 3, False), (10, 3, True), (2, 5, False), (12, 4, False),
                                               (7, 2, True)])
def test_sampler_unshuffled_matches_torch(n, world, drop_last):
    torch = pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchDS

    for r in range(world):
        ours = DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=False, drop_last=drop_last)
        theirs = TorchDS(range(n), num_replicas=world, rank=r, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)
    del torch


@pytest.mark.parametrize("n,world,drop_last", [(10, 3, False), (10, 3, True), (13, 4, False), (100, 8, True)])
def test_sampler_shuffled_partitions_like_torch(n, world, drop_last):
    pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchDS

    for epoch in range(3):
        ours, theirs = [], []
        for r in range(world):
            s = DistributedSampler(range(n), num_replicas=world, rank=r, seed=5, drop_last=drop_last)
            t = TorchDS(range(n), num_replicas=world, rank=r, seed=5, drop_last=drop_last)
            s.set_epoch(epoch)
            t.set_epoch(epoch)
            ours.append(list(s))
            theirs.append(list(t))
        assert [len(o) for o in ours] == [len(t) for t in theirs]
        flat_o, flat_t = sum(ours, []), sum(theirs, [])
        assert len(set(flat_o)) == len(set(flat_t))  # distinct indices covered (all, or all but the cut)
        assert sorted(np.bincount(flat_o, minlength=n)) == sorted(np.bincount(flat_t, minlength=n))
    a = [list(DistributedSampler(range(n), num_replicas=world, rank=0, seed=5)) for _ in range(2)]
    assert a[0] == a[1]  # deterministic for a seed and epoch


def test_sampler_bad_rank():
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        DistributedSampler(range(5), num_replicas=3, rank=3)


# ---- fastnn train --nproc ------------------------------------------------------------------------
def _train(tmp_path, name, *extra):
    out = tmp_path / name
    cmd = [sys.executable, "-m", "fastnn", "train", "--dataset", "synthetic", "--optimizer", "sgd",
           "--momentum", "0.9", "--batch-size", "64", "--quiet", "--path", "eager", "--out", str(out), *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    return p, json.loads((out / "metrics.json").read_text())


def test_train_nproc_matches_one_process_and_resumes(tmp_path):
    if shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]) is None:
        pytest.skip("mpi4py is importable but no mpiexec is on PATH")
    _, one = _train(tmp_path, "one", "--epochs", "2")
    p, two = _train(tmp_path, "two", "--epochs", "2", "--nproc", "2")
    assert p.stdout.count("epoch   1 |") == 1  # rank 0 alone prints
    assert "data-parallel over 2 ranks" in two["path_reason"]
    for a, b in zip(one["epochs"], two["epochs"]):  # float32: equal global batches, averaged shard means
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-4
        assert abs(a["test_loss"] - b["test_loss"]) < 1e-4
    _train(tmp_path, "res", "--epochs", "1", "--nproc", "2")
    _, res = _train(tmp_path, "res2", "--resume", str(tmp_path / "res" / "checkpoint.safetensors"),
                    "--epochs", "2", "--nproc", "2")
    assert abs(res["epochs"][-1]["test_loss"] - two["epochs"][-1]["test_loss"]) < 1e-5


def test_train_nproc_fused_matches_one_process(tmp_path):
    """fastnn train --nproc 2 --path fused: the data-parallel fused trainer, equal to one fused process."""
    if shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]) is None:
        pytest.skip("mpi4py is importable but no mpiexec is on PATH")
    _, one = _train(tmp_path, "one", "--epochs", "2", "--path", "fused")
    p, two = _train(tmp_path, "two", "--epochs", "2", "--path", "fused", "--nproc", "2")
    assert two["path"] == "fused"
    assert "data-parallel over 2 ranks (FusedMLP(data_parallel=True))" in two["path_reason"]
    assert p.stdout.count("epoch   1 |") == 1
    for a, b in zip(one["epochs"], two["epochs"]):  # float32, the same global batches
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-4
        assert abs(a["test_loss"] - b["test_loss"]) < 1e-4
    _, auto = _train(tmp_path, "auto", "--epochs", "1", "--path", "auto", "--nproc", "2")
    assert auto["path"] == "fused"   # auto: the fused path when it applies, data-parallel too
    _, res = _train(tmp_path, "res", "--resume", str(tmp_path / "auto" / "checkpoint.safetensors"),
                    "--epochs", "2", "--path", "fused", "--nproc", "2")
    assert abs(res["epochs"][-1]["test_loss"] - two["epochs"][-1]["test_loss"]) < 1e-5
