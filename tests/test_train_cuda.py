"""`fastnn train --device cuda`: the same loop on the CUDA backend (a real GPU, or the emulated stand-in)
matches the CPU run, checkpoints/resumes, and a missing GPU is a clear error."""
import numpy as np
import pytest

from fastnn.train import TrainConfig, load_checkpoint, run

SMALL = dict(dataset="synthetic", synthetic_size=(96, 32), batch_size=32, quiet=True, path="eager")


@pytest.fixture(scope="module")
def cuda():
    """'cuda' on a real GPU or the emulated stand-in; the backend registry is restored afterwards so
    tests that run later in this process see the machine as it is."""
    from fastnn import backends

    from conftest_cuda import install_cuda_standin, real_gpu_available

    saved = (backends._REGISTRY.get("cuda"), backends._INSTANCES.get("cuda"))
    if not (install_cuda_standin() or real_gpu_available()):
        pytest.skip("no cuda backend: no GPU and no C++20 g++ for the emulator")
    backends.get_backend("cuda")             # registered: a failure to build it is a failure, not a skip
    yield "cuda"
    _restore(backends, saved)


def _restore(backends, saved):
    spec, inst = saved
    backends._REGISTRY["cuda"] = spec
    if inst is None:
        backends._INSTANCES.pop("cuda", None)
    else:
        backends._INSTANCES["cuda"] = inst


def _silent(**kw):
    return run(TrainConfig(**kw), log=lambda *a: None)


def test_cuda_training_matches_cpu(tmp_path, cuda):
    """Same init (built on the CPU RNG, then moved), same batches, SGD: parameters agree to float32
    rounding of differently ordered sums."""
    kw = dict(SMALL, optimizer="sgd", lr=0.05, momentum=0.9, epochs=2)
    g = _silent(device=cuda, out=str(tmp_path / "gpu"), **kw)
    c = _silent(device="cpu", out=str(tmp_path / "cpu"), **kw)
    a, _ = load_checkpoint(tmp_path / "cpu" / "checkpoint.safetensors")
    b, _ = load_checkpoint(tmp_path / "gpu" / "checkpoint.safetensors")
    eps = np.finfo(np.float32).eps
    for k in a:
        np.testing.assert_allclose(b[k], a[k], atol=64 * eps * np.abs(a[k]).max(), rtol=0, err_msg=k)
    for hg, hc in zip(g["history"], c["history"]):
        assert hg["train_loss"] == pytest.approx(hc["train_loss"], rel=1e-4)
    assert g["history"][-1]["train_loss"] < g["history"][0]["train_loss"]


def test_cuda_resume_matches_uninterrupted(tmp_path, cuda):
    kw = dict(SMALL, device=cuda, optimizer="adam")
    _silent(epochs=2, out=str(tmp_path / "full"), **kw)
    _silent(epochs=1, out=str(tmp_path / "part"), **kw)
    _silent(epochs=2, resume=str(tmp_path / "part" / "checkpoint.safetensors"), **kw)
    a, sa = load_checkpoint(tmp_path / "full" / "checkpoint.safetensors")
    b, sb = load_checkpoint(tmp_path / "part" / "checkpoint.safetensors")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert sa["epoch"] == sb["epoch"] == 2


def test_cuda_fused_path_matches_eager(tmp_path, cuda):
    """--path fused on cuda runs fastnn.fused.FusedMLP (CUDA graphs) over the same batches as eager."""
    kw = dict(SMALL, device=cuda, optimizer="sgd", lr=0.05, momentum=0.9, epochs=2)
    kw.pop("path")
    e = _silent(path="eager", out=str(tmp_path / "eager"), **kw)
    f = _silent(path="fused", out=str(tmp_path / "fused"), **kw)
    assert f["path"] == "fused" and "FusedMLP" in f["reason"]
    a, _ = load_checkpoint(tmp_path / "eager" / "checkpoint.safetensors")
    b, sb = load_checkpoint(tmp_path / "fused" / "checkpoint.safetensors")
    eps = np.finfo(np.float32).eps
    for k in a:
        np.testing.assert_allclose(b[k], a[k], atol=64 * eps * np.abs(a[k]).max(), rtol=0, err_msg=k)
    assert set(sb["optimizer"]["state"][0]) == {"momentum_buffer"}
    for he, hf in zip(e["history"], f["history"]):
        assert hf["train_loss"] == pytest.approx(he["train_loss"], rel=1e-4)


@pytest.mark.parametrize("path", ["eager", "fused"])
def test_cuda_divergence_stops_and_keeps_the_checkpoint(tmp_path, cuda, path):
    """StepLR x1e9 after epoch 1: epoch 2's loss is NaN; the run raises naming epoch 2 (no step: on cuda the
    loss is checked at the syncs that exist) and epoch 1's checkpoint stays byte-identical."""
    kw = dict(SMALL, device=cuda, optimizer="sgd", lr=0.1, schedule="step", step_size=1, gamma=1e9, epochs=3,
              path=path, out=str(tmp_path))
    ckpt, saved = tmp_path / "checkpoint.safetensors", []
    with np.errstate(all="ignore"), pytest.raises(RuntimeError, match=r"training diverged at epoch 2: the training "
                                                  r"loss is nan; the checkpoint of epoch 1 .* was left as it was"):
        run(TrainConfig(**kw), log=lambda *a: None, on_epoch=lambda rec, model: saved.append(ckpt.read_bytes()))
    assert len(saved) == 1 and ckpt.read_bytes() == saved[0]


def test_cuda_clip_grad_norm_fused_matches_eager(tmp_path, cuda):
    """--clip-grad-norm on cuda: the fused graphs clip the summed gradient as eager clip_grad_norm_ does."""
    kw = dict(SMALL, device=cuda, optimizer="sgd", lr=0.5, momentum=0.9, epochs=2, clip_grad_norm=0.05)
    kw.pop("path")
    f = _silent(path="fused", out=str(tmp_path / "fused"), **kw)
    _silent(path="eager", out=str(tmp_path / "eager"), **kw)
    assert f["path"] == "fused"
    a, _ = load_checkpoint(tmp_path / "eager" / "checkpoint.safetensors")
    b, _ = load_checkpoint(tmp_path / "fused" / "checkpoint.safetensors")
    eps = np.finfo(np.float32).eps
    for k in a:   # the bar of test_cuda_fused_path_matches_eager
        np.testing.assert_allclose(b[k], a[k], atol=64 * eps * np.abs(a[k]).max(), rtol=0, err_msg=k)
    u = _silent(path="fused", out=str(tmp_path / "unclipped"), **dict(kw, clip_grad_norm=None))
    c, _ = load_checkpoint(tmp_path / "unclipped" / "checkpoint.safetensors")
    assert u["path"] == "fused" and max(np.abs(c[k] - b[k]).max() for k in a) > 1e-4    # the clip acted


def test_unknown_device_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="unknown device type 'tpu'"):
        _silent(device="tpu", out=str(tmp_path), **{k: v for k, v in SMALL.items()}, epochs=1)
