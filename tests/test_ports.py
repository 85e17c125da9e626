"""The port suite: torch programs (tests/ports/programs/) run on fastnn with their import lines rewritten.

For each program: the fastnn run (import lines rewritten by tests/ports/rewrite.py, nothing else) and,
when torch is installed, torch's run of the unchanged file, each in its own subprocess in a fresh
tmp_path (outside the source tree: DESIGN.md), with a timeout. fastnn's output is compared with
torch's line by line under the program's declared rule (tests/ports/specs.py, tests/ports/compare.py),
and the program's closed-form checks are asserted on both outputs. Programs that read MNIST find the
raw IDX files under tmp_path/data in torchvision's root layout (<root>/MNIST/raw/...); the torch run
uses a NumPy stand-in for torchvision (tests/ports/torchvision_standin) when torchvision is absent.

tests/ports/KNOWN_GAPS lists programs that fail only because a feature being added in another branch
is missing; those tests are xfail(strict=True, raises=KnownGap): they xfail only when the failure
names that feature (any other failure fails the test) and turn into failures once the feature lands.
"""
import ast
import os
import pathlib
import subprocess
import sys

import pytest

from ports.compare import compare_outputs, mask_addresses, normalize_torch
from ports.rewrite import rewrite
from ports.specs import PORTS, SEED

HERE = pathlib.Path(__file__).resolve().parent / "ports"
PROGRAMS = HERE / "programs"
STANDIN = HERE / "torchvision_standin"
TIMEOUT = 300      # seconds per run; a cold Numba cache compiles the conv kernels on first use
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")


class KnownGap(Exception):
    """The program failed on a feature listed in tests/ports/KNOWN_GAPS."""


def known_gaps():
    """{program: (missing name, text its failure shows)} from KNOWN_GAPS lines
    `<program> <missing name> [| <text in the failure>]` (default text: the name's last part, quoted)."""
    gaps = {}
    for line in (HERE / "KNOWN_GAPS").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        head, _, match = line.partition("|")
        program, name = head.split()[:2]
        gaps[program] = (name, match.strip() or f"'{name.rsplit('.', 1)[-1]}'")
    return gaps


GAPS = known_gaps()


def _has(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


HAVE_TORCH = _has("torch")


# ---- MNIST in torchvision's root layout ---------------------------------------------------------
@pytest.fixture(scope="session")
def mnist_raw(tmp_path_factory):
    """Paths of the four verified raw MNIST files (fastnn's cache, fetched once if needed)."""
    from fastnn.data import MNIST
    from fastnn.data.fetch import find_verified

    try:
        MNIST(train=True), MNIST(train=False)   # finds or fetches and verifies (pinned SHA-256)
    except RuntimeError as e:                   # DatasetFetchError: no cache and no network
        pytest.skip(f"MNIST unavailable here: {e}")
    out, raw_dir = {}, tmp_path_factory.mktemp("mnist_raw")
    for train in (True, False):
        for res in MNIST.resources[train]:
            data, path = find_verified(res, MNIST(train=train, download=False).search_dirs())
            if str(path).endswith(".gz"):       # the programs read raw IDX files
                path = raw_dir / res.name
                path.write_bytes(bytes(data))
            out[res.name] = pathlib.Path(path)
    return out


def _lay_out_mnist(cwd, files):
    for root in ("data", "data/MNIST_data"):    # root='data' and the notes' root='./data/MNIST_data'
        raw = cwd / root / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for name in MNIST_FILES:
            (raw / name).symlink_to(files[name])


# ---- running a program -------------------------------------------------------------------------
def _start(source, cwd, env_extra=None):
    cwd.mkdir(parents=True, exist_ok=True)
    script = cwd / "program.py"
    script.write_text(source)
    # one thread per run: the fastnn and torch runs go side by side on CI's 2 cores (torch's pool of 2
    # spinning threads had tripled its CPU time on these small programs)
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.Popen([sys.executable, str(script)], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc, name, lib):
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return -1, out, f"{lib} run of {name} timed out after {TIMEOUT} s\n{err}"
    return proc.returncode, out, err


_TORCH_RUNS = {}


def run_program(name, tmp_path, mnist_files, with_torch):
    """(fastnn (rc, out, err), torch (rc, out, err) or None), the two runs in parallel; torch's
    run is made once per session per program."""
    source = (PROGRAMS / name).read_text()
    dirs = {lib: tmp_path / lib for lib in ("fastnn", "torch")}
    for d in dirs.values():
        d.mkdir()
        if mnist_files:
            _lay_out_mnist(d, mnist_files)
    procs = {"fastnn": _start(rewrite(source), dirs["fastnn"])}
    if with_torch and name not in _TORCH_RUNS:
        path = os.pathsep.join(p for p in (str(STANDIN), os.environ.get("PYTHONPATH", "")) if p)
        extra = {} if _has("torchvision") else {"PYTHONPATH": path}
        procs["torch"] = _start(source, dirs["torch"], extra)
    results = {lib: _finish(p, name, lib) for lib, p in procs.items()}
    if "torch" in results:
        _TORCH_RUNS[name] = results["torch"]
    return results["fastnn"], _TORCH_RUNS.get(name) if with_torch else None


def _last_error_line(err):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no stderr)"


