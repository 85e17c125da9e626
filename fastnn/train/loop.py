"""The training run behind `fastnn train`: data on the device, the eager epoch loop, the trainer choice
(fused or eager, and why), per-epoch atomic checkpoints, resume, the divergence check, and the run folder."""
import contextlib
import dataclasses
import math
import os
import sys
import time

import numpy as np

from .checkpoint import check_compatible, load_checkpoint, save_checkpoint
from .config import TrainConfig, make_optimizer, make_scheduler
from .data import load_data
from .evaluation import evaluate, logits_numpy, loss_and_accuracy, model_backend  # noqa: F401 (re-exported)
from .fused import FusedTrainer, fused_reason
from .models import build_model, expected_shapes, image_shape, is_cnn
from . import runs, warmup


# ---- divergence: a NaN/Inf loss stops the run before its checkpoint is overwritten -----------------
class NonFiniteLoss(Exception):
    """Raised by a trainer when the training loss is NaN or Inf; step = the batch in the epoch (1-based)
    where known, None when only the epoch's mean loss was seen (fused path, eager on cuda)."""

    def __init__(self, value, step=None):
        super().__init__(value, step)
        self.value, self.step = value, step


def check_loss(value, step=None):
    """NonFiniteLoss unless the Python float value is finite."""
    if not math.isfinite(value):
        raise NonFiniteLoss(value, step)


def _diverged(cfg, epoch, steps, e, ckpt, lr, what="training loss"):
    """The message of a stopped run: where, the value, what was kept on disk, and what to try (the
    caller raises it as a RuntimeError: `fastnn train` prints it and exits with status 1)."""
    where = f"epoch {epoch}" + (f", step {e.step} of {steps}" if e.step is not None else "")
    kept = (f"the checkpoint of epoch {epoch - 1} ({ckpt}) was left as it was" if os.path.exists(ckpt)
            else "no checkpoint was written")
    clip = (f"a lower --clip-grad-norm (this run: {cfg.clip_grad_norm:g})" if cfg.clip_grad_norm
            else "--clip-grad-norm 1.0")
    return (f"training diverged at {where}: the {what} is {e.value}; {kept}. "
            f"Try a lower --lr (this run: {cfg.resolved_lr():g}"
            + (f", {lr:g} when it diverged" if lr != cfg.resolved_lr() else "") + f") or {clip}.")


def _anomaly_mode(cfg):
    """fastnn.autograd.set_detect_anomaly(True) for --detect-anomaly (restored on exit), else a no-op."""
    from .. import autograd

    return autograd.set_detect_anomaly(True) if cfg.detect_anomaly else contextlib.nullcontext()


# ---- the eager epoch ------------------------------------------------------------------------------
class EagerTrainer:
    """One autograd step per batch: forward, cross_entropy, backward, [clip_grad_norm_], optimizer.step().
    On the cpu each step's loss is checked (a float it already has); on cuda the epoch's mean is, at
    the host syncs that exist (the progress refresh and the epoch's end)."""

    name = "eager"
    clip_grad_norm = None   # max norm for nn.utils.clip_grad_norm_ before every step (fastnn train sets it)

    def __init__(self, model, optimizer, scheduler=None, per_step_scheduler=False):
        from ..nn import functional as F

        self.model, self.optimizer, self.F = model, optimizer, F
        self.scheduler = scheduler if per_step_scheduler else None
        self.be = model_backend(model)

    def evaluate(self, model, x, y, batch_size):
        """(test loss, test accuracy) of model on x, y."""
        return evaluate(model, x, y, batch_size)

    def train_epoch(self, x, y, perm, batch_size, progress=None):
        """Train on x[perm] in batches (the last one may be short); returns the mean training loss."""
        from ..tensor import Tensor

        be, xp, model, opt = self.be, self.be.xp, self.model, self.optimizer
        perm = be.asarray(perm)
        n = perm.shape[0]
        model.train()
        total, seen, refresh = xp.zeros((), dtype=np.float64), 0, 20 if be.name == "cpu" else 100
        host_loss = be.name == "cpu"
        for k, i in enumerate(range(0, n, batch_size)):
            idx = perm[i:i + batch_size]
            xb, yb = Tensor._wrap(x[idx], be), Tensor._wrap(y[idx], be)
            loss = self.F.cross_entropy(model(xb), yb)
            if host_loss:
                check_loss(float(loss._data), k + 1)
            opt.zero_grad()
            loss.backward()
            self._clip()
            opt.step()
            if self.scheduler is not None:
                self.scheduler.step()
            total = total + loss._data.astype(np.float64) * idx.shape[0]    # stays on the device
            seen += idx.shape[0]
            if progress is not None:
                progress.update(1)
                if k % refresh == 0:
                    mean = float(total) / seen
                    check_loss(mean)
                    progress.set_postfix(loss=f"{mean:.4f}", refresh=False)
        return float(total) / max(seen, 1)

    def _clip(self):
        if self.clip_grad_norm:
            from ..nn.utils import clip_grad_norm_

            clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)

    def optimizer_state(self):
        return self.optimizer.state_dict()

    def sync_model(self):
        pass


