"""Fused training of a plain MLP: forward, loss, backward and the optimizer update in one compiled call
per step (CPU: Numba) or one graph launch per step (CUDA), sharing weights and optimizer state with
the eager model and optimizer. Device-agnostic: the backend's `fused_mlp(spec)` does the work.

    fm = FusedMLP(model, loss_fn, optimizer)       # model: Sequential(Linear, act, [Dropout], ..., Linear)
    loss, correct = fm.step(x, y)                  # one batch
    loss, acc = fm.epoch(X, Y, batch_size=64, shuffle=True, seed=0)   # resident data, batches gathered inside

`FusedMLP(..., data_parallel=True)` trains data-parallel over fastnn.distributed's default group
(init_process_group first): rank 0's weights and optimizer state are broadcast at construction;
`epoch` takes global batches of the same resident data on every rank (rank 0's permutation), each
rank computing its contiguous slice of every batch, normalized by the global batch, and one allreduce
of the flat gradient per step makes the update (and clipping) the one-process one on every rank;
`step(x, y)` takes each rank's local rows of one global batch, in rank order.

`fm.clip_grad_norm = max_norm` (a float, None = off, changeable between calls) clips every step's
summed gradient to that global L2 norm before the update, exactly as
`nn.utils.clip_grad_norm_(model.parameters(), max_norm)` between backward() and step() would.

The optimizer already packs the model's parameters into one flat buffer in `model.parameters()`
order (W (out,in) then b per layer), which is exactly the fused kernels' layout; the fused path
updates that buffer and the optimizer's flat state in place, so eager and fused steps can be mixed
and checkpoints are the same whichever path wrote them. After a fused step `p.grad` is not updated.
Eager work between fused epochs (an evaluation, say) is best run inside
`fm.backend.shared_thread_pool()`: on the CPU it then uses the fused kernels' threads and leaves no
OpenBLAS thread spinning on a core the next epoch needs (as `fastnn train` does).
"""
import numpy as np

from fastnn.kernels.activation import codes
from fastnn.kernels.optim import table

from . import nn, optim
from .backends.base import FusedMLPSpec
from .tensor import Tensor

# derived from the one tables (kernels/activation/codes.py, kernels/optim/table.py)
_ACTS = {getattr(nn, cls): name for cls, name in codes.MODULES.items()}
_OPTS = {getattr(optim, d.torch_name): d.name for d in table.OPTIMIZERS.values()}
# the torch hyper-parameter names each optimizer's fused update reads from its param group
HP_KEYS = {name: table.torch_keys(name) for name in table.OPTIMIZERS}


def _layers(model):
    """(sizes, hidden acts, bias flags, dropout per hidden layer) of a plain MLP, or a reason string."""
    if not isinstance(model, nn.Sequential):
        return f"the model is a {type(model).__name__}, not an nn.Sequential"
    mods = list(model)
    if mods and isinstance(mods[0], nn.Flatten):
        mods = mods[1:]
    return mlp_layers(mods)


def mlp_layers(mods):
    """_layers of the module list mods (Linear, act, [Dropout], ..., Linear); also the fused CNN's head."""
    sizes, acts, bias, drops, i = [], [], [], [], 0
    while i < len(mods):
        lin = mods[i]
        if not isinstance(lin, nn.Linear):
            return f"layer {i} is {type(lin).__name__}; the fused path takes Linear, activation, [Dropout] blocks"
        sizes = sizes or [lin.in_features]
        if lin.in_features != sizes[-1]:
            return f"Linear {i} takes {lin.in_features} features but the previous layer gives {sizes[-1]}"
        sizes.append(lin.out_features)
        bias.append(lin.bias is not None)
        i += 1
        if i == len(mods):
            break
        act = _ACTS.get(type(mods[i]))
        if act is None:
            return f"layer {i} is {type(mods[i]).__name__}; the fused path supports ReLU, Sigmoid and Tanh"
        acts.append(act)
        i += 1
        p = 0.0
        if i < len(mods) and isinstance(mods[i], nn.Dropout):
            p = float(mods[i].p) if mods[i].training else 0.0  # as the model was when FusedMLP was built
            i += 1
        drops.append(p)
    if len(sizes) < 2 or len(acts) != len(sizes) - 2:
        return "the model must end with a Linear layer"
    return sizes, acts, bias, drops


def _loss_name(loss_fn):
    if isinstance(loss_fn, nn.CrossEntropyLoss):
        plain = (loss_fn.weight is None and loss_fn.ignore_index == -100 and loss_fn.label_smoothing == 0
                 and loss_fn.reduction == "mean")
        return "cross_entropy" if plain else "CrossEntropyLoss with weight/ignore_index/label_smoothing/reduction"
    if isinstance(loss_fn, nn.MSELoss):
        return "mse" if loss_fn.reduction == "mean" else "MSELoss with reduction other than 'mean'"
    return f"loss {type(loss_fn).__name__} (the fused path supports CrossEntropyLoss and MSELoss)"


