"""The cpu backend's fused MLP: orchestration of kernels/fused_mlp/cpu.py (Numba) over the caller's buffers.

`CPUFusedMLP(spec)` trains a FusedMLPSpec (backends/base.py) in place: validation of inputs and targets
(torch-worded errors before any compiled code runs), the row-shard choice from the thread count, the
Workspace (kernels/fused_mlp/workspace.py) grown when a batch needs it, and one `train_epoch` call per
step or per epoch. It has no initialization and no defaults of its own: params, optimizer state,
hyper-parameters, step count and dropout seed all come from the spec (fastnn.fused.FusedMLP builds it
from the model and the optimizer). The kernels' own reference stays in kernels/fused_mlp/ref.py.
"""
import numba
import numpy as np

from fastnn.kernels.activation.codes import ACT, MODULES
from fastnn.kernels.fpenv import flush_denormals
from fastnn.kernels.fused_mlp.workspace import LOSS, Workspace, param_layout
from fastnn.kernels.optim import table

from .base import FusedMLPFeatures

FEATURES = FusedMLPFeatures(activations=frozenset(MODULES.values()), losses=frozenset(LOSS),
                            dtypes=frozenset({"float32", "float64"}), dropout=True, on_step=True,
                            data_parallel=True)

SHARD_MIN_ROWS = 16  # rows per thread below which a batch is not split (GEMMs of fewer rows run too slowly)


