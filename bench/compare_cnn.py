"""CNN training speed: fastnn's eager loop (model(x), loss.backward(), optimizer.step()), fastnn's fused CNN
(fastnn.fused_cnn.FusedCNN: one compiled call per epoch, "fastnn-fused"), PyTorch, and JAX when installed
("jax-step": a jitted step per batch; "jax-scan": an epoch in one lax.scan; bench/jax_cnn.py) on real
MNIST, LeNet-5 or the pytorch/examples MNIST Net, Adam(1e-3), inputs normalized to [-1, 1]; "bn-cnn" is the
CNN issue's third anchor, 2 x (Conv 3x3 (32, 64 channels, padding 1) - BatchNorm2d - ReLU - MaxPool2d(2)) +
AdaptiveAvgPool2d(1) + Linear (1.4 TFLOP per epoch): eager fastnn and PyTorch only (no fused or JAX
version: those systems print an error line and are left out).

Like bench/compare.py (whose workers, thread caps and summaries this reuses): every (system, batch,
threads) runs in its own subprocess, systems alternate, epoch 1 is warm-up. Each "epoch" trains on a
--subset of the training set and is reported scaled to 60,000 samples, with the peak RSS of the worker.

    python bench/compare_cnn.py --model lenet5 --batch-sizes 64,256 --threads 1,2
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import available, summarize, thread_env  # noqa: E402

SYSTEMS = ("fastnn-eager", "fastnn-fused", "torch", "jax-step", "jax-scan")


def _lib(system, threads):
    if system == "torch":
        import torch

        torch.set_num_threads(threads)
        return torch
    import fastnn
    import fastnn.nn
    import fastnn.optim

    fastnn.set_num_threads(threads)
    return fastnn


def _model(lib, name):
    nn = lib.nn
    if name == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                             nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    if name == "bn-cnn":   # the third anchor: 2 x (Conv 3x3 - BatchNorm2d - ReLU - MaxPool) + AAP + Linear
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 3, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(128, 10), nn.LogSoftmax(dim=1))


def worker(system, model, batch, threads, epochs, subset, seed):
    import numpy as np

    from fastnn.train.data import load_data

    xtr, ytr, _, _ = load_data("mnist", normalize=True, train_subset=subset, flat=False)
    if system.startswith("jax-"):
        import jax_cnn

        times, loss, _ = jax_cnn.run(system.split("-", 1)[1], model, xtr, ytr, batch, epochs, seed)
        return {"times": [t * 60000 / len(xtr) for t in times],
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "final_loss": loss}
    lib = _lib(system, threads)
    lib.manual_seed(seed)
    net = _model(lib, model)
    opt = lib.optim.Adam(net.parameters(), lr=1e-3)
    if system == "fastnn-fused":
        return fused_worker(lib, net, opt, xtr, ytr, batch, epochs, seed)
    X, Y = lib.tensor(xtr), lib.tensor(ytr)
    rng, times = np.random.default_rng(seed), []
    for _ in range(epochs):
        perm = lib.tensor(rng.permutation(len(xtr)))
        t = time.perf_counter()
        for s in range(0, len(xtr), batch):
            idx = perm[s:s + batch]
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(net(X[idx]), Y[idx])
            loss.backward()
            opt.step()
        times.append((time.perf_counter() - t) * 60000 / len(xtr))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"times": times, "rss_mb": rss, "final_loss": float(loss.item())}


def fused_worker(lib, net, opt, xtr, ytr, batch, epochs, seed):
    """Epochs of FusedCNN over the same permutations: the first includes the compile (or cache load)."""
    import numpy as np

    from fastnn.fused_cnn import FusedCNN

    fc = FusedCNN(net, lib.nn.CrossEntropyLoss(), opt, xtr.shape[1:])
    rng, times = np.random.default_rng(seed), []
    for _ in range(epochs):
        perm = rng.permutation(len(xtr))
        t = time.perf_counter()
        loss, _ = fc.epoch(xtr, ytr, batch, perm=perm)
        times.append((time.perf_counter() - t) * 60000 / len(xtr))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"times": times, "rss_mb": rss, "final_loss": float(loss)}


def spawn(args, timeout):
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker"] + args, capture_output=True,
                       text=True, timeout=timeout, env=thread_env(int(args[args.index("--threads") + 1])))
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode or not lines:
        return {"error": (p.stderr.strip().splitlines() or [f"exit code {p.returncode}"])[-1]}
    return json.loads(lines[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="lenet5", choices=("lenet5", "mnist-net", "bn-cnn"))
    p.add_argument("--batch-sizes", default="64,256")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--epochs", type=int, default=3, help="per run, including the warm-up epoch 1")
    p.add_argument("--subset", type=int, default=6000, help="training samples per timed epoch")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--system", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.system, a.model, int(a.batch_sizes), int(a.threads), a.epochs, a.subset, a.seed)))
        return 0
    print("| model | batch | threads | system | s per 60k epoch (median) | min-max | vs PyTorch | peak RSS MB |")
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    systems = []
    for s in a.systems.split(","):
        ok, why = available(s)
        if not ok:
            print(f"# {s}: skipped, {why}", file=sys.stderr)
        else:
            systems.append(s)
    for b in a.batch_sizes.split(","):
        for t in a.threads.split(","):
            got = {s: [] for s in systems}
            rss = {}
            for rnd in range(a.repeats):
                for s in (systems if rnd % 2 == 0 else systems[::-1]):
                    r = spawn(["--system", s, "--model", a.model, "--batch-sizes", b, "--threads", t, "--epochs",
                               str(a.epochs), "--subset", str(a.subset), "--seed", str(a.seed + rnd)], a.timeout)
                    if "error" in r:
                        print(f"# {s} batch {b} threads {t}: {r['error']}", file=sys.stderr)
                        continue
                    got[s] += r["times"][1:] if got[s] else r["times"]
                    rss[s] = max(rss.get(s, 0), r["rss_mb"])
            ref = statistics.median(got["torch"][1:] or got["torch"]) if got.get("torch") else None
            for s in systems:
                if not got[s]:
                    continue
                m = summarize(got[s], int(b))
                ratio = f"{ref / m['median_s']:.2f}x" if ref else "-"
                print(f"| {a.model} | {b} | {t} | {s} | {m['median_s']:.2f} | {m['min_s']:.2f}-{m['max_s']:.2f} | "
                      f"{ratio} | {rss[s]:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
