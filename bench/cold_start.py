"""Cold start of the MNIST MLP on the CPU: `import fastnn`, the first fused step and the first eager step,
each timed in a fresh process, with Numba's JIT cache empty (a new NUMBA_CACHE_DIR) and then warm.

    python bench/cold_start.py              # 1 cold run, then 3 warm runs; prints a Markdown table

The cold run is what a user waits for on the very first `fastnn train` (and what CI pays once); the warm
runs are every later start. Each run builds the 784-128-64-10 ReLU MLP with Adam(1e-3), takes one fused
step (fastnn.fused.FusedMLP.step) and one eager step (forward, CrossEntropyLoss, backward, Adam) on a
random batch of 64.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

WORKER = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
import fastnn
from fastnn import nn, optim
from fastnn.fused import FusedMLP
t1 = time.perf_counter()
def model_and_opt():
    m = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    return m, optim.Adam(m.parameters(), lr=1e-3)
rng = np.random.default_rng(0)
x, y = rng.uniform(-1, 1, (64, 784)).astype(np.float32), rng.integers(0, 10, 64)
m, opt = model_and_opt()
FusedMLP(m, nn.CrossEntropyLoss(), opt).step(x, y)
t2 = time.perf_counter()
m, opt = model_and_opt()
loss = nn.CrossEntropyLoss()(m(fastnn.from_numpy(x)), fastnn.from_numpy(y))
opt.zero_grad()
loss.backward()
opt.step()
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first_fused_step": t2 - t1, "first_eager_step": t3 - t2, "total": t3 - t0}))
"""


def run_once(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", WORKER], env=env, capture_output=True, text=True,
                       cwd=tempfile.gettempdir())  # outside the source tree: the installed fastnn
    if p.returncode:
        raise SystemExit(f"worker failed:\n{p.stderr}")
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["process"] = time.perf_counter() - t
    return res


def main(warm_runs=3):
    with tempfile.TemporaryDirectory() as cache:
        rows = [("cold (empty JIT cache)", run_once(cache))]
        rows += [(f"warm {i + 1}", run_once(cache)) for i in range(warm_runs)]
    print("| run | import fastnn | first fused step | first eager step | total | whole process |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['import']:.2f} s | {r['first_fused_step']:.2f} s | {r['first_eager_step']:.2f} s "
              f"| {r['total']:.2f} s | {r['process']:.2f} s |")


if __name__ == "__main__":
    main()
