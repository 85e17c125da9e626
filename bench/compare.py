"""Train the 784-128-64-10 ReLU MLP with Adam(1e-3) on real MNIST (inputs in [-1,1]) with fastnn (fused and
eager), hand-written NumPy, PyTorch and JAX, and print one Markdown table (JSON to --json).

Each (system, batch size, threads) runs in its own subprocess so thread settings cannot leak; systems
alternate inside every (batch, threads) cell and --repeats rounds. Epoch 1 is warm-up (JIT compile,
caches) and excluded from the timing; the table shows the median and min-max seconds/epoch of the rest.

    python bench/compare.py                                   # batch 64,256,1024 x threads 1,2, 4 epochs
    python bench/compare.py --batch-sizes 256 --threads 1 --epochs 3 --systems fastnn-fused,torch
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SYSTEMS = ("fastnn-fused", "fastnn-eager", "numpy", "torch", "jax-step", "jax-scan")
DIMS = (784, 128, 64, 10)
LR = 1e-3
HERE = os.path.dirname(os.path.abspath(__file__))


# ---- workers: one system, one batch size, one thread count; prints a JSON line ---------------------
def thread_env(threads):
    """Environment for a worker: every pool (OpenMP, OpenBLAS, MKL, Numba, XLA) capped at `threads`."""
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[k] = str(threads)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                        + ("false" if threads == 1 else "true")
                        + f" intra_op_parallelism_threads={threads}").strip()
    return env


def load_mnist():
    from fastnn.train.data import load_data

    return load_data("mnist", normalize=True)


def accuracy(logits, y):
    import numpy as np

    return float((np.asarray(logits).argmax(1) == y).mean())


def run_fastnn(path, batch, threads, epochs, seed):
    import fastnn
    from fastnn.train import TrainConfig, run

    fastnn.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(dataset="mnist", model="mlp", optimizer="adam", lr=LR, batch_size=batch,
                          epochs=epochs, seed=seed, threads=threads, path=path, normalize=True,
                          quiet=True, out=out)
        res = run(cfg, log=lambda *a: None)
    if res["path"] != path:
        raise RuntimeError(f"fastnn ran the {res['path']} path, not {path}: {res['reason']}")
    h = res["history"]
    return [e["seconds"] for e in h], h[-1]["test_acc"], {"fastnn": fastnn.__version__}


def run_numpy(batch, threads, epochs, seed):
    import numpy as np
    from threadpoolctl import threadpool_limits

    sys.path.insert(0, HERE)
    from numpy_mlp import NumpyMLP

    xtr, ytr, xte, yte = load_mnist()
    model, rng, times = NumpyMLP(DIMS, seed=seed, lr=LR), np.random.default_rng(seed), []
    with threadpool_limits(limits=threads):
        for _ in range(epochs):
            perm = rng.permutation(len(xtr))
            t0 = time.perf_counter()
            for i in range(0, len(perm), batch):
                idx = perm[i:i + batch]
                model.train_step(xtr[idx], ytr[idx])
            times.append(time.perf_counter() - t0)
        acc = accuracy(model.predict(xte), yte)
    return times, acc, {"numpy": np.__version__}


def run_torch(batch, threads, epochs, seed):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(seed)
    xtr, ytr, xte, yte = (torch.from_numpy(a) for a in load_mnist())   # preloaded tensors, no DataLoader
    layers = []
    for i, (a, b) in enumerate(zip(DIMS[:-1], DIMS[1:])):
        layers += [torch.nn.Linear(a, b)] + ([torch.nn.ReLU()] if i < len(DIMS) - 2 else [])
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    times = []
    for _ in range(epochs):
        perm = torch.randperm(len(xtr))
        t0 = time.perf_counter()
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        acc = accuracy(model(xte).numpy(), yte.numpy())
    return times, acc, {"torch": torch.__version__}


def run_jax(mode, batch, threads, epochs, seed):
    import jax
    import jax.numpy as jnp
    import numpy as np

    xtr, ytr, xte, yte = load_mnist()
    key, params = jax.random.PRNGKey(seed), []
    for a, b in zip(DIMS[:-1], DIMS[1:]):
        key, k1, k2 = jax.random.split(key, 3)
        bound = 1.0 / np.sqrt(a)
        params.append((jax.random.uniform(k1, (b, a), minval=-bound, maxval=bound),
                       jax.random.uniform(k2, (b,), minval=-bound, maxval=bound)))

    def forward(p, x):
        for W, b in p[:-1]:
            x = jax.nn.relu(x @ W.T + b)
        return x @ p[-1][0].T + p[-1][1]

    def loss_fn(p, x, y):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(forward(p, x)), y[:, None], axis=1))

    def adam(p, m, v, t, g, b1=0.9, b2=0.999, eps=1e-8):
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        p = jax.tree_util.tree_map(lambda p, m, v: p - LR * (m / c1) / (jnp.sqrt(v / c2) + eps), p, m, v)
        return p, m, v

    def step(carry, xy):
        p, m, v, t = carry
        g = jax.grad(loss_fn)(p, *xy)
        p, m, v = adam(p, m, v, t + 1, g)
        return (p, m, v, t + 1), None

    jstep = jax.jit(lambda c, x, y: step(c, (x, y))[0])
    jepoch = jax.jit(lambda c, xs, ys: jax.lax.scan(step, c, (xs, ys))[0])
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    carry, rng, times = (params, zeros, zeros, 0.0), np.random.default_rng(seed), []
    xj, yj = jnp.asarray(xtr), jnp.asarray(ytr)
    nb = len(xtr) // batch          # scan needs equal batches: the short tail batch is dropped in both modes
    for _ in range(epochs):
        perm = jnp.asarray(rng.permutation(len(xtr))[:nb * batch].reshape(nb, batch))
        t0 = time.perf_counter()
        if mode == "scan":
            carry = jepoch(carry, xj[perm], yj[perm])
        else:
            for k in range(nb):
                carry = jstep(carry, xj[perm[k]], yj[perm[k]])
        jax.block_until_ready(carry)
        times.append(time.perf_counter() - t0)
    acc = accuracy(np.asarray(jax.jit(forward)(carry[0], jnp.asarray(xte))), yte)
    return times, acc, {"jax": jax.__version__}


def worker(system, batch, threads, epochs, seed):
    if system.startswith("fastnn-"):
        return run_fastnn(system.split("-", 1)[1], batch, threads, epochs, seed)
    if system == "numpy":
        return run_numpy(batch, threads, epochs, seed)
    if system == "torch":
        return run_torch(batch, threads, epochs, seed)
    return run_jax(system.split("-", 1)[1], batch, threads, epochs, seed)


# ---- orchestration ------------------------------------------------------------------------------
def available(system):
    """(True, '') or (False, why) without importing the system in this process."""
    import importlib.util

    mod = {"torch": "torch", "jax-step": "jax", "jax-scan": "jax"}.get(system)
    if mod and importlib.util.find_spec(mod) is None:
        return False, f"{mod} is not installed"
    return True, ""


def spawn(system, batch, threads, epochs, seed, timeout):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", system, "--batch-sizes", str(batch),
           "--threads", str(threads), "--epochs", str(epochs), "--seed", str(seed)]
    p = subprocess.run(cmd, env=thread_env(threads), capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode or not lines:
        return {"error": (p.stderr.strip().splitlines() or ["exit code %d" % p.returncode])[-1]}
    return json.loads(lines[-1])


def environment():
    import platform

    import numpy as np
    from threadpoolctl import threadpool_info

    env = {"python": sys.version.split()[0], "numpy": np.__version__, "platform": platform.platform(),
           "cpu_count": os.cpu_count(), "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
           "OPENBLAS_CORETYPE_set": "OPENBLAS_CORETYPE" in os.environ,
           "blas": [{k: i.get(k) for k in ("user_api", "internal_api", "version", "architecture",
                                           "filepath")} for i in threadpool_info()]}
    try:
        import numba

        env["numba"] = numba.__version__
    except ImportError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            env["cpu"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), None)
    except OSError:
        pass
    return env


def summarize(times, batch, n_train=60000):
    timed = times[1:] if len(times) > 1 else times     # epoch 1 = warm-up
    med = statistics.median(timed)
    return {"median_s": med, "min_s": min(timed), "max_s": max(timed), "samples_per_s": n_train / med,
            "timed_epochs": len(timed)}


def markdown(rows, skipped):
    out = ["| batch | threads | system | s/epoch (median) | min-max | samples/s | vs PyTorch | test acc |",
           "|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['batch']} | {r['threads']} | {r['system']} | failed: {r['error']} | | | | |")
            continue
        ratio = f"{r['vs_torch']:.2f}x" if r.get("vs_torch") else "-"
        out.append(f"| {r['batch']} | {r['threads']} | {r['system']} | {r['median_s']:.3f} | "
                   f"{r['min_s']:.3f}-{r['max_s']:.3f} | {r['samples_per_s']:,.0f} | {ratio} | "
                   f"{100 * r['test_acc']:.2f}% |")
    for s, why in skipped.items():
        out.append(f"\n{s}: skipped ({why})")
    out.append("\nvs PyTorch = PyTorch's median s/epoch / this system's (>1: faster than PyTorch).")
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-sizes", default="64,256,1024")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--epochs", type=int, default=4, help="per run, including the warm-up epoch 1")
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--repeats", type=int, default=1, help="alternating rounds per cell (epochs pooled)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default="bench/compare.json", help="where to write the JSON results")
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        times, acc, ver = worker(a.worker, int(a.batch_sizes), int(a.threads), a.epochs, a.seed)
        print(json.dumps({"times": times, "test_acc": acc, "versions": ver}))
        return 0

    batches = [int(b) for b in a.batch_sizes.split(",")]
    threads = [int(t) for t in a.threads.split(",")]
    systems, skipped = [], {}
    for s in a.systems.split(","):
        if s not in SYSTEMS:
            p.error(f"unknown system '{s}' (choose from: {', '.join(SYSTEMS)})")
        ok, why = available(s)
        (systems.append(s) if ok else skipped.__setitem__(s, why))
    for s, why in skipped.items():
        print(f"# {s}: skipped ({why})", file=sys.stderr)
    rows, versions = [], {}
    for b in batches:
        for t in threads:
            got = {s: {"times": [], "test_acc": None} for s in systems}
            for rnd in range(a.repeats):
                order = systems if rnd % 2 == 0 else systems[::-1]    # alternate who goes first
                for s in order:
                    print(f"# batch {b} threads {t} {s} (round {rnd + 1})", file=sys.stderr, flush=True)
                    r = spawn(s, b, t, a.epochs, a.seed + rnd, a.timeout)
                    if "error" in r:
                        got[s]["error"] = r["error"]
                        continue
                    got[s]["times"] += r["times"][1:] if got[s]["times"] else r["times"]
                    got[s]["test_acc"] = r["test_acc"]
                    versions.update(r["versions"])
            torch_med = None
            if got.get("torch", {}).get("times"):
                torch_med = summarize(got["torch"]["times"], b)["median_s"]
            for s in systems:
                row = {"batch": b, "threads": t, "system": s}
                if not got[s]["times"]:
                    row["error"] = got[s].get("error", "no result")
                else:
                    row.update(summarize(got[s]["times"], b), test_acc=got[s]["test_acc"],
                               epoch_seconds=got[s]["times"])
                    if torch_med:
                        row["vs_torch"] = torch_med / row["median_s"]
                rows.append(row)
    env = environment()
    env["versions"] = versions
    print(markdown(rows, skipped))
    short = {k: env[k] for k in ("python", "numpy", "OPENBLAS_CORETYPE_set", "cpu", "versions") if k in env}
    short["blas"] = [f"{b['internal_api']} {b['version']} {b['architecture']}" for b in env["blas"]
                     if b.get("user_api") == "blas"]
    print("\nenvironment: " + json.dumps(short))
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "skipped": skipped, "environment": env, "args": vars(a)}, f, indent=2)
        print(f"JSON written to {a.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
