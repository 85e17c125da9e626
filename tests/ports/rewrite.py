"""The port rewriter: turns a torch program into a fastnn program by rewriting its import lines only.

Rule (the README's promise): `torch` -> `fastnn` and `torchvision` -> `fastnn.vision` in import
statements; every other line stays byte for byte, and the line numbers stay too (an import that
spans several lines becomes one line followed by blank lines). Names the program binds stay the same:

    import torch                          ->  import fastnn as torch
    import torch.nn as nn                 ->  import fastnn.nn as nn
    import torch.nn                       ->  import fastnn.nn, fastnn as torch      (binds `torch`)
    from torch import nn, optim           ->  from fastnn import nn, optim
    from torch.utils.data import Dataset  ->  from fastnn.utils.data import Dataset
    import torchvision                    ->  import fastnn.vision as torchvision
    from torchvision import transforms    ->  from fastnn.vision import transforms

Imports of anything else (numpy, math, ...) are left alone. Usage:
`python tests/ports/rewrite.py PROGRAM.py` prints the rewritten source.
"""
import ast
import sys

TARGETS = {"torch": "fastnn", "torchvision": "fastnn.vision"}


def _map(module):
    """'torch.nn.functional' -> 'fastnn.nn.functional'; None for modules not ported."""
    if module is None:
        return None
    head, _, rest = module.partition(".")
    if head not in TARGETS:
        return None
    return TARGETS[head] + ("." + rest if rest else "")


def _alias(name):
    return name.name + (f" as {name.asname}" if name.asname else "")


def _rewrite_import(node):
    """One `import a.b as c, d` statement -> its fastnn form, or None when it imports nothing ported."""
    if not any(_map(n.name) for n in node.names):
        return None
    parts = []
    for n in node.names:
        new = _map(n.name)
        if new is None:
            parts.append(_alias(n))
        elif n.asname:                          # import torch.nn as nn -> import fastnn.nn as nn
            parts.append(f"{new} as {n.asname}")
        else:                                   # import torch[.x] binds the top-level name `torch`
            top = n.name.partition(".")[0]
            if new != TARGETS[top]:
                parts.append(new)               # load the submodule first
            parts.append(f"{TARGETS[top]} as {top}")
    return "import " + ", ".join(parts)


def _rewrite_from(node):
    new = _map(node.module) if node.level == 0 else None
    if new is None:
        return None
    return f"from {new} import " + ", ".join(_alias(n) for n in node.names)


def rewrite(source):
    """Return `source` with its torch/torchvision import statements rewritten (see the module doc)."""
    lines = source.splitlines(keepends=True)
    edits = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            new = _rewrite_import(node)
        elif isinstance(node, ast.ImportFrom):
            new = _rewrite_from(node)
        else:
            continue
        if new is not None:
            edits.append((node.lineno, node.end_lineno, node.col_offset, node.end_col_offset, new))
    for start, end, col, end_col, new in sorted(edits, reverse=True):
        first, last = lines[start - 1], lines[end - 1]
        newline = "\n" if last.endswith("\n") else ""
        replaced = first[:col] + new + last[end_col:].rstrip("\n") + newline
        lines[start - 1:end] = [replaced] + ["\n"] * (end - start)
    return "".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        sys.stdout.write(rewrite(f.read()))
