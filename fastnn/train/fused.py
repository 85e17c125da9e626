"""Fused-path glue: decide whether kernels/fused_mlp applies to a run (and say why), and drive it.

`--path auto` takes the fused path when the device is the CPU, the model is a float32 zoo MLP and the
fused kernel module imports; otherwise the eager autograd path, with the reason. The fused trainer
drives kernels/fused_mlp/trainer.py's FusedMLPTrainer (flat params, grads, optimizer state (3,P),
Workspace) and moves the weights and optimizer state in and out of the model and the fastnn optimizer
through their public state_dict()/load_state_dict(), so checkpoints are the same whichever path wrote
them. On CUDA the fused path is fastnn.fused.FusedMLP (the engine-level API) when it is present.
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
        from ..kernels.fused_mlp import trainer as fused
    except ImportError as e:
        return None, f"the fused CPU kernel is unavailable ({e})"
    return fused, ""


def _engine_fused():
    """fastnn.fused (the lead's device-agnostic FusedMLP API), or None while it is absent."""
    try:
        from .. import fused as engine
    except ImportError:
        return None
    return engine if hasattr(engine, "FusedMLP") else None


def engine_fused_applies(model, optimizer):
    """(True, why) when fastnn.fused.FusedMLP (CUDA: one graph launch per step) takes this model."""
    from ..nn import CrossEntropyLoss

    engine = _engine_fused()
    if engine is None:
        return False, "fastnn.fused (the engine-level fused API) is not available"
    reason = engine.fused_unsupported_reason(model, CrossEntropyLoss(), optimizer)
    if reason is not None:
        return False, str(reason)
    return True, "plain MLP on the GPU: fastnn.fused.FusedMLP, CUDA-graph replays, one host sync per epoch"


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
    if cfg.device != "cpu":
        ok, why = engine_fused_applies(model, optimizer)
        if ok:
            trainer = EngineFusedTrainer(model, optimizer, step_scheduler)
            return trainer, "fused", ("requested with --path fused; " if cfg.path == "fused" else "auto: ") + why
    else:
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
        from ..kernels.fused_mlp import workspace as W
        from ..kernels.fused_mlp.trainer import FusedMLPTrainer
        from .models import linear_layers, model_spec

        try:    # Numba's np.dot calls SciPy's BLAS: load it now so thread limits set after this cover it
            import scipy.linalg.cython_blas  # noqa: F401
        except ImportError:
            pass
        dims, act = model_spec(cfg.model)
        self.W, self.cfg = W, cfg
        self.model, self.optimizer, self.scheduler = model, optimizer, step_scheduler
        self.params_list = [p for lin in linear_layers(model) for p in (lin.weight, lin.bias)]
        if any(p.dtype.np != np.float32 for p in self.params_list):
            raise ValueError("the fused path trains float32 models only")
        self.offsets, o = [], 0
        for p in self.params_list:
            self.offsets.append((o, o + p.numel()))
            o += p.numel()
        # the kernel engineer's front door: owns params/grads/state (3,P)/Workspace, limits BLAS threads
        self.ft = FusedMLPTrainer(dims, [act] * (len(dims) - 2), optimizer=cfg.optimizer,
                                  batch_size=cfg.batch_size, params=np.zeros(o, np.float32))
        self._load_from_model()

    # ---- moving state in and out of the model / optimizer -----------------------------------------
    def _load_from_model(self):
        ft = self.ft
        for p, (a, b) in zip(self.params_list, self.offsets):
            ft.params[a:b] = p.detach().numpy().reshape(-1)
        sd, rows = self.optimizer.state_dict(), STATE_ROWS[self.cfg.optimizer]
        ft.state[...] = 0
        steps = []
        for i, (a, b) in enumerate(self.offsets):
            st = sd["state"].get(i)
            if not st:
                continue
            for name, row in rows.items():
                if st.get(name) is not None:
                    ft.state[row, a:b] = _host(st[name]).reshape(-1)
            steps.append(int(round(float(_host(st["step"])))) if "step" in st else 1)
        ft.step_count = max(steps) if steps else 0

    def sync_model(self):
        """Write the fused params into the model and the fused optimizer state into the optimizer."""
        from ..creation import tensor

        ft = self.ft
        for p, (a, b) in zip(self.params_list, self.offsets):
            p._data[...] = ft.params[a:b].reshape(p._data.shape)
        if ft.step_count == 0:
            return
        sd, rows = self.optimizer.state_dict(), STATE_ROWS[self.cfg.optimizer]
        names = _state_names(self.cfg.optimizer, sd["param_groups"][0])
        for i, (a, b) in enumerate(self.offsets):
            shape = tuple(self.params_list[i].shape)
            st = {n: tensor(ft.state[rows[n], a:b].reshape(shape)) for n in names}
            if self.cfg.optimizer != "sgd":
                st["step"] = tensor(float(ft.step_count))
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

    def train_epoch(self, x, y, perm, batch_size, progress=None):
        """Train on x[perm]: one compiled call per epoch, or per step (a per-step scheduler changes
        the hyper-parameters), or per chunk of steps while a progress bar is shown; returns the mean
        training loss (the model and optimizer see the result after sync_model())."""
        self._load_from_model()       # the model/optimizer may have been changed (resume, schedulers)
        X, Y = np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.int64)
        perm = np.ascontiguousarray(perm, np.int64)
        nsteps = -(-perm.shape[0] // batch_size)
        live = progress is not None and not getattr(progress, "disable", True)
        chunk = 1 if self.scheduler is not None else (max(1, nsteps // 50) if live else nsteps)
        total, seen = 0.0, 0
        for s in range(0, nsteps, chunk):
            rows = perm[s * batch_size:(s + chunk) * batch_size]
            self.ft.opt_code, self.ft.hp = self._hparams()
            loss, _ = self.ft.epoch(X, Y, batch_size, perm=rows)
            total, seen = total + loss * rows.shape[0], seen + rows.shape[0]
            if self.scheduler is not None:
                self.scheduler.step()
            if live:
                progress.update(-(-rows.shape[0] // batch_size))
                progress.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
        return total / max(seen, 1)


class EngineFusedTrainer:
    """The fused path through fastnn.fused.FusedMLP (device-agnostic; used for CUDA). The model's
    parameters and the optimizer's state are shared with FusedMLP, so nothing needs syncing."""

    name = "fused"

    def __init__(self, model, optimizer, step_scheduler=None):
        import inspect

        from ..nn import CrossEntropyLoss
        from .loop import model_backend

        self.fm = _engine_fused().FusedMLP(model, CrossEntropyLoss(), optimizer)
        self.be = model_backend(model)
        self.optimizer, self.scheduler = optimizer, step_scheduler
        self.takes_perm = "perm" in inspect.signature(self.fm.epoch).parameters

    def train_epoch(self, x, y, perm, batch_size, progress=None):
        """x, y device arrays; perm host int64. Our permutation is kept (resume stays exact): passed as
        perm= when FusedMLP.epoch takes it, else applied as one device gather with shuffle=False."""
        from ..tensor import Tensor

        be = self.be
        if self.scheduler is not None:           # per-step hyper-parameters: one step call per batch
            total, n = 0.0, perm.shape[0]
            pd = be.asarray(perm)
            for i in range(0, n, batch_size):
                idx = pd[i:i + batch_size]
                loss, _ = self.fm.step(Tensor._wrap(x[idx], be), Tensor._wrap(y[idx], be))
                total = total + _as_float_array(loss) * idx.shape[0]
                self.scheduler.step()
                if progress is not None:
                    progress.update(1)
            return float(total) / max(n, 1)
        X, Y = Tensor._wrap(x, be), Tensor._wrap(y, be)
        if self.takes_perm:
            loss, _ = self.fm.epoch(X, Y, batch_size, perm=be.asarray(perm), shuffle=False, drop_last=False)
        else:
            pd = be.asarray(perm)
            loss, _ = self.fm.epoch(Tensor._wrap(x[pd], be), Tensor._wrap(y[pd], be), batch_size,
                                    shuffle=False, drop_last=False)
        if progress is not None:
            progress.update(-(-perm.shape[0] // batch_size))
        return float(loss)

    def sync_model(self):
        pass

    def optimizer_state(self):
        return self.optimizer.state_dict()


def _as_float_array(v):
    from ..tensor import Tensor

    return v._data if isinstance(v, Tensor) else v


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
