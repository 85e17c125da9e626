"""Comparing a port program's output with torch's, line by line, under the program's declared rule.

Before comparing, torch's output is renamed (`torch` -> `fastnn`, so `torch.Size([2])` reads
`fastnn.Size([2])`) and object addresses (`at 0x7f..`) are masked in both outputs. Modes:

- exact: the lines are equal.
- close: equal lines pass; otherwise the lines must be equal with every number masked and runs of
  removed (a repr's column widths follow its values), and each pair of numbers must agree:
  integers exactly, decimals within atol + rtol*|torch| + one unit in torch's last printed digit
  (values a hair apart can round to neighbouring printed digits).
- shape: random values. The lines must be equal with every number masked by its kind (integer or
  decimal) and spaces removed: the same shapes, dtypes and structure, any values.

A line that passes once autograd node names are masked (`grad_fn=<AddmmBackward0>`,
`<AddBackward0 object at ...>`) is reported separately as a grad_fn-name difference, so that
`Tensor.grad_fn` naming, a known gap, never hides another difference.
"""
import re

NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*(?:e[-+]?\d+)?|\d+e[-+]?\d+|\.\d+|\d+|inf|nan)(?![\w.])")
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
GRAD_FN = re.compile(r"grad_fn=<\w+>|<[\w.]+ object at 0x\?>")
SPACES = re.compile(r"[ \t]+")


def normalize_torch(text):
    text = re.sub(r"\btorchvision\b", "fastnn.vision", text)
    return re.sub(r"\btorch\b", "fastnn", text)


def mask_addresses(text):
    return ADDRESS.sub(" at 0x?", text)


def _is_int(tok):
    return re.fullmatch(r"[-+]?\d+", tok) is not None


def _last_digit_unit(tok):
    """10^-(digits after the point) of a printed decimal, in its exponent's scale."""
    mant, _, exp = tok.lower().partition("e")
    decimals = len(mant.partition(".")[2]) if "." in mant else 0
    return 10.0 ** (-decimals + (int(exp) if exp else 0))


def _skeleton(line, by_kind):
    def token(m):
        return ("I" if _is_int(m.group()) else "F") if by_kind else "#"
    return SPACES.sub("", NUMBER.sub(token, line))


def line_matches(mine, ref, mode, rtol=1e-5, atol=0.0):
    """None when `mine` matches the reference line `ref` under `mode`, else the reason."""
    if mine == ref:
        return None
    if mode == "exact":
        return "differs"
    if mode == "shape":
        return None if _skeleton(mine, True) == _skeleton(ref, True) else "differs in shape/dtype/structure"
    if _skeleton(mine, False) != _skeleton(ref, False):
        return "differs outside its numbers"
    for a, b in zip(NUMBER.findall(mine), NUMBER.findall(ref)):
        if _is_int(a) and _is_int(b):
            if int(a) != int(b):
                return f"integer {a} != {b}"
            continue
        x, y = float(a), float(b)
        if x != x and y != y:           # both nan
            continue
        bound = atol + rtol * abs(y) + _last_digit_unit(b)
        if not abs(x - y) <= bound:
            return f"{a} vs {b}: |diff| {abs(x - y):.3g} > {bound:.3g}"
    return None


def compare_outputs(mine, ref, mode_of_line, rtol, atol):
    """Compare two outputs (fastnn's, torch's renamed) line by line.
    Returns (differences, grad_fn_differences): lists of messages."""
    mine_lines = mask_addresses(mine).splitlines()
    ref_lines = mask_addresses(normalize_torch(ref)).splitlines()
    diffs, grad_fn = [], []
    if len(mine_lines) != len(ref_lines):
        diffs.append(f"{len(mine_lines)} lines printed, torch printed {len(ref_lines)}")
    for no, (a, b) in enumerate(zip(mine_lines, ref_lines), 1):
        mode = mode_of_line(no)
        why = line_matches(a, b, mode, rtol, atol)
        if why is None:
            continue
        masked = line_matches(GRAD_FN.sub("grad_fn", a), GRAD_FN.sub("grad_fn", b), mode, rtol, atol)
        target = grad_fn if masked is None else diffs
        target.append(f"line {no} ({mode}): {why}\n  fastnn: {a!r}\n  torch:  {b!r}")
    return diffs, grad_fn
