"""kernels/optim/table.py (the optimizers' one table) against torch.optim: constructor defaults and
order, state buffers and 'step' per setting."""
import inspect

import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
import fastnn.optim as optim
from fastnn.kernels.optim import table

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
NAMES = sorted(table.OPTIMIZERS)


def _defaults(cls):
    return {k: p.default for k, p in inspect.signature(cls).parameters.items() if k != "params"}


@pytest.mark.parametrize("name", NAMES)
def test_hparams_are_torch_signature_and_fastnn_signature(name):
    d = table.get(name)
    theirs, ours = _defaults(getattr(torch.optim, d.torch_name)), _defaults(getattr(optim, d.torch_name))
    keys = [k for k, _ in d.hparams]
    assert list(ours) == keys                                  # fastnn's class takes exactly these, in order
    assert [k for k in theirs if k in keys] == keys            # in torch's order
    for k, v in d.hparams:
        assert theirs[k] == v and ours[k] == v, k


def _variants(d):
    """The default group, then each state condition's key flipped on."""
    out = [{}]
    for s in d.state:
        if s.when is not None:
            out.append({s.when[0]: True if s.when[1] == "true" else 0.5})
    return out


@pytest.mark.parametrize("name", NAMES)
def test_state_names_and_step_match_torch(name):
    d = table.get(name)
    for hp in _variants(d):
        p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
        opt = getattr(torch.optim, d.torch_name)([p], **hp)
        p.grad = torch.full((3,), 0.5, dtype=torch.float64)
        opt.step()
        group = dict(opt.param_groups[0])
        want = list(opt.state[p])
        assert want == (["step"] if d.has_step else []) + table.state_names(name, group), hp
        fp = nn.Parameter(fastnn.ones(3, dtype=fastnn.float64))
        fopt = getattr(optim, d.torch_name)([fp], **hp)
        fp.grad = fastnn.full((3,), 0.5, dtype=fastnn.float64)
        fopt.step()
        assert list(fopt.state.get(fp, {})) == want, hp


def test_adagrad_fill_and_sgd_step_count_follow_torch():
    p = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    t = torch.optim.Adagrad([p], initial_accumulator_value=0.25)
    assert table.state_fill("adagrad", "sum", t.param_groups[0]) == float(t.state[p]["sum"][0])
    assert not table.counts_step("sgd", {"momentum": 0}) and table.counts_step("sgd", {"momentum": 0.9})