def shards_for(batch_size, nthreads):
    """Row shards of one batch: one per thread while each gets >= SHARD_MIN_ROWS rows (measured on 2
    cores, batch 64: 2 shards of 32 rows beat one 64-row shard whose GEMMs are split over 2 threads)."""
    return max(1, min(nthreads, batch_size // SHARD_MIN_ROWS))


class CPUFusedMLP:
    """step(x, y) / epoch(X, Y, batch_size, perm, drop_last, scale, shift) on NumPy arrays, in place on
    spec.params and spec.state (whose entries are rebound to rows of one (N_STATE, P) array, the
    kernel's state layout). `steps` is the step count, `seed` the dropout seed of the next call.
    nthreads: None (default) follows numba.get_num_threads() (fastnn.set_num_threads sets it); 1 runs
    on the calling thread; > 1 cuts each batch into shards_for(batch, nthreads) row shards, one per
    thread, and splits the optimizer update. `grads` is the last step's gradient (row 0 of (S, P))."""

    def __init__(self, spec):
        self.spec = spec
        self.params = spec.params
        if not isinstance(self.params, np.ndarray) or self.params.dtype not in (np.float32, np.float64) \
                or self.params.ndim != 1 or not self.params.flags.c_contiguous:
            raise TypeError(f"fused_mlp: params must be a contiguous 1-D float32/float64 NumPy array, got "
                            f"{type(self.params).__name__} {getattr(self.params, 'dtype', '')} "
                            f"{getattr(self.params, 'shape', '')}")
        for a in spec.activations:
            if a not in FEATURES.activations:
                raise ValueError(f"fused_mlp: unsupported activation {a!r} (expected one of "
                                 f"{sorted(FEATURES.activations)})")
        if spec.loss not in LOSS or spec.reduction != "mean":
            raise ValueError(f"the cpu fused MLP supports losses {sorted(LOSS)} with reduction 'mean', got "
                             f"{spec.loss!r} with {spec.reduction!r}")
        self.desc = table.get(spec.optimizer)
        self.dtype = self.params.dtype
        self.dims = np.asarray(spec.sizes, np.int64)
        self.has_bias = list(spec.bias)
        self.w_off, self.b_off, P = self._layout()
        if self.params.shape != (P,):
            raise ValueError(f"fused_mlp: params must have {P} elements for sizes {list(spec.sizes)}, "
                             f"got {self.params.shape}")
        self.act_codes = np.array([ACT[a] for a in spec.activations] or [0], np.int64)
        self.drop_p = np.array(spec.dropout or [0.0], np.float64)
        self.loss_code = LOSS[spec.loss]
        self.state = self._bind_state(spec, P)
        self._grads = np.zeros((1, P), self.dtype)
        self.steps, self.seed, self.nthreads = int(spec.step), int(spec.seed), None
        self.clip_grad_norm = None   # max global L2 norm of each step's gradient; set by FusedMLP before each call
        self.ws = None

    def _bind_state(self, spec, P):
        """The kernel's (N_STATE, P) state: row i = the table's args[i], taken from spec.state (or filled
        as the table says) and rebound there, so the optimizer reads and writes the kernel's rows."""
        state = np.zeros((table.N_STATE, P), self.dtype)
        for row, name in enumerate(self.desc.args):
            if spec.state.get(name) is not None:
                state[row] = spec.state[name]
                spec.state[name] = state[row]
            else:
                state[row] = table.state_fill(self.desc.name, name, spec.hparams)
        return state

    def _layout(self):
        """(w_off, b_off, P) of the flat parameters (the fused CNN adds its convolutions)."""
        return param_layout(self.dims, self.has_bias)

    def _workspace(self, rows, S):
        return Workspace(self.dims, rows, self.dtype, self.drop_p if len(self.dims) > 2 else None, shards=S)

    @property
    def grads(self):
        return self._grads[0]

    @property
    def hp(self):
        """(opt_code, packed hyper-parameters) of the live param group (a scheduler may change it)."""
        return table.pack_group(self.desc.name, self.spec.hparams)

    def _prepare(self, B):
        """The thread count for batches of B rows; grows or re-shards the buffers when needed."""
        nt = numba.get_num_threads() if self.nthreads is None else max(1, int(self.nthreads))
        S = shards_for(B, nt)
        if self.ws is None or not self.ws.fits(B, S):
            rows = B if self.ws is None else max(B, self.ws.batch_size)
            self.ws = self._workspace(rows, S)
        if self._grads.shape[0] != S:
            self._grads = np.zeros((S, self.params.size), self.dtype)
        return nt

    def _check_targets(self, Y, N, what):
        C = int(self.dims[-1])
        if self.loss_code == LOSS["cross_entropy"]:
            if Y.dtype.kind not in "iu" or Y.shape != (N,):
                raise TypeError(f"{what}: cross_entropy targets must be integer class indices of shape ({N},), "
                                f"got {Y.dtype} {Y.shape}")
            if N and (Y.min() < 0 or Y.max() >= C):
                raise ValueError(f"{what}: target class indices must lie in [0, {C}), got [{Y.min()}, {Y.max()}]")
            return np.ascontiguousarray(Y, np.int64), np.zeros((0, C), self.dtype)
        if Y.shape != (N, C):
            raise ValueError(f"{what}: mse targets must have shape ({N}, {C}), got {Y.shape}")
        return np.zeros(0, np.int64), np.ascontiguousarray(Y, self.dtype)

    def _check_inputs(self, X, what, allow_uint8=False):
        ok = (np.float32, np.float64) + ((np.uint8,) if allow_uint8 else ())
        if X.ndim != 2 or X.shape[1] != self.dims[0] or X.dtype not in ok:
            raise TypeError(f"{what}: expected inputs of shape (N, {self.dims[0]}) and dtype in "
                            f"{[np.dtype(t).name for t in ok]}, got {X.dtype} {X.shape}")

    def step(self, x, y):
        """One training step on x (B, sizes[0]), y (B,) int or (B, C); returns (mean loss, correct count)."""
        x, y = np.asarray(x), np.asarray(y)
        self._check_inputs(x, "fused step")
        B = x.shape[0]
        if B == 0:
            raise ValueError(f"fused step: the batch is empty (x has shape {x.shape}); a step needs at least one row")
        loss, acc = self._epoch(np.ascontiguousarray(x, self.dtype), y, np.arange(B), B, False, 1.0, 0.0,
                                "fused step")
        return loss, int(round(acc * B))

    def epoch(self, X, Y, batch_size, perm, drop_last=False, scale=1.0, shift=0.0, on_step=None):
        """One pass over the rows perm of X (N, sizes[0]) float32/float64/uint8 (x = X*scale + shift) in
        batches of batch_size; returns (mean loss, accuracy). `on_step()` (a per-step LR scheduler's
        `step`) takes effect after every step, still in one compiled call: see `_hp_table`."""
        X, perm = self._epoch_inputs(X, perm, batch_size)
        return self._epoch(X, Y, perm, int(batch_size), drop_last, scale, shift, "fused epoch", on_step)

    def _epoch_inputs(self, X, perm, batch_size):
        """(X, perm) checked and made contiguous for an epoch (X float in the params' dtype, or uint8)."""
        X = np.asarray(X)
        self._check_inputs(X, "fused epoch", allow_uint8=True)
        N = X.shape[0]
        perm = np.ascontiguousarray(perm, np.int64)
        if perm.ndim != 1 or (perm.size and (perm.min() < 0 or perm.max() >= N)):
            raise ValueError(f"fused epoch: perm must be 1-D indices into [0, {N}), got shape {perm.shape}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if X.dtype != np.uint8:
            X = np.ascontiguousarray(X, self.dtype)
        return X, perm

    def _hp_table(self, nsteps, on_step):
        """(opt_code, hp (R, H)): the kernel's per-step hyper-parameters, row k for step k of the call.
        Without on_step one row (the param group as it is). With on_step, on_step runs nsteps times here,
        before the compiled epoch, and row k is the packed group after k calls: exactly what step k reads
        when on_step runs after every step. Before call k, `steps` is the count after step k (what it
        would be then); the group, the scheduler and the step count end as per-step calls leave them."""
        opt_code, hp = self.hp
        if on_step is None or nsteps == 0:
            return opt_code, hp[None, :]
        table_ = np.empty((nsteps, hp.size), np.float64)
        table_[0] = hp
        steps0 = self.steps
        try:
            for k in range(1, nsteps + 1):
                self.steps = steps0 + k
                on_step()
                if k < nsteps:   # the `hp` property's packing, without its array per row
                    table_[k] = table.field_values(self.desc.name, self.spec.hparams)
        finally:
            self.steps = steps0
        return opt_code, table_

    def _epoch(self, X, Y, perm, B, drop_last, scale, shift, what, on_step=None):
        y_idx, y_val = self._check_targets(np.asarray(Y), X.shape[0], what)
        nt = self._prepare(B)
        nsteps = perm.shape[0] // B if drop_last else -(-perm.shape[0] // B)
        opt_code, hp = self._hp_table(nsteps, on_step)
        loss, acc, steps = self._run(X, y_idx, y_val, perm, B, drop_last, scale, shift, nt, opt_code, hp)
        self.steps += steps
        return loss, acc

    def _run(self, X, y_idx, y_val, perm, B, drop_last, scale, shift, nt, opt_code, hp):
        """One compiled train_epoch call with the (R, H) hyper-parameter table hp: (mean loss, accuracy,
        steps taken)."""
        from fastnn.kernels.fused_mlp import cpu

        ws = self.ws
        with flush_denormals():  # see kernels/fpenv.py: subnormal optimizer state is ~100x slower
            return cpu.train_epoch(
                self.params, self._grads, self.state, X, y_idx, y_val, perm, B, bool(drop_last), float(scale),
                float(shift), hp, opt_code, self.steps, self.dims, self.w_off, self.b_off, self.act_codes,
                self.drop_p, self.loss_code, self.seed, ws.xb, ws.yb_idx, ws.yb_val, ws.acts, ws.act_off,
                ws.drops, ws.drop_off, ws.deltas, ws.delta_off, ws.tbuf, nt, float(self.clip_grad_norm or 0.0))
