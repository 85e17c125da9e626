"""Numba's cache stamps a function with its own file only: after an edit to a callee in another file the
caller's cached machine code keeps the old callee. kernels/_numba.stamp_package_caches stamps every
function of a package with a hash of all its sources instead. Each run is a fresh interpreter (Numba's
cache is read once per process); oracle: the value the edited source must compute."""
import os
import subprocess
import sys
import textwrap

import pytest

CALLER = """
import numba
from callee import f

@numba.njit(cache=True)
def g(x):
    return f(x) + 1
"""
RUN = """
import sys
sys.path.insert(0, {pkg!r})
if {stamped}:
    from fastnn.kernels._numba import stamp_package_caches
    stamp_package_caches({pkg!r})
from caller import g
print(g(10))
"""


def _run(pkg, stamped):
    code = textwrap.dedent(RUN.format(pkg=str(pkg), stamped=stamped))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                         cwd=pkg.parent)   # not the repo root: `python -c` would import the source tree
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.split()[-1])


def _write_callee(pkg, factor):
    (pkg / "callee.py").write_text(f"import numba\n\n@numba.njit(cache=True)\ndef f(x):\n    return x * {factor}\n")


@pytest.mark.parametrize("stamped", [False, True])
def test_an_edited_callee_in_another_file_recompiles_its_caller(tmp_path, stamped):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "caller.py").write_text(CALLER)
    _write_callee(pkg, 2)
    assert _run(pkg, stamped) == 21          # compiled, then cached
    _write_callee(pkg, 3)                    # the callee changes; the caller's file does not
    got = _run(pkg, stamped)
    if stamped:
        assert got == 31                     # the package stamp changed: everything recompiled
    else:
        assert got == 21                     # the control: Numba's own stamp serves the stale caller


def test_kernels_are_stamped_with_the_package_hash():
    from fastnn.kernels import _numba
    from fastnn.kernels.activation import cpu

    root = os.path.dirname(os.path.abspath(_numba.__file__))
    locator = cpu.act_forward_._cache._impl._locator
    assert locator.get_source_stamp() == ("package", _numba.package_stamp(root))