def _gap_or_fail(name, message):
    """Raise KnownGap when `message` shows this program's listed gap, else fail with it."""
    gap = GAPS.get(name)
    if gap and gap[1] in message:
        raise KnownGap(f"{name}: known gap {gap[0]}: {message[:2000]}")
    pytest.fail(message, pytrace=False)


# ---- the tests ---------------------------------------------------------------------------------
def test_every_program_has_a_spec_and_enough_programs():
    names = sorted(p.name for p in PROGRAMS.glob("*.py"))
    assert names == sorted(PORTS), "every program needs a rule in tests/ports/specs.py and vice versa"
    assert len(PORTS) - len(SEED) >= 15
    assert set(GAPS) <= set(PORTS), "KNOWN_GAPS names a program that does not exist"


def test_seed_programs_are_the_course_material_unchanged():
    root = pathlib.Path(__file__).resolve().parents[1]
    shared = [d / "shared" / "seed-snippets" for d in (root.parent, root.parent.parent)]
    shared = [d for d in shared if d.is_dir()]
    if not shared:
        pytest.skip("../shared/seed-snippets is not part of this checkout")
    originals = sorted(p.name for p in shared[0].glob("*.py"))
    assert originals == sorted(SEED)
    for name in originals:
        assert (PROGRAMS / name).read_text() == (shared[0] / name).read_text(), name


class _DropImports(ast.NodeTransformer):
    def visit_Import(self, node):
        return ast.Pass()

    visit_ImportFrom = visit_Import


def _without_imports(source):
    return ast.dump(_DropImports().visit(ast.parse(source)))


@pytest.mark.parametrize("name", sorted(PORTS))
def test_rewriter_changes_import_lines_only(name):
    src = (PROGRAMS / name).read_text()
    new = rewrite(src)
    old_lines, new_lines = src.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines)
    import_lines = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            import_lines.update(range(node.lineno, node.end_lineno + 1))
    changed = {i for i, (a, b) in enumerate(zip(old_lines, new_lines), 1) if a != b}
    assert changed and changed <= import_lines
    assert "torch" not in "".join(new_lines[i - 1] for i in changed).replace("as torch", "")
    assert _without_imports(src) == _without_imports(new)


@pytest.mark.parametrize("source, expected", [
    ("import torch\n", "import fastnn as torch\n"),
    ("import torch.nn as nn\n", "import fastnn.nn as nn\n"),
    ("import torch.nn.functional as F\n", "import fastnn.nn.functional as F\n"),
    ("import torch.nn\n", "import fastnn.nn, fastnn as torch\n"),
    ("from torch import nn, optim as o\n", "from fastnn import nn, optim as o\n"),
    ("from torch.utils.data import (DataLoader,\n    Dataset)\nx = 1\n",
     "from fastnn.utils.data import DataLoader, Dataset\n\nx = 1\n"),
    ("import torchvision\n", "import fastnn.vision as torchvision\n"),
    ("from torchvision import datasets, transforms\n", "from fastnn.vision import datasets, transforms\n"),
    ("import numpy as np, torch\n", "import numpy as np, fastnn as torch\n"),
    ("if True:\n    import torch.optim as optim  # c\n", "if True:\n    import fastnn.optim as optim  # c\n"),
    ("import torchaudio\nimport torch_geometric\nfrom .torch import x\ny = 'import torch'\n",
     "import torchaudio\nimport torch_geometric\nfrom .torch import x\ny = 'import torch'\n"),
])
def test_rewriter_rules(source, expected):
    assert rewrite(source) == expected


