"""The cpu backend keeps freed arrays for the next step (fastnn/backends/cpu_memory.py): a loop of
fresh ~3 MiB results takes no page faults after its first round, where glibc's defaults (the opt-out
FASTNN_MALLOC=system, the control) fault on every round. Oracle: the kernel's minor-fault counter."""
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt tuning is glibc's only")

LOOP = """
import resource, numpy as np, fastnn
x = fastnn.tensor(np.ones(3 << 18, np.float32))
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for round in range(2):
    f0 = faults()
    for _ in range(20):
        ys = [x * 2.0, x + 1.0, x - 3.0]     # three fresh 3 MiB results, freed together
        del ys
    print(faults() - f0)
"""


def _faults(env_extra, cwd):
    # cwd: not the repo root, where `python -c` would import the source tree instead of the installed fastnn
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", LOOP], env=env, capture_output=True, text=True, check=True, cwd=cwd)
    return [int(v) for v in out.stdout.split()]


def test_fresh_arrays_reuse_freed_memory(tmp_path):
    tuned = _faults({}, tmp_path)
    system = _faults({"FASTNN_MALLOC": "system"}, tmp_path)
    pages = 3 * (3 << 20) // 4096                # one round's three arrays, in 4 KiB pages
    assert system[1] >= 20 * pages // 2, system   # the control: glibc's defaults fault every round
    assert tuned[1] <= pages // 4, tuned          # retained: the second round touches no new pages
