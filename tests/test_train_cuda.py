"""`fastnn train --device cuda`: the same loop on the CUDA backend (a real GPU, or the emulated stand-in)
matches the CPU run, checkpoints/resumes, and a missing GPU is a clear error."""
import numpy as np
import pytest

from fastnn.train import TrainConfig, load_checkpoint, run

SMALL = dict(dataset="synthetic", synthetic_size=(96, 32), batch_size=32, quiet=True, path="eager")


@pytest.fixture(scope="module")
def cuda():
    try:
        from conftest_cuda import install_cuda_standin

        install_cuda_standin()
        from fastnn.backends import get_backend

        get_backend("cuda")
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no cuda backend (real or emulated): {e}")
    return "cuda"


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


def test_unknown_device_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="unknown device type 'tpu'"):
        _silent(device="tpu", out=str(tmp_path), **{k: v for k, v in SMALL.items()}, epochs=1)
