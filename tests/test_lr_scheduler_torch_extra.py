"""Issue-13 lr schedulers vs torch.optim.lr_scheduler: 30-step lr (and momentum) sequences, state_dict
keys and values, and a state_dict round trip that resumes the same sequence."""
import math

import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
import fastnn.optim as optim
from fastnn.optim import lr_scheduler as fsched

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
tsched = torch.optim.lr_scheduler


def _opts(kind="SGD", **kw):
    """The same two-group optimizer in both libraries."""
    fp, tp = [nn.Parameter(fastnn.zeros(2)) for _ in range(2)], [torch.nn.Parameter(torch.zeros(2)) for _ in range(2)]
    groups = lambda ps: [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.05}]  # noqa: E731
    return getattr(optim, kind)(groups(fp), lr=0.1, **kw), getattr(torch.optim, kind)(groups(tp), lr=0.1, **kw)


def _cases():
    return [
        ("LambdaLR", lambda m, o: m.LambdaLR(o, lambda e: 0.95 ** e), {}),
        ("LambdaLR-list", lambda m, o: m.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.9 ** e]), {}),
        ("MultiplicativeLR", lambda m, o: m.MultiplicativeLR(o, lambda e: 0.9), {}),
        ("MultiStepLR", lambda m, o: m.MultiStepLR(o, [3, 8, 8, 20], gamma=0.5), {}),
        ("ExponentialLR", lambda m, o: m.ExponentialLR(o, 0.9), {}),
        ("LinearLR", lambda m, o: m.LinearLR(o, 0.25, 1.0, total_iters=7), {}),
        ("LinearLR-down", lambda m, o: m.LinearLR(o, 1.0, 0.1, total_iters=10), {}),
        ("ConstantLR", lambda m, o: m.ConstantLR(o, 0.5, total_iters=4), {}),
        ("PolynomialLR", lambda m, o: m.PolynomialLR(o, total_iters=12, power=2.0), {}),
        ("CAWR", lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.001), {}),
        ("CAWR-1", lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=7), {}),
        ("CyclicLR", lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=4, step_size_down=6), {"momentum": 0.9}),
        ("CyclicLR-tri2", lambda m, o: m.CyclicLR(o, [0.01, 0.02], 0.1, step_size_up=3, mode="triangular2"),
         {"momentum": 0.9}),
        ("CyclicLR-exp", lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=5, mode="exp_range", gamma=0.97,
                                                 cycle_momentum=False), {}),
        ("SequentialLR", lambda m, o: m.SequentialLR(o, [m.LinearLR(o, 0.1, total_iters=5), m.ExponentialLR(o, 0.9)],
                                                     milestones=[5]), {}),
        ("SequentialLR-3", lambda m, o: m.SequentialLR(o, [m.ConstantLR(o, 0.5, total_iters=3), m.StepLR(o, 4, 0.5),
                                                           m.CosineAnnealingLR(o, 10)], milestones=[6, 15]), {}),
        ("ChainedScheduler", lambda m, o: m.ChainedScheduler([m.ExponentialLR(o, 0.95),
                                                              m.MultiStepLR(o, [4, 9], 0.3)]), {}),
    ]


@pytest.mark.parametrize("case", range(len(_cases())))
def test_scheduler_sequence_and_state_dict_match_torch(case):
    name, make, kw = _cases()[case]
    kind = "Adam" if name == "CyclicLR-exp" else "SGD"
    fo, to = _opts(kind, **kw)
    fs, ts = make(fsched, fo), make(tsched, to)
    seq_f, seq_t = [fs.get_last_lr()], [ts.get_last_lr()]
    for _ in range(30):
        fo.step()
        to.step()
        fs.step()
        ts.step()
        seq_f.append(fs.get_last_lr())
        seq_t.append(ts.get_last_lr())
        assert [g["lr"] for g in fo.param_groups] == pytest.approx([g["lr"] for g in to.param_groups], rel=1e-12)
        if "momentum" in kw:
            assert [g["momentum"] for g in fo.param_groups] == pytest.approx(
                [g["momentum"] for g in to.param_groups], rel=1e-12)
    np.testing.assert_allclose(np.array(seq_f), np.array(seq_t), rtol=1e-12, atol=1e-15)
    fsd, tsd = fs.state_dict(), ts.state_dict()
    assert set(fsd) == set(tsd)
    for k in ("last_epoch", "base_lrs", "_last_lr", "_step_count", "T_cur", "T_i", "milestones"):
        if k in tsd:
            assert fsd[k] == pytest.approx(tsd[k], rel=1e-12) if k != "milestones" else fsd[k] == tsd[k]


