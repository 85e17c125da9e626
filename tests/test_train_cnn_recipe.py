"""`fastnn train` runs pytorch/examples' MNIST recipe: the command line's optimizer, schedule and input
normalization equal the examples' (Adadelta(lr=1.0), StepLR(1, 0.7), (x/255 - 0.1307)/0.3081), the
examples Net's loss is nll_loss of its log_softmax, and every zoo CNN trains from the command line on
(N, C, H, W) images of MNIST, Fashion-MNIST and CIFAR-10 files in the official binary format.
bench/examples_mnist.py (the examples' main.py with its imports changed) is the same recipe, eager."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn.cli import config_from_args, main, train_parser
from fastnn.train.config import TrainConfig, make_optimizer, make_scheduler
from fastnn.train.data import load_data, synthetic_images
from fastnn.vision import models
from fastnn.vision.datasets import cifar

EPS32 = float(np.finfo(np.float32).eps)
EXAMPLES = ("--model mnist-net --optimizer adadelta --lr 1.0 --schedule step --step-size 1 --gamma 0.7 "
            "--batch-size 64 --normalize 0.1307,0.3081").split()
ROOT = pathlib.Path(__file__).resolve().parents[1]


def _cfg(argv):
    return config_from_args(train_parser().parse_args(argv))


def test_examples_optimizer_and_schedule_from_the_command_line():
    cfg = _cfg(EXAMPLES + ["--epochs", "4"])
    assert (cfg.model, cfg.batch_size, cfg.normalize) == ("mnist-net", 64, (0.1307, 0.3081))
    opt = make_optimizer(cfg, models.mnist_net().parameters())
    assert isinstance(opt, fastnn.optim.Adadelta)
    g = opt.param_groups[0]
    try:                                   # the examples call optim.Adadelta(params, lr=1.0): torch's defaults
        import torch
        want = torch.optim.Adadelta([torch.zeros(1, requires_grad=True)], lr=1.0).param_groups[0]
    except ImportError:
        want = {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0}
    assert {k: g[k] for k in ("lr", "rho", "eps", "weight_decay")} == \
           {k: want[k] for k in ("lr", "rho", "eps", "weight_decay")}
    sched, every = make_scheduler(cfg, opt, 938)
    assert every == "epoch" and isinstance(sched, fastnn.optim.lr_scheduler.StepLR)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    np.testing.assert_allclose(lrs, [0.7 ** k for k in range(4)], rtol=4 * np.finfo(np.float64).eps)


def test_examples_normalization_is_applied_to_the_pixels():
    cfg = _cfg(EXAMPLES + ["--dataset", "synthetic"])
    x, _, xt, _ = load_data("synthetic", normalize=cfg.normalize, synthetic_size=(6, 4), flat=False)
    pixels = synthetic_images(6, seed=1)[0]                    # the same uint8 images load_data read
    want = (pixels[:, None].astype(np.float64) / 255.0 - 0.1307) / 0.3081
    assert x.shape == (6, 1, 28, 28) and x.dtype == np.float32 and xt.shape == (4, 1, 28, 28)
    np.testing.assert_allclose(x, want, rtol=0, atol=4 * EPS32 * np.abs(want).max())
    try:                                   # torchvision: ToTensor (x.float().div(255)) then Normalize
        import torch
        tv = torch.from_numpy(pixels[:, None]).float().div(255).sub(0.1307).div(0.3081).numpy()
        np.testing.assert_allclose(x, tv, rtol=0, atol=2 * EPS32 * np.abs(tv).max())
    except ImportError:
        pass
    plain = load_data("synthetic", normalize=_cfg(["--normalize"]).normalize, synthetic_size=(6, 4))[0]
    np.testing.assert_allclose(plain.reshape(6, 28, 28), (pixels / 255.0 - 0.5) / 0.5, rtol=0, atol=4 * EPS32)


def test_normalize_survives_the_checkpoint_config_and_refuses_a_bad_std():
    cfg = _cfg(EXAMPLES)
    back = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))   # checkpoints store the config as JSON
    assert back.normalize == (0.1307, 0.3081) and back == cfg
    assert _cfg(["--normalize"]).normalize is True and _cfg([]).normalize is False
    with pytest.raises(ValueError, match="--normalize needs a positive std, got MEAN,STD = 0.5,0"):
        _cfg(["--normalize", "0.5,0"])
    with pytest.raises(SystemExit):
        train_parser().parse_args(["--normalize", "0.5"])


def test_examples_net_loss_is_nll_of_its_log_softmax():
    fastnn.manual_seed(0)
    net = models.mnist_net().eval()
    x = fastnn.tensor(np.random.default_rng(0).standard_normal((5, 1, 28, 28)).astype(np.float32))
    y = fastnn.tensor(np.array([0, 3, 9, 1, 3]))
    out = net(x)
    logp = out.detach().numpy().astype(np.float64)
    np.testing.assert_allclose(np.exp(logp).sum(1), 1.0, rtol=0, atol=16 * EPS32)   # log-probabilities
    ce = float(fastnn.nn.functional.cross_entropy(out, y))    # what fastnn train minimises
    nll = -logp[np.arange(5), y.numpy()].mean()               # the examples' F.nll_loss, by hand
    assert abs(ce - nll) <= 16 * EPS32 * max(1.0, abs(nll))


def _cifar_files(root):
    folder = pathlib.Path(root) / cifar.FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in cifar.TRAIN + cifar.TEST:
        rec = rng.integers(0, 256, (cifar.PER_FILE, cifar.RECORD)).astype(np.uint8)
        rec[:, 0] %= 10
        rec.tofile(folder / name)


def _have(dataset):
    from fastnn import data

    try:
        {"mnist": data.MNIST, "fashion-mnist": data.FashionMNIST}[dataset](train=False, download=False)
        return True
    except (RuntimeError, OSError):
        return False


CASES = [("lenet5", "mnist"), ("mnist-net", "mnist"), ("resnet18", "mnist"), ("lenet5", "fashion-mnist"),
         ("mnist-net", "fashion-mnist"), ("resnet18", "fashion-mnist"), ("resnet18", "cifar10")]


@pytest.mark.parametrize("model,dataset", CASES)
def test_zoo_cnn_trains_from_the_command_line(model, dataset, tmp_path, capsys):
    if dataset != "cifar10" and not _have(dataset):
        pytest.skip(f"{dataset} is not installed here (apt-get install dataset-{dataset})")
    extra = []
    if dataset == "cifar10":
        _cifar_files(tmp_path)
        extra = ["--data-dir", str(tmp_path)]
    out = tmp_path / "run"
    argv = ["train", "--model", model, "--dataset", dataset, "--epochs", "1", "--batch-size", "16",
            "--train-subset", "32", "--test-subset", "16", "--quiet", "--out", str(out), *extra]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(ln.startswith("path: ") for ln in lines) and any(ln.startswith("epoch   1 |") for ln in lines)
    m = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(m["epochs"][0]["train_loss"]) and 0.0 <= m["epochs"][0]["test_acc"] <= 1.0
    from fastnn.train import load_checkpoint

    tensors, _ = load_checkpoint(out / "checkpoint.safetensors")
    first = tensors["conv1.weight" if model == "resnet18" else "0.weight"]
    assert first.shape[1] == (3 if dataset == "cifar10" else 1)     # (N, C, H, W) inputs: C channels


@pytest.mark.parametrize("model", ["lenet5", "mnist-net"])
def test_28x28_cnns_refuse_cifar10_naming_resnet18(model, tmp_path, capsys):
    _cifar_files(tmp_path)
    argv = ["train", "--model", model, "--dataset", "cifar10", "--data-dir", str(tmp_path), "--epochs", "1",
            "--train-subset", "8", "--test-subset", "8", "--quiet", "--out", str(tmp_path / "run")]
    assert main(argv) == 1
    assert "takes 1-channel 28x28 images; use --model resnet18 for cifar10" in capsys.readouterr().err


def test_examples_script_changes_only_the_imports():
    """bench/examples_mnist.py = the examples' torch main.py through tests/ports/rewrite.py."""
    from ports.rewrite import rewrite

    ported = (ROOT / "bench" / "examples_mnist.py").read_text()
    torch_lines = [ln.replace("import fastnn.vision", "import torchvision").replace("from fastnn.vision", "from torchvision")
                   .replace("import fastnn as torch", "import torch").replace("fastnn", "torch")
                   if ln.startswith(("import ", "from ")) else ln for ln in ported.splitlines()]
    assert "fastnn" not in "\n".join(ln for ln in torch_lines if not ln.startswith("#"))
    assert rewrite("\n".join(torch_lines) + "\n") == ported


@pytest.mark.slow
def test_examples_script_dry_run_on_mnist(tmp_path):
    if not _have("mnist"):
        pytest.skip("MNIST is not cached or installed here")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "examples_mnist.py"), "--dry-run", "--epochs", "1"],
                       capture_output=True, text=True, timeout=900, cwd=run_dir,
                       env=dict(os.environ, NUMBA_NUM_THREADS="1"))
    assert p.returncode == 0, p.stderr
    first = p.stdout.split("Train Epoch: 1 [0/60000 (0%)]\tLoss: ")[1].split()[0]
    assert abs(float(first) - np.log(10)) < 0.05          # torch's init: near-uniform log-probabilities
    assert "\nTest set: Average loss: " in p.stdout and "/10000 (" in p.stdout   # one epoch of eval ran
