"""Per-step cost of the plain eager CNN loop (model(x), loss.backward(), optimizer.step(); Adam 1e-3) for
fastnn or PyTorch, LeNet-5 or the pytorch/examples MNIST Net (bench/compare_cnn.py's models), on one
synthetic MNIST-shaped batch: median process CPU time and wall time per step. CPU time is what a shared,
loaded host disturbs least; alternate systems (and builds, via PYTHONPATH) in separate processes:

    for r in 1 2 3; do for s in fastnn-eager torch; do python bench/cnn_step_cpu.py $s --model lenet5; done; done
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_cnn import _lib, _model  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("system", choices=("fastnn-eager", "torch"))
    p.add_argument("--model", default="lenet5", choices=("lenet5", "mnist-net", "bn-cnn"))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=30)
    a = p.parse_args()
    lib = _lib(a.system, a.threads)
    lib.manual_seed(0)
    net = _model(lib, a.model)
    opt = lib.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    X = lib.tensor(rng.standard_normal((a.batch, 1, 28, 28)).astype(np.float32))
    Y = lib.tensor(rng.integers(0, 10, a.batch))

    def step():
        opt.zero_grad()
        lib.nn.functional.cross_entropy(net(X), Y).backward()
        opt.step()

    for _ in range(3):                                    # warm-up (compiles)
        step()
    cpu, wall = [], []
    for _ in range(a.steps):
        t, c = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    print(f"{a.system} {a.model} batch {a.batch} threads {a.threads}: CPU {1e3 * np.median(cpu):.2f} ms/step "
          f"(min {1e3 * min(cpu):.2f}), wall {1e3 * np.median(wall):.2f} ms/step, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
