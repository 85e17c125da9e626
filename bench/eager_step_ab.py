"""Per-step cost of the plain eager loop a user writes (784-128-64-10 ReLU MLP, Adam 1e-3, batch 64,
1 thread, synthetic 20k rows): process CPU time per step, best of 6 epochs. Compare two builds by running
each in its own process, alternating, e.g. with a `pip install --no-deps --target SITE` of the old one:

    for r in 1 2 3; do PYTHONPATH=SITE python bench/eager_step_ab.py old; python bench/eager_step_ab.py new; done
"""
import sys
import time

import numpy as np

import fastnn
import fastnn.nn.functional as F
from fastnn import nn, optim

fastnn.set_num_threads(1)
rng = np.random.default_rng(0)
X = rng.uniform(-1, 1, (20000, 784)).astype(np.float32)
Y = rng.integers(0, 10, 20000)
fastnn.manual_seed(0)
m = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
opt = optim.Adam(m.parameters(), lr=1e-3)


def epoch():
    for i in range(0, 20000, 64):
        x, y = fastnn.from_numpy(X[i:i+64]), fastnn.from_numpy(Y[i:i+64])
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()


epoch()
ts = []
for _ in range(6):
    t = time.process_time()
    epoch()
    ts.append(time.process_time() - t)
print(f"{sys.argv[1]} {min(ts)*1e6/313:.1f} us/step (CPU time, best of 6 epochs of 313 steps)")
