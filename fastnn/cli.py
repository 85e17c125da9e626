"""The `fastnn` console script: `fastnn train ...`, `fastnn compile ...` (also `python -m fastnn ...`)."""
import argparse
import sys

TRAIN_EPILOG = """\
inputs: x = pixel/255 in [0,1]; with --normalize x = (pixel/255 - 0.5)/0.5 in [-1,1]
(torchvision's Normalize((0.5,),(0.5,)), the recipe bench/compare.py gives every system);
--normalize MEAN,STD: x = (pixel/255 - MEAN)/STD, e.g. pytorch/examples' MNIST recipe:
  fastnn train --model mnist-net --optimizer adadelta --lr 1.0 --schedule step --step-size 1 \
    --gamma 0.7 --normalize 0.1307,0.3081
A NaN or Inf loss stops the run (exit status 1) with the epoch, step and value, before that epoch's
checkpoint is written: the last finite checkpoint stays as it was.
Each epoch writes <out>/checkpoint.safetensors atomically (model under torch's state_dict keys,
trainer state in the metadata) and <out>/metrics.json; curves.png is drawn at the end.
--resume CHECKPOINT continues that run (model, optimizer, scheduler, epoch, RNG); options not
given on the command line are taken from the checkpoint, e.g. `--resume ck --epochs 10` extends it.
"""