@pytest.mark.parametrize("case", [0, 3, 9, 11, 14, 16])
def test_state_dict_round_trip_resumes(case):
    name, make, kw = _cases()[case]
    fo, _ = _opts(**kw)
    fs = make(fsched, fo)
    for _ in range(7):
        fo.step()
        fs.step()
    sd, lrs_sd = fs.state_dict(), [dict(g) for g in fo.param_groups]
    ahead = []
    for _ in range(6):
        fo.step()
        fs.step()
        ahead.append(fs.get_last_lr())
    fo2, _ = _opts(**kw)
    for g, saved in zip(fo2.param_groups, lrs_sd):
        g.update({k: v for k, v in saved.items() if k != "params"})
    fs2 = make(fsched, fo2)
    fs2.load_state_dict(sd)
    for g, saved in zip(fo2.param_groups, lrs_sd):
        g.update({k: v for k, v in saved.items() if k != "params"})
    again = []
    for _ in range(6):
        fo2.step()
        fs2.step()
        again.append(fs2.get_last_lr())
    np.testing.assert_allclose(again, ahead, rtol=1e-12)


@pytest.mark.parametrize("mode,threshold_mode", [("min", "rel"), ("max", "abs"), ("min", "abs")])
def test_reduce_lr_on_plateau_matches_torch(mode, threshold_mode):
    fo, to = _opts()
    kw = dict(mode=mode, factor=0.5, patience=2, threshold=0.01, threshold_mode=threshold_mode, cooldown=1,
              min_lr=[0.001, 0.002])
    fs, ts = fsched.ReduceLROnPlateau(fo, **kw), tsched.ReduceLROnPlateau(to, **kw)
    metrics = [1.0, 0.9, 0.95, 0.97, 0.96, 0.8, 0.85, 0.86, 0.87, 0.88, 0.7] + [0.7 + 0.001 * i for i in range(25)]
    for m in metrics:
        fs.step(m)
        ts.step(m)
        assert fs.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)
        assert fs.num_bad_epochs == ts.num_bad_epochs and fs.cooldown_counter == ts.cooldown_counter
    assert set(fs.state_dict()) == set(ts.state_dict())
    assert fs.state_dict()["best"] == ts.state_dict()["best"]


def test_scheduler_errors_match_torch():
    def err(fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            return type(e).__name__, str(e)
        return None

    fo, to = _opts()
    pairs = [
        (lambda m, o: m.ConstantLR(o, factor=2.0)), (lambda m, o: m.LinearLR(o, start_factor=0)),
        (lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=0)), (lambda m, o: m.ReduceLROnPlateau(o, factor=1.0)),
        (lambda m, o: m.ReduceLROnPlateau(o, mode="avg")), (lambda m, o: m.LambdaLR(o, [lambda e: 1.0])),
        (lambda m, o: m.SequentialLR(o, [m.ExponentialLR(o, 0.9)], milestones=[3])),
        (lambda m, o: m.CyclicLR(o, 0.1, 1.0, mode="nope")),
    ]
    for p in pairs:
        got, want = err(lambda: p(fsched, fo)), err(lambda: p(tsched, to))
        assert want is not None and got == want
    assert math.isclose(fo.param_groups[0]["lr"], to.param_groups[0]["lr"])