# ---- the trainer choice ---------------------------------------------------------------------------
def choose_trainer(cfg, model, optimizer, step_scheduler=None, data_parallel=False):
    """(trainer, 'fused' | 'eager', reason) for cfg.path in auto / fused / eager; data_parallel: inside
    an MPI job (the fused trainer then runs its data-parallel mode)."""
    per_step = step_scheduler is not None
    if cfg.path == "eager":
        return EagerTrainer(model, optimizer, step_scheduler, per_step), "eager", "requested with --path eager"
    shape = image_shape(cfg.dataset)
    why_not, kind = fused_reason(model, optimizer, shape, data_parallel)
    if why_not is not None:
        if cfg.path == "fused":
            raise ValueError(f"--path fused cannot run this configuration: {why_not}")
        return EagerTrainer(model, optimizer, step_scheduler, per_step), "eager", f"auto: {why_not}"
    if data_parallel:
        how = ("one compiled step per batch and one gradient allreduce" if cfg.device == "cpu"
               else "one CUDA graph launch per step, the gradient allreduce captured in it")
    elif cfg.device == "cpu":
        how = ("one Numba call per epoch (per 1/50 epoch while a progress bar is shown"
               + ("; the scheduler's per-step lr table is filled before each call)" if per_step else ")"))
    else:
        how = "one CUDA graph launch per step, one host sync per epoch"
    impl = "fastnn.fused.FusedMLP" if kind == "plain MLP" else "fastnn.fused_cnn.FusedCNN"
    why = f"{cfg.device}, {kind}, {cfg.optimizer}: {impl}, {how}"
    prefix = "requested with --path fused; " if cfg.path == "fused" else "auto: "
    return FusedTrainer(model, optimizer, step_scheduler, shape, data_parallel), "fused", prefix + why


# ---- the run --------------------------------------------------------------------------------------
def _progress(cfg, total, epoch):
    from tqdm import tqdm

    disable = cfg.quiet or not sys.stderr.isatty()
    return tqdm(total=total, desc=f"epoch {epoch}/{cfg.epochs}", unit="step", leave=False,
                disable=disable, dynamic_ncols=True)


def _device_backend(device):
    from ..backends import get_backend

    try:
        return get_backend(device)
    except Exception as e:
        if str(device).startswith("cuda"):
            raise RuntimeError(f"--device cuda requested but no usable CUDA device/backend: {e}") from None
        raise


def _scheduler_state(sched):
    if sched is None:
        return None
    return {k: v for k, v in sched.state_dict().items() if not callable(v)}


def _restore(cfg, model, optimizer, sched, rng, state, tensors):
    """Load a checkpoint's model/optimizer/scheduler/RNG state; returns (epoch done, step, history)."""
    from ..creation import tensor

    check_compatible(expected_shapes(cfg.model, _channels(cfg)), tensors, where=f"checkpoint {cfg.resume}")
    prev = state.get("config", {})
    if cfg.schedule == "onecycle" and prev.get("epochs") not in (None, cfg.epochs):
        raise ValueError(f"checkpoint {cfg.resume} has a OneCycleLR schedule over {prev['epochs']} epochs; "
                         f"it cannot be resumed with --epochs {cfg.epochs}")
    if prev and prev.get("optimizer") != cfg.optimizer:
        raise ValueError(f"checkpoint {cfg.resume} holds {prev.get('optimizer')} optimizer state; "
                         f"cannot resume it with --optimizer {cfg.optimizer}")
    model.load_state_dict({k: tensor(v, dtype=v.dtype, device=cfg.device) for k, v in tensors.items()})
    if state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
        if cfg.schedule == "none" and prev and TrainConfig.from_dict(prev).resolved_lr() != cfg.resolved_lr():
            for group in optimizer.param_groups:   # a new --lr on resume (say after a divergence) applies
                group["lr"] = cfg.resolved_lr()
    if sched is not None and state.get("scheduler") is not None:
        sched.load_state_dict(state["scheduler"])
    r = state.get("rng", {})
    if "shuffle" in r:
        rng.bit_generator.state = r["shuffle"]
    if "fastnn_cpu" in r:
        from ..backends import get_backend

        get_backend("cpu").rng.bit_generator.state = r["fastnn_cpu"]
    return int(state.get("epoch", 0)), int(state.get("step", 0)), list(state.get("history", []))