def _check_run(name, lib, run, spec):
    rc, out, err = run
    if rc != 0:
        return f"{lib} run of {name} failed (rc {rc}): {_last_error_line(err)}\n{err[-3000:]}"
    for check in spec.checks:
        try:
            check(out)
        except AssertionError as e:
            return f"closed-form check {check.__name__} failed on {lib}'s output: {e}\n{out[-3000:]}"
    return None


def _port_case(name):
    marks = [pytest.mark.xfail(strict=True, raises=KnownGap, reason=f"known gap: {GAPS[name][0]}")] \
        if name in GAPS else []
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [_port_case(n) for n in sorted(PORTS)])
def test_port(name, tmp_path, request):
    spec = PORTS[name]
    files = request.getfixturevalue("mnist_raw") if spec.mnist else None
    mine, theirs = run_program(name, tmp_path, files, HAVE_TORCH)
    if theirs is not None:   # the reference must run and pass its own closed forms first
        problem = _check_run(name, "torch", theirs, spec)
        assert problem is None, problem
    problem = _check_run(name, "fastnn", mine, spec)
    if problem:
        _gap_or_fail(name, problem)
    if "RuntimeWarning" in mine[2] and not (theirs and "RuntimeWarning" in theirs[2]):   # NumPy's warnings
        pytest.fail(f"{name}: fastnn wrote RuntimeWarnings torch does not:\n{mine[2][-3000:]}", pytrace=False)
    if theirs is None:
        return               # no torch here: the closed-form checks above are the oracle
    if mine[2].strip() and not theirs[2].strip():
        pytest.fail(f"{name}: fastnn wrote to stderr where torch is silent:\n{mine[2][-3000:]}", pytrace=False)
    ref_lines = mask_addresses(normalize_torch(theirs[1])).splitlines()
    diffs, grad_fn = compare_outputs(mine[1], theirs[1], spec.mode_of(ref_lines), spec.rtol, spec.atol)
    assert not diffs, f"{name}: fastnn's output differs from torch's:\n" + "\n".join(diffs)
    if grad_fn:
        _gap_or_fail(name, "Tensor.grad_fn names differ from torch's:\n" + "\n".join(grad_fn))


def test_comparison_rules_catch_differences():
    """The rules themselves: each mode accepts what it should and rejects a changed value."""
    from ports.compare import line_matches

    assert line_matches("tensor([1, 2])", "tensor([1, 2])", "exact") is None
    assert line_matches("tensor([1, 3])", "tensor([1, 2])", "exact")
    assert line_matches("tensor([-0.0040,  2.9960])", "tensor([-0.0041,  2.9959])", "close") is None
    assert line_matches("tensor([-0.0043,  2.9960])", "tensor([-0.0041,  2.9959])", "close")
    assert line_matches("loss: 2.1 [   64/  512]", "loss: 2.1 [   65/  512]", "close")
    assert line_matches("tensor([ 0.5, -1.2])", "tensor([-0.7,  3.1])", "shape") is None
    assert line_matches("tensor([0.5, 1.2, 0.1])", "tensor([-0.7,  3.1])", "shape")
    assert line_matches("tensor([1, 2])", "tensor([0.7, 3.1])", "shape")
    diffs, grad_fn = compare_outputs("tensor(1., grad_fn=<LinearBackward0>)\n",
                                     "tensor(1., grad_fn=<AddmmBackward0>)\n", lambda no: "exact", 0, 0)
    assert not diffs and len(grad_fn) == 1
    diffs, _ = compare_outputs("fastnn.Size([2])\n", "torch.Size([2])\nextra\n", lambda no: "exact", 0, 0)
    assert diffs == ["1 lines printed, torch printed 2"]


def test_a_known_gap_excuses_only_its_own_failure():
    name, (missing, shown) = next(iter(GAPS.items()))
    with pytest.raises(KnownGap):
        _gap_or_fail(name, f"fastnn run failed: ... {shown} ...")
    with pytest.raises(pytest.fail.Exception):
        _gap_or_fail(name, "fastnn run failed: ValueError: a wrong value")
    other = next(n for n in PORTS if n not in GAPS)
    with pytest.raises(pytest.fail.Exception):
        _gap_or_fail(other, f"fastnn run failed: ... {shown} ...")
