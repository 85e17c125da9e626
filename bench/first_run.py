"""Wall time of the `fastnn train` command itself, cold and warm: what a new user waits for.

    python bench/first_run.py                          # default run: 3 cold + 3 warm, median table
    python bench/first_run.py --train-args "--normalize --epochs 10 --schedule onecycle --max-lr 0.003"
    python bench/first_run.py --cold 3 --warm 3 --baseline /path/to/site  # alternate with another build

Each cold run is a fresh process with an empty Numba cache (a new NUMBA_CACHE_DIR); the warm runs share
one cache filled first by `fastnn compile` with the same options. Every run is `python -m fastnn train
ARGS --out TMP` started outside the source tree; the table gives per run the wall time from the start
of the process to its exit, its CPU time (user + sys of the process and its children: on a loaded
host the steadier measure of the work done), the time to its first epoch line, the final test accuracy and the path of
each epoch (e = eager, f = fused), then the medians. `--baseline SITE` puts SITE first on PYTHONPATH for
a second set of runs (a `pip install --target SITE` of another checkout), alternating with this one
run by run, so both see the same load on a shared machine.
"""
import argparse
import json
import os
import resource
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

EPOCH = re.compile(r"^epoch\s+\d+ .*test acc\s+([\d.]+)%")


def _env(cache, site):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    if site:
        env["PYTHONPATH"] = site + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_train(train_args, cache, site=None):
    """One `fastnn train` process: {'wall', 'cpu', 'first_epoch', 'acc', 'paths'} (times in s)."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "fastnn", "train", *train_args, "--out", out]
        t0, ru0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.Popen(cmd, env=_env(cache, site), cwd=out, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        first, acc, lines = None, None, []
        for line in p.stdout:
            lines.append(line)
            m = EPOCH.match(line)
            if m:
                first = first or time.perf_counter() - t0
                acc = float(m.group(1))
        p.wait()
        wall, ru = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (ru.ru_utime - ru0.ru_utime) + (ru.ru_stime - ru0.ru_stime)
        if p.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{''.join(lines)}")
        with open(os.path.join(out, "metrics.json")) as f:
            paths = "".join(e["path"][0] for e in json.load(f)["epochs"])
    return {"wall": wall, "cpu": cpu, "first_epoch": first, "acc": acc, "paths": paths}


def compile_cache(train_args, cache, site=None):
    """`fastnn compile ARGS` into cache; returns its wall time."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "fastnn", "compile", *train_args],
                       env=_env(cache, site), cwd=tempfile.gettempdir(), capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"fastnn compile failed:\n{p.stdout}{p.stderr}")
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-args", default="", help="options for `fastnn train` (one string)")
    ap.add_argument("--cold", type=int, default=3)
    ap.add_argument("--warm", type=int, default=3)
    ap.add_argument("--baseline", help="site directory of another build to alternate with")
    a = ap.parse_args(argv)
    args = shlex.split(a.train_args)
    builds = [("this", None)] + ([("baseline", a.baseline)] if a.baseline else [])
    rows = {name: [] for name, _ in builds}
    with tempfile.TemporaryDirectory() as root:
        for i in range(a.cold):
            for name, site in builds:
                cache = os.path.join(root, f"cold-{name}-{i}")
                rows[name].append((f"cold {i + 1}", run_train(args, cache, site)))
                print(name, *rows[name][-1], flush=True)
        for name, site in builds if a.warm else ():
            cache = os.path.join(root, f"warm-{name}")
            if site and not os.path.exists(os.path.join(site, "fastnn", "train", "precompile.py")):
                run_train(args, cache, site)  # a baseline without `fastnn compile`: a full run warms it
            else:
                compile_cache(args, cache, site)
        for i in range(a.warm):
            for name, site in builds:
                rows[name].append((f"warm {i + 1}", run_train(args, os.path.join(root, f"warm-{name}"), site)))
                print(name, *rows[name][-1], flush=True)
    print(f"\n`fastnn train {a.train_args}` ({os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the end)\n")
    print("| build | run | wall | CPU time | first epoch line | final test acc | path per epoch |")
    print("|---|---|---:|---:|---:|---:|---|")
    for name, _ in builds:
        for run, r in rows[name]:
            print(f"| {name} | {run} | {r['wall']:.2f} s | {r['cpu']:.2f} s | {r['first_epoch']:.2f} s "
                  f"| {r['acc']:.2f}% | {r['paths']} |")
        for kind in ("cold", "warm"):
            rs = [r for run, r in rows[name] if run.startswith(kind)]
            if rs:
                print(f"| {name} | **median {kind}** | {statistics.median(r['wall'] for r in rs):.2f} s "
                      f"| {statistics.median(r['cpu'] for r in rs):.2f} s "
                      f"| {statistics.median(r['first_epoch'] for r in rs):.2f} s "
                      f"| {statistics.median(r['acc'] for r in rs):.2f}% | |")


if __name__ == "__main__":
    main()
