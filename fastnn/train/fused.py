"""Fused-path glue of `fastnn train`: drive fastnn.fused.FusedMLP or fastnn.fused_cnn.FusedCNN
(`fused_reason` says which applies; loop.choose_trainer picks it or eager).

FusedMLP shares the model's weights and the optimizer's flat state, so nothing is copied in or out and
checkpoints are the same whichever path wrote them. One compiled call (CPU) or one graph launch per
step (CUDA) per batch; per epoch one call unless a progress bar needs more.
"""
from .evaluation import evaluate


def fused_reason(model, optimizer, input_shape, data_parallel=False):
    """(None, 'plain MLP') or (None, 'CNN') when a fused trainer applies to model + cross-entropy on
    inputs of input_shape (C, H, W) [in data-parallel mode]; else (why not, None): the CNN's reason
    for models with a Conv2d."""
    from .. import nn
    from ..fused import fused_unsupported_reason
    from ..fused_cnn import fused_cnn_unsupported_reason

    loss = nn.CrossEntropyLoss()
    why_not = fused_unsupported_reason(model, loss, optimizer, data_parallel)
    if why_not is None:
        return None, "plain MLP"
    if not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return why_not, None
    if data_parallel:
        return "the fused CNN has no data-parallel mode", None
    why_not = fused_cnn_unsupported_reason(model, loss, optimizer, input_shape)
    return (None, "CNN") if why_not is None else (why_not, None)


def make_fused(model, optimizer, input_shape, data_parallel=False):
    """The FusedMLP or FusedCNN of model + cross-entropy (fused_reason says which applies)."""
    from ..fused import FusedMLP
    from ..fused_cnn import FusedCNN
    from ..nn import CrossEntropyLoss

    if fused_reason(model, optimizer, input_shape, data_parallel)[1] == "CNN":
        return FusedCNN(model, CrossEntropyLoss(), optimizer, input_shape)
    return FusedMLP(model, CrossEntropyLoss(), optimizer, data_parallel=data_parallel)


class FusedTrainer:
    """train_epoch through fastnn.fused.FusedMLP / fastnn.fused_cnn.FusedCNN (make_fused), visiting rows
    in the loop's own permutation."""

    name = "fused"

    def __init__(self, model, optimizer, step_scheduler=None, input_shape=(1, 28, 28), data_parallel=False):
        self.fm = make_fused(model, optimizer, input_shape, data_parallel)
        self.optimizer, self.scheduler = optimizer, step_scheduler
        # data-parallel: every rank makes the same calls (no per-rank progress chunks); rank 0 evaluates
        self.data_parallel = data_parallel
        self.rank = self.fm.spec.process_group.rank if data_parallel else 0

    def train_epoch(self, x, y, perm, batch_size, progress=None):
        """Train on the resident x, y in the order perm; returns the mean training loss. One call per
        epoch, or ~1/50 epoch per call with a live bar; a per-step scheduler steps through on_step
        (cuda: between graph replays, no host sync; cpu: stepped ahead of the compiled call, which
        reads one row of hyper-parameters per step)."""
        from ..tensor import Tensor

        be = self.fm.backend
        X, Y = Tensor._wrap(x, be), Tensor._wrap(y, be)
        nsteps = -(-perm.shape[0] // batch_size)
        live = progress is not None and not getattr(progress, "disable", True) and not self.data_parallel
        chunk = max(1, nsteps // 50) if live else nsteps
        on_step = self.scheduler.step if self.scheduler is not None else None
        total, seen = 0.0, 0
        for s in range(0, nsteps, chunk):
            rows = perm[s * batch_size:(s + chunk) * batch_size]
            loss, _ = self.fm.epoch(X, Y, batch_size, perm=rows, on_step=on_step)
            total, seen = total + loss * rows.shape[0], seen + rows.shape[0]
            if progress is not None:
                progress.update(-(-rows.shape[0] // batch_size))
                if live:
                    progress.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
        return total / max(seen, 1)

    def evaluate(self, model, x, y, batch_size):
        """(test loss, test accuracy) with eager kernels on the fused kernels' thread pool, so that no
        other pool is left spinning when the next fused epoch starts (Backend.shared_thread_pool).
        Data-parallel: rank 0 alone (every rank holds the same weights)."""
        if self.rank > 0:
            return float("nan"), float("nan")
        with self.fm.backend.shared_thread_pool():
            return evaluate(model, x, y, batch_size)

    @property
    def clip_grad_norm(self):
        """Max global L2 norm of each step's gradient (None: off), clipped inside the fused step."""
        return self.fm.clip_grad_norm

    @clip_grad_norm.setter
    def clip_grad_norm(self, max_norm):
        self.fm.clip_grad_norm = max_norm

    def sync_model(self):
        """Nothing to do: the model's parameters are the fused kernel's buffer."""

    def optimizer_state(self):
        return self.optimizer.state_dict()