def fused_unsupported_reason(model, loss_fn, optimizer, data_parallel=False):
    """None when FusedMLP can train (model, loss_fn, optimizer) [data-parallel]; otherwise why not, in a
    sentence."""
    layers = _layers(model)
    if isinstance(layers, str):
        return layers
    loss = _loss_name(loss_fn)
    if loss not in ("cross_entropy", "mse"):
        return f"unsupported {loss}"
    return optimizer_reason(model, optimizer, "fused_mlp_features", "fused MLP", layers[1], layers[3], loss,
                            data_parallel)


def optimizer_reason(model, optimizer, features_attr, what, acts, drops, loss, data_parallel=False):
    """None when the optimizer and the backend's `features_attr` (a FusedMLPFeatures) can run a fused
    `what` with hidden activations acts, dropout drops and loss [data-parallel]; otherwise why not."""
    name = _OPTS.get(type(optimizer))
    if name is None:
        return f"optimizer {type(optimizer).__name__} has no fused update"
    params = list(model.parameters())
    if len(optimizer.param_groups) != 1 or len(optimizer.flat_buffers(0)) != 1:
        return "the optimizer must hold exactly one parameter group of one dtype"
    buf = optimizer.flat_buffers(0)[0]
    if [id(p) for p in buf.params] != [id(p) for p in params]:
        return "the optimizer's parameters must be model.parameters(), in order"
    if len(set(buf.steps)) != 1:
        return "parameters were stepped different numbers of times"
    be = buf.backend
    features = getattr(be, features_attr)
    if features is None:
        return f"the {be.name} backend has no {what}"
    if buf.flat.dtype.name not in features.dtypes:
        return f"parameters of dtype {buf.flat.dtype} (the {be.name} {what} takes {sorted(features.dtypes)})"
    bad = sorted(set(acts) - features.activations)
    if bad:
        return f"the {be.name} {what} has no {bad[0]} activation"
    if any(drops) and not features.dropout:
        return f"the {be.name} {what} has no dropout"
    if loss not in features.losses:
        return f"the {be.name} {what} has no {'MSE' if loss == 'mse' else loss} loss"
    if data_parallel and not getattr(features, "data_parallel", False):
        return f"the {be.name} {what} has no data-parallel mode"
    return None