def _line(rec):
    return (f"epoch {rec['epoch']:3d} | train loss {rec['train_loss']:.4f} | test loss {rec['test_loss']:.4f} | "
            f"test acc {100 * rec['test_acc']:6.2f}% | {rec['samples_per_s']:9.0f} samples/s | "
            f"{rec['seconds']:7.2f} s")


def _trainer_state(cfg, epoch, step, path, trainer, sched, rng, history):
    from ..backends import get_backend

    return {"epoch": epoch, "step": step, "config": cfg.to_dict(), "path": path,
            "optimizer": trainer.optimizer_state(), "scheduler": _scheduler_state(sched),
            "rng": {"shuffle": rng.bit_generator.state,
                    "fastnn_cpu": get_backend("cpu").rng.bit_generator.state},
            "history": history}


def _channels(cfg):
    return 3 if cfg.dataset == "cifar10" else 1


def _setup(cfg, log):
    """Data, model, optimizer, scheduler (restored from cfg.resume when given), and the trainer."""
    import fastnn

    if cfg.threads:
        fastnn.set_num_threads(cfg.threads)
    from .distributed import setup as dist_setup

    rank, world = dist_setup(cfg)
    tensors = state = None
    if cfg.resume:
        tensors, state = load_checkpoint(cfg.resume, device=cfg.device)
    be = _device_backend(cfg.device)
    data = load_data(cfg.dataset, cfg.data_dir, cfg.normalize, cfg.train_subset, cfg.test_subset,
                     cfg.synthetic_size, flat=not is_cnn(cfg.model))
    fastnn.manual_seed(cfg.seed)
    s = {"be": be, "data": data, "rng": np.random.default_rng(cfg.seed), "start": 0, "step": 0, "history": []}
    s["rank"], s["world"] = rank, world
    s["model"] = model = build_model(cfg.model, cfg.device, _channels(cfg))
    s["optimizer"] = optimizer = make_optimizer(cfg, model.parameters())
    s["steps"] = -(-data[0].shape[0] // cfg.batch_size)
    s["sched"], s["sched_every"] = make_scheduler(cfg, optimizer, s["steps"])
    if cfg.resume:
        s["start"], s["step"], s["history"] = _restore(cfg, model, optimizer, s["sched"], s["rng"], state, tensors)
        log(f"resumed from {cfg.resume} after epoch {s['start']}")
    step_sched = s["sched"] if s["sched_every"] == "step" else None
    if cfg.detect_anomaly and cfg.path == "fused":
        raise ValueError("--detect-anomaly checks every op's backward, which only the eager (autograd) path "
                         "runs; drop --path fused")
    anomaly_auto = cfg.detect_anomaly and cfg.path == "auto"
    s["trainer"], s["path"], s["reason"] = choose_trainer(
        dataclasses.replace(cfg, path="eager") if anomaly_auto else cfg, model, optimizer, step_sched, world > 1)
    if anomaly_auto:
        s["reason"] = "auto: --detect-anomaly checks every op's backward, which needs the eager (autograd) path"
    if world == 1:   # data-parallel ranks must all take the same path: no background compile there
        s["trainer"], s["path"], s["reason"] = warmup.defer_fused(  # fused kernel not cached: eager meanwhile
            cfg, s["trainer"], s["path"], s["reason"], lambda: EagerTrainer(model, optimizer, step_sched, True), log)
    if world > 1 and s["path"] == "eager":  # fastnn train --nproc N / mpiexec (train/distributed.py)
        from .distributed import DistributedEagerTrainer

        s["trainer"] = DistributedEagerTrainer(s["trainer"])
        s["reason"] = f"data-parallel over {world} ranks (DistributedDataParallel over MPI); {s['reason']}"
    elif world > 1:
        s["reason"] = f"data-parallel over {world} ranks (FusedMLP(data_parallel=True)); {s['reason']}"
    s["trainer"].clip_grad_norm = cfg.clip_grad_norm
    log(f"path: {s['path']} ({s['reason']})")
    return s


def run(cfg, log=print, on_epoch=None):
    """Train per cfg (a TrainConfig); returns {'run_dir', 'history', 'path', 'reason', 'checkpoint', 'model'}.
    on_epoch(record, model) is called after each epoch's line (bench/train_gpu.py prints backend stats)."""
    import fastnn

    cfg = (cfg if isinstance(cfg, TrainConfig) else TrainConfig.from_dict(cfg)).validate()
    from .distributed import setup as dist_setup

    if dist_setup(cfg)[0] > 0:
        log = _silent  # data-parallel: rank 0 alone prints and writes
    s = _setup(cfg, log)
    rank0 = s["rank"] == 0
    run_dir = cfg.out or (os.path.dirname(os.path.abspath(cfg.resume)) if cfg.resume else runs.default_run_dir())
    if rank0:
        os.makedirs(run_dir, exist_ok=True)
    be, model, trainer, history, step = s["be"], s["model"], s["trainer"], s["history"], s["step"]
    xtr, ytr, xte, yte = s["data"]
    X, Y, Xte = be.asarray(xtr), be.asarray(ytr), be.asarray(xte)
    ckpt = os.path.join(run_dir, runs.CHECKPOINT)
    meta = {"config": cfg.to_dict(), "path": s["path"], "path_reason": s["reason"], "versions": runs.versions(),
            "threads": fastnn.get_num_threads(), "device": cfg.device, "resumed_from": cfg.resume,
            "checkpoint": runs.CHECKPOINT}
    for epoch in range(s["start"] + 1, cfg.epochs + 1):
        perm = s["rng"].permutation(xtr.shape[0])
        bar = _progress(cfg, s["steps"], epoch)
        t0 = time.perf_counter()
        try:
            with _anomaly_mode(cfg):
                train_loss = trainer.train_epoch(X, Y, perm, cfg.batch_size, bar)
            check_loss(train_loss)
        except NonFiniteLoss as e:
            bar.close()
            lr_now = s["optimizer"].param_groups[0]["lr"]
            raise RuntimeError(_diverged(cfg, epoch, s["steps"], e, ckpt, lr_now)) from None
        secs = time.perf_counter() - t0
        bar.close()
        trainer.sync_model()
        step += s["steps"]
        test_loss, test_acc = trainer.evaluate(model, Xte, yte, cfg.eval_batch_size)
        if rank0 and yte.shape[0] and not math.isfinite(test_loss):
            raise RuntimeError(_diverged(cfg, epoch, s["steps"], NonFiniteLoss(test_loss), ckpt,
                                         s["optimizer"].param_groups[0]["lr"], "test loss after the epoch's last step"))
        lr = s["optimizer"].param_groups[0]["lr"]
        if s["sched_every"] == "epoch":
            s["sched"].step()
        rec = {"epoch": epoch, "train_loss": train_loss, "test_loss": test_loss, "test_acc": test_acc,
               "samples_per_s": xtr.shape[0] / secs, "seconds": secs, "lr": float(lr),
               "path": getattr(trainer, "name", s["path"])}
        history.append(rec)
        log(_line(rec))
        if rank0:
            save_checkpoint(ckpt, model.state_dict(),
                            _trainer_state(cfg, epoch, step, s["path"], trainer, s["sched"], s["rng"], history))
            runs.write_metrics(run_dir, dict(meta, epochs=history))
        if on_epoch is not None:
            on_epoch(rec, model)
    if rank0:
        runs.write_metrics(run_dir, dict(meta, epochs=history))
        if history:
            runs.plot_curves(run_dir, history, f"{cfg.model} on {cfg.dataset}, {cfg.optimizer}, {s['path']}")
    warmup.finish(trainer, log)
    log(f"run folder: {run_dir}")
    return {"run_dir": run_dir, "history": history, "path": s["path"], "reason": s["reason"],
            "checkpoint": ckpt, "model": model}


def _silent(*args, **kwargs):
    pass

