"""Fused-path glue: decide whether kernels/fused_mlp applies to a run (and say why), and drive it.

`--path auto` takes the fused path when the device is the CPU, the model is a float32 zoo MLP and the
fused kernel module imports; otherwise the eager autograd path, with the reason. The fused trainer
keeps its own flat buffers (params, grads, optimizer state (3,P) in kernels/fused_mlp/workspace.py's
layout) and moves them in and out of the model and the fastnn optimizer through their public
state_dict()/load_state_dict(), so checkpoints are the same whichever path wrote them.
"""
import numpy as np

from .loop import EagerTrainer

# optimizer state name (torch's) -> row of the fused kernel's (3, P) state array
STATE_ROWS = {"sgd": {"momentum_buffer": 0}, "adagrad": {"sum": 0},
              "rmsprop": {"square_avg": 0, "grad_avg": 1, "momentum_buffer": 2},
              "adam": {"exp_avg": 0, "exp_avg_sq": 1, "max_exp_avg_sq": 2}}
STATE_ROWS["adamw"] = STATE_ROWS["adam"]
HP_KEYS = {"sgd": ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"),
           "adagrad": ("lr", "lr_decay", "weight_decay", "eps", "maximize"),
           "rmsprop": ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize"),
           "adam": ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize")}
HP_KEYS["adamw"] = HP_KEYS["adam"]


def _fused_module():
    try:
        from ..kernels.fused_mlp import cpu as fused
    except ImportError as e:
        return None, f"the fused CPU kernel is unavailable ({e})"
    return fused, ""


def fused_applies(cfg, optimizer=None):
    """(True, why) when the fused CPU kernel can run this config, else (False, why not)."""
    if cfg.device != "cpu":
        return False, f"the fused Numba path is CPU-only (device {cfg.device})"
    if cfg.optimizer not in STATE_ROWS:
        return False, f"the fused kernel has no {cfg.optimizer} update"
    fused, why = _fused_module()
    if fused is None:
        return False, why
    if optimizer is not None and len(optimizer.param_groups) != 1:
        return False, "the fused kernel takes one parameter group"
    return True, f"CPU, plain MLP, {cfg.optimizer}: one Numba call per " + (
        "step (OneCycleLR sets the lr every step)" if cfg.schedule == "onecycle" else "epoch")


def choose_trainer(cfg, model, optimizer, step_scheduler=None):
    """(trainer, 'fused' | 'eager', reason) for cfg.path in auto / fused / eager."""
    per_step = step_scheduler is not None
    if cfg.path == "eager":
        return EagerTrainer(model, optimizer, step_scheduler, per_step), "eager", "requested with --path eager"
    ok, why = fused_applies(cfg, optimizer)
    if not ok:
        if cfg.path == "fused":
            raise ValueError(f"--path fused cannot run this configuration: {why}")
        return EagerTrainer(model, optimizer, step_scheduler, per_step), "eager", f"auto: {why}"
    trainer = FusedTrainer(model, optimizer, cfg, step_scheduler)
    return trainer, "fused", ("requested with --path fused; " if cfg.path == "fused" else "auto: ") + why


class FusedTrainer:
    """Whole-MLP training steps in Numba (kernels/fused_mlp/cpu.py), epoch by epoch (or step by step
    when a per-step scheduler changes the hyper-parameters)."""

    name = "fused"

    def __init__(self, model, optimizer, cfg, step_scheduler=None):
        from ..kernels.fused_mlp import cpu as K, workspace as W
        from .models import linear_layers, model_spec

        dims, act = model_spec(cfg.model)
        self.K, self.W, self.cfg = K, W, cfg
        self.model, self.optimizer, self.scheduler = model, optimizer, step_scheduler
        self.params_list = [p for lin in linear_layers(model) for p in (lin.weight, lin.bias)]
        if any(p.dtype.np != np.float32 for p in self.params_list):
            raise ValueError("the fused path trains float32 models only")
        L = len(dims) - 1
        self.dims = np.asarray(dims, np.int64)
        self.w_off, self.b_off, P = W.param_layout(dims, [True] * L)
        self.act_codes = np.array([W.ACT[act]] * (L - 1) + [0], np.int64)
        self.drop_p = np.zeros(max(L - 1, 1), np.float64)
        self.params, self.grads = np.empty(P, np.float32), np.zeros(P, np.float32)
        self.state = np.zeros((3, P), np.float32)
        self.y_val = np.zeros((1, dims[-1]), np.float32)
        self.ws = W.Workspace(dims, cfg.batch_size, np.float32)
        self.offsets, o = [], 0
        for p in self.params_list:
            self.offsets.append((o, o + p.numel()))
            o += p.numel()
        assert o == P
        self.step = 0
        self._load_from_model()

    # ---- moving state in and out of the model / optimizer -----------------------------------------
    def _load_from_model(self):
        for p, (a, b) in zip(self.params_list, self.offsets):
            self.params[a:b] = p.detach().numpy().reshape(-1)
        sd, rows = self.optimizer.state_dict(), STATE_ROWS[self.cfg.optimizer]
        self.state[...] = 0
        steps = []
        for i, (a, b) in enumerate(self.offsets):
            st = sd["state"].get(i)
            if not st:
                continue
            for name, row in rows.items():
                if st.get(name) is not None:
                    self.state[row, a:b] = _host(st[name]).reshape(-1)
            steps.append(int(round(float(_host(st["step"])))) if "step" in st else 1)
        self.step = max(steps) if steps else 0

    def sync_model(self):
        """Write the fused params into the model and the fused optimizer state into the optimizer."""
        from ..creation import tensor

        for p, (a, b) in zip(self.params_list, self.offsets):
            p._data[...] = self.params[a:b].reshape(p._data.shape)
        if self.step == 0:
            return
        sd, rows = self.optimizer.state_dict(), STATE_ROWS[self.cfg.optimizer]
        names = _state_names(self.cfg.optimizer, sd["param_groups"][0])
        for i, (a, b) in enumerate(self.offsets):
            shape = tuple(self.params_list[i].shape)
            st = {n: tensor(self.state[rows[n], a:b].reshape(shape)) for n in names}
            if self.cfg.optimizer != "sgd":
                st["step"] = tensor(float(self.step))
            if st:
                sd["state"][i] = st
        self.optimizer.load_state_dict(sd)

    def optimizer_state(self):
        return self.optimizer.state_dict()

    # ---- training --------------------------------------------------------------------------------
    def _hparams(self):
        group = self.optimizer.param_groups[0]
        kw = {k: group[k] for k in HP_KEYS[self.cfg.optimizer] if k in group}
        return self.W.pack_hparams(self.cfg.optimizer, **kw)

    def _run(self, X, Y, perm, batch_size):
        """train_epoch over perm (one compiled call); returns (sample-mean loss, steps)."""
        opt_code, hp = self._hparams()
        ws = self.ws
        loss, _, steps = self.K.train_epoch(
            self.params, self.grads, self.state, X, Y, self.y_val, perm, batch_size, False, 1.0, 0.0, hp,
            opt_code, self.step, self.dims, self.w_off, self.b_off, self.act_codes, self.drop_p, 0, 0,
            ws.xb, ws.yb_idx, ws.yb_val, ws.acts, ws.act_off, ws.drops, ws.drop_off, ws.deltas, ws.delta_off)
        self.step += steps
        return loss, steps

    def train_epoch(self, x, y, perm, batch_size, progress=None):
        """Train on x[perm]: one call per epoch, or per step (per-step scheduler), or per chunk of
        steps while a progress bar is shown; returns the mean training loss."""
        self._load_from_model()       # the model/optimizer may have been changed (resume, schedulers)
        X, Y = np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.int64)
        perm = np.ascontiguousarray(perm, np.int64)
        n = perm.shape[0]
        nsteps = -(-n // batch_size)
        live = progress is not None and not getattr(progress, "disable", True)
        chunk = 1 if self.scheduler is not None else (max(1, nsteps // 50) if live else nsteps)
        total, seen = 0.0, 0
        for s in range(0, nsteps, chunk):
            rows = perm[s * batch_size:(s + chunk) * batch_size]
            loss, steps = self._run(X, Y, rows, batch_size)
            total += loss * rows.shape[0]
            seen += rows.shape[0]
            if self.scheduler is not None:
                self.scheduler.step()
            if live:
                progress.update(steps)
                progress.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
        return total / max(seen, 1)


def _state_names(opt, group):
    """The state a fastnn/torch optimizer keeps per parameter (torch's names)."""
    if opt == "sgd":
        return ["momentum_buffer"] if group.get("momentum", 0) != 0 else []
    if opt in ("adam", "adamw"):
        return ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if group.get("amsgrad") else [])
    if opt == "rmsprop":
        return (["square_avg"] + (["momentum_buffer"] if group.get("momentum", 0) > 0 else [])
                + (["grad_avg"] if group.get("centered") else []))
    return ["sum"]


def _host(v):
    from ..tensor import Tensor

    if isinstance(v, Tensor):
        return np.asarray(v.detach().numpy())
    return np.asarray(v)