class FusedMLP:
    """One compiled call per training step (`step`) or per epoch (`epoch`) for a plain MLP."""

    features_attr = "fused_mlp_features"   # the backend's FusedMLPFeatures of this kind of model

    def __init__(self, model, loss_fn, optimizer, data_parallel=False):
        reason = fused_unsupported_reason(model, loss_fn, optimizer, data_parallel)
        if reason is not None:
            raise ValueError(f"FusedMLP cannot train this model: {reason}")
        sizes, acts, bias, drops = _layers(model)
        self._bind(model, optimizer, drops)
        self.spec = FusedMLPSpec(sizes=sizes, activations=acts, bias=bias, dropout=drops,
                                 loss=_loss_name(loss_fn), optimizer=self.name, hparams=self.group,
                                 params=self.buf.flat, state=self.buf.state, step=self.buf.steps[0],
                                 process_group=_default_group() if data_parallel else None)
        self.impl = self.backend.fused_mlp(self.spec)
        self.clip_grad_norm = None

    def _bind(self, model, optimizer, drops):
        """The model, the optimizer's one group and flat buffer (state initialised), its backend."""
        self.model, self.optimizer = model, optimizer
        self.group, self.buf = optimizer.param_groups[0], optimizer.flat_buffers(0)[0]
        self.name = _OPTS[type(optimizer)]
        self.backend = self.buf.backend
        self.has_dropout = any(drops)
        optimizer.init_flat_state(0)

    def _before(self):
        self.buf.sync()
        self.impl.steps = self.buf.steps[0]
        if self.has_dropout:  # fresh masks every call, reproducible under fastnn.manual_seed
            self.impl.seed = _draw_seed()
        clip = self.clip_grad_norm
        if clip is not None and not float(clip) > 0:
            raise ValueError(f"FusedMLP.clip_grad_norm must be a positive max norm or None, got {clip}")
        self.impl.clip_grad_norm = clip

    def _after(self):
        if self.optimizer.step_advances_count(0):
            self.buf.steps = [int(self.impl.steps)] * len(self.buf.params)
        else:
            self.impl.steps = self.buf.steps[0]

    def step(self, x, y):
        """Train on one batch x (B, in), y (B,) class indices (or (B, C) for MSE). Returns (loss, correct)
        as 0-d tensors on the device (no host synchronisation)."""
        x, y = _array(x, self.backend), _array(y, self.backend)
        x = x.reshape(x.shape[0], -1) if x.ndim > 2 else x
        self._before()
        loss, correct = self.impl.step(x, y)
        self._after()
        return Tensor._wrap(self.backend.xp.asarray(loss), self.backend), \
            Tensor._wrap(self.backend.xp.asarray(correct), self.backend)

    def epoch(self, X, Y, batch_size=64, shuffle=True, seed=None, drop_last=False, scale=1.0, shift=0.0,
              perm=None, on_step=None):
        """One pass over resident X (N, in) float or uint8 (used as X*scale + shift) and Y (N,).
        Rows are visited in `perm` order when given (any 1-D index array, e.g. a slice of an epoch's
        permutation), else in a fresh permutation from `seed` (or fastnn's generator) when shuffle.
        `on_step()` takes effect after every step (a per-step LR scheduler's `step`): inside the
        backend's epoch where it supports that (cuda: runs between graph replays, no host sync; cpu:
        runs once per step before the one compiled call, whose step k reads the param group's
        hyper-parameters as they were after k calls), else one backend call per batch. On the cpu,
        on_step sees the optimizer's step count it would see after each step, but not the weights
        of that step. Returns (mean loss, accuracy) as Python floats."""
        X, Y = _array(X, self.backend), _array(Y, self.backend)
        X = X.reshape(X.shape[0], -1) if X.ndim > 2 else X
        N = int(X.shape[0])
        if N == 0:
            raise ValueError("FusedMLP.epoch: the dataset is empty")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if perm is not None:
            perm = np.asarray(perm.backend.to_numpy(perm._data) if isinstance(perm, Tensor) else perm, dtype=np.int64)
            if perm.ndim != 1 or (perm.size and (perm.min() < 0 or perm.max() >= N)):
                raise ValueError(f"FusedMLP.epoch: perm must be 1-D row indices in [0, {N}), got {perm.shape}")
        elif shuffle:
            rng = np.random.default_rng(seed) if seed is not None else _generator()
            perm = rng.permutation(N).astype(np.int64)
        else:
            perm = np.arange(N, dtype=np.int64)
        args = (int(batch_size), bool(drop_last), float(scale), float(shift))
        if on_step is not None and not (getattr(self.backend, self.features_attr).on_step
                                        or getattr(self.spec, "process_group", None)):
            return self._epoch_per_step(X, Y, perm, args, on_step)
        self._before()
        if on_step is None:
            loss, acc = self.impl.epoch(X, Y, args[0], perm, *args[1:])
        else:
            loss, acc = self.impl.epoch(X, Y, args[0], perm, *args[1:], on_step=self._counted(on_step))
        self._after()
        return float(loss), float(acc)

    def _counted(self, on_step):
        """on_step with the optimizer's step count brought up to date first (schedulers may read it)."""
        def run():
            self._after()
            on_step()
        return run

    def _epoch_per_step(self, X, Y, perm, args, on_step):
        """One backend epoch call per batch, on_step after each; (mean loss, accuracy) over the rows."""
        B, drop_last = args[0], args[1]
        stop = perm.shape[0] - (perm.shape[0] % B if drop_last else 0)
        loss_sum = correct = seen = 0.0
        for s in range(0, stop, B):
            rows = perm[s:s + B]
            self._before()
            loss, acc = self.impl.epoch(X, Y, B, rows, *args[1:])
            self._after()
            on_step()
            loss_sum, correct, seen = loss_sum + loss * rows.shape[0], correct + acc * rows.shape[0], seen + rows.shape[0]
        if seen == 0:
            return float("nan"), float("nan")
        return float(loss_sum / seen), float(correct / seen)


def _default_group():
    """fastnn.distributed's default group (torch's error when init_process_group was not called)."""
    from .distributed.group import _group

    return _group()


def _generator():
    """fastnn's generator (the cpu backend's; fastnn.manual_seed seeds it): shuffles and dropout seeds."""
    from .backends import get_backend

    return get_backend("cpu").rng


def _draw_seed():
    """A dropout seed from fastnn's generator: two runs after the same manual_seed draw the same ones."""
    return int(_generator().integers(0, 2 ** 63))


def _array(v, backend):
    if isinstance(v, Tensor):
        if v.backend is not backend:
            raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                               f"{backend.name} and {v.backend.name}!")
        return v._data
    return backend.asarray(v)