def _pair(s):
    try:
        a, b = (float(v) for v in s.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two numbers like 0.9,0.999, got '{s}'") from None
    return (a, b)


def _size_pair(s):
    a, b = _pair(s)
    return (int(a), int(b))


def train_parser(prog="fastnn train"):
    from .train.config import TrainConfig

    d = TrainConfig()
    S = argparse.SUPPRESS   # options default to "not given", so --resume can fill them from the checkpoint
    p = argparse.ArgumentParser(prog=prog, description="Train a zoo MLP or CNN on (Fashion-)MNIST or CIFAR-10.",
                                epilog=TRAIN_EPILOG, argument_default=S,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--dataset", metavar="mnist|fashion-mnist|cifar10", help=f"dataset (default {d.dataset})")
    a("--model", metavar="mlp|sigmoid-mlp|lenet5|mnist-net|resnet18",
      help="mlp = 784-128-64-10 ReLU, sigmoid-mlp = 784-256-10 sigmoid, lenet5, mnist-net (pytorch/examples), "
           "resnet18 (for cifar10) (default mlp)")
    a("--optimizer", metavar="sgd|adam|adamw|rmsprop|adagrad|adadelta", help=f"(default {d.optimizer})")
    a("--lr", type=float, help="learning rate (default: sgd 0.01, adam/adamw/rmsprop 1e-3, adagrad 0.01, adadelta 1)")
    a("--momentum", type=float, help="sgd/rmsprop momentum (default 0)")
    a("--weight-decay", type=float, help="(default: 0.01 for adamw, 0 otherwise)")
    a("--betas", type=_pair, help="adam/adamw betas, e.g. 0.9,0.999")
    a("--eps", type=float, help="optimizer eps (default: torch's)")
    a("--alpha", type=float, help="rmsprop smoothing constant (default 0.99)")
    a("--nesterov", action="store_true", help="sgd Nesterov momentum")
    a("--batch-size", type=int, help=f"(default {d.batch_size})")
    a("--epochs", type=int, help=f"(default {d.epochs})")
    a("--device", metavar="cpu|cuda", help="(default cpu)")
    a("--seed", type=int, help=f"seeds init and shuffling (default {d.seed})")
    a("--threads", type=int, help="Numba + BLAS threads (default: all cores)")
    a("--schedule", metavar="none|step|cosine|onecycle",
      help="lr schedule: StepLR / CosineAnnealingLR per epoch, OneCycleLR per step (default none)")
    a("--step-size", type=int, help="StepLR step size in epochs (default max(1, epochs//3))")
    a("--gamma", type=float, help="StepLR decay (default 0.1)")
    a("--max-lr", type=float, help="OneCycleLR peak (default 10*lr)")
    a("--path", metavar="auto|fused|eager",
      help="fused = the whole MLP step in one compiled call (CPU: Numba, per epoch; CUDA: "
           "fastnn.fused graph replays); eager = autograd; auto = fused where the model, optimizer "
           "and device allow it, saying why not otherwise (default auto)")
    a("--data-dir", help="where to look for / download the dataset")
    a("--out", help="run folder (default runs/<timestamp>; with --resume, the checkpoint's folder)")
    a("--resume", metavar="CHECKPOINT", help="continue from a checkpoint.safetensors")
    a("--normalize", nargs="?", const=True, type=_pair, metavar="MEAN,STD",
      help="inputs in [-1,1] instead of [0,1]; with MEAN,STD (pixel/255 - MEAN)/STD (see below)")
    a("--quiet", action="store_true", help="no progress bar")
    a("--clip-grad-norm", type=float, metavar="MAX_NORM",
      help="clip each step's gradient to this global L2 norm (nn.utils.clip_grad_norm_; eager and fused)")
    a("--detect-anomaly", action="store_true",
      help="autograd anomaly detection (fastnn.autograd.detect_anomaly): name the op whose backward made "
           "NaN; runs the eager path")
    a("--nproc", type=int, help="data-parallel over N ranks: relaunches through mpiexec with "
      "`python -m mpi4py -m fastnn train`, the cores divided between ranks (needs fastnn[dist])")
    a("--eval-batch-size", type=int, help=argparse.SUPPRESS)
    a("--train-subset", type=int, help=argparse.SUPPRESS)
    a("--test-subset", type=int, help=argparse.SUPPRESS)
    a("--synthetic-size", type=_size_pair, help=argparse.SUPPRESS)
    return p


def config_from_args(ns):
    """A TrainConfig from parsed args: explicit options over the resumed checkpoint's config over defaults."""
    from .train.config import TrainConfig

    given = vars(ns)
    base = {}
    if given.get("resume"):
        from .train.checkpoint import load_checkpoint

        _, state = load_checkpoint(given["resume"])
        base = dict(state.get("config", {}))
        for k in ("out", "resume", "quiet", "threads", "detect_anomaly"):     # per-invocation, never inherited
            base.pop(k, None)
    base.update(given)
    return TrainConfig.from_dict(base).validate()


def train_main(argv):
    from .train import run

    p = train_parser()
    ns = p.parse_args(argv)
    nproc = vars(ns).pop("nproc", None)
    if nproc is not None and nproc < 1:
        p.error(f"--nproc must be >= 1, got {nproc}")
    if nproc and nproc > 1:
        from .train.distributed import in_mpi_job, launch

        if not in_mpi_job():
            return launch(_without_nproc(argv), nproc)
    try:
        cfg = config_from_args(ns)
        run(cfg)
    except (ValueError, RuntimeError, FileNotFoundError, OSError) as e:
        print(f"fastnn train: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fastnn train: interrupted (the last completed epoch's checkpoint is intact)", file=sys.stderr)
        return 130
    finally:
        from .train.warmup import stop_all

        stop_all()  # a background compile never outlives the command
    return 0


def compile_main(argv):
    """`fastnn compile [train options]`: warm the JIT cache for that `fastnn train` run."""
    from .train.precompile import precompile

    p = train_parser(prog="fastnn compile")
    p.description = "Compile the kernels `fastnn train` with the same options uses into Numba's on-disk cache."
    try:
        precompile(config_from_args(p.parse_args(argv)))
    except (ValueError, RuntimeError, OSError) as e:
        print(f"fastnn compile: error: {e}", file=sys.stderr)
        return 1
    return 0


def _without_nproc(argv):
    """argv minus --nproc N / --nproc=N (the ranks must not relaunch)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def main(argv=None):
    from .threads import passive_wait_when_loaded

    passive_wait_when_loaded()  # before any parallel kernel: see fastnn/threads.py
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="fastnn", description="fastnn command line")
    p.add_argument("command", nargs="?", choices=["train", "compile"],
                   help="train: train a model (fastnn train -h); compile: warm the JIT cache for a train run")
    if not argv or argv[0] in ("-h", "--help"):
        p.print_help()
        return 0 if argv else 2
    if argv[0] == "--version":
        from . import __version__

        print(f"fastnn {__version__}")
        return 0
    if argv[0] == "compile":
        return compile_main(argv[1:])
    if argv[0] != "train":
        p.error(f"unknown command '{argv[0]}' (choose from: train, compile)")
    return train_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
