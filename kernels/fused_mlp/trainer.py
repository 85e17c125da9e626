"""`FusedMLPTrainer`: the Python front door of the fused CPU training path (validation + buffers).

Owns the flat params/grads/optimizer state and a Workspace; `step(x, y)` and `epoch(X, Y, ...)` call
the compiled kernels in fused_mlp/cpu.py. Bad input raises ValueError/TypeError naming shapes and
dtypes before any compiled code runs.
"""
import numba
import numpy as np

from ..optim import table
from . import cpu
from .workspace import ACT, LOSS, Workspace, pack_hparams, param_layout


SHARD_MIN_ROWS = 16  # rows per thread below which a batch is not split (GEMMs of fewer rows run too slowly)


def shards_for(batch_size, nthreads):
    """Row shards of one batch: one per thread while each gets >= SHARD_MIN_ROWS rows (measured on 2
    cores, batch 64: 2 shards of 32 rows beat one 64-row shard whose GEMMs are split over 2 threads)."""
    return max(1, min(nthreads, batch_size // SHARD_MIN_ROWS))


class FusedMLPTrainer:
    """Sequential(Linear, act, [Dropout], ..., Linear) + loss + optimizer, trained by compiled kernels.

    dims: layer sizes [in, h1, ..., out]; activations: one name per hidden layer ('relu', ...);
    has_bias: bool or one per layer; dropout: float or one per hidden layer; loss: 'cross_entropy'|'mse';
    optimizer: a name in kernels/optim/table.py ('sgd', 'adam', ...) with torch-named
    hyper-parameters in **hp.
    params: optional initial flat buffer (copied); default torch.nn.Linear's U(-1/sqrt(in), 1/sqrt(in)).
    nthreads: threads of the compiled kernel: None (default) = numba.get_num_threads(), which
    fastnn.set_num_threads sets; 1 runs everything on the calling thread; > 1 cuts each batch into
    shards_for(batch, nthreads) row shards, one per thread, and splits the optimizer update (no BLAS
    is involved). `grads` is the last step's gradient (row 0 of the (shards, P) buffer).
    clip_grad_norm: when > 0, each step's summed gradient is clipped to this global L2 norm before the
    update (nn.utils.clip_grad_norm_'s formula); a runtime scalar, 0 = off.
    """

    def __init__(self, dims, activations, has_bias=True, dropout=0.0, loss="cross_entropy", optimizer="adam",
                 dtype=np.float32, batch_size=64, seed=0, params=None, initial_accumulator_value=0.0,
                 nthreads=None, **hp):
        self.dims = np.asarray(dims, np.int64)
        L = len(self.dims) - 1
        self.has_bias = [bool(has_bias)] * L if np.ndim(has_bias) == 0 else [bool(b) for b in has_bias]
        acts = [activations] * (L - 1) if isinstance(activations, str) else list(activations)
        if len(acts) != L - 1 or any(a not in ACT for a in acts):
            raise ValueError(f"fused MLP: need one activation per hidden layer ({L - 1}) from {sorted(ACT)}, "
                             f"got {acts}")
        self.act_codes = np.array([ACT[a] for a in acts] or [0], np.int64)
        self.drop_p = np.array(([float(dropout)] * (L - 1) if np.ndim(dropout) == 0 else list(dropout)) or [0.0])
        if len(self.drop_p) != max(L - 1, 1) or ((self.drop_p < 0) | (self.drop_p >= 1)).any():
            raise ValueError(f"fused MLP: dropout must be one p in [0, 1) per hidden layer, got {dropout}")
        if loss not in LOSS:
            raise ValueError(f"fused MLP: loss must be one of {sorted(LOSS)}, got {loss!r}")
        self.loss_code = LOSS[loss]
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"fused MLP: dtype must be float32 or float64, got {self.dtype}")
        self.w_off, self.b_off, P = param_layout(self.dims, self.has_bias)
        self.opt_code, self.hp = pack_hparams(optimizer, **hp)
        self.params = self._init_params(P, seed) if params is None else np.array(params, self.dtype).ravel()
        if self.params.shape != (P,):
            raise ValueError(f"fused MLP: params must have {P} elements for dims {list(self.dims)}, "
                             f"got {self.params.shape}")
        self._grads = np.zeros((1, P), self.dtype)
        self.state = np.zeros((table.N_STATE, P), self.dtype)
        group = dict(hp, initial_accumulator_value=initial_accumulator_value)
        for row, name in enumerate(table.get(optimizer).args):
            self.state[row] = table.state_fill(optimizer, name, group)
        self.seed, self.step_count, self.nthreads = int(seed), 0, nthreads
        self.clip_grad_norm = 0.0
        self.ws = Workspace(self.dims, batch_size, self.dtype, self.drop_p if L > 1 else None)

    @property
    def grads(self):
        return self._grads[0]

    def _init_params(self, P, seed):
        rng, p = np.random.default_rng(seed), np.empty(P, self.dtype)
        for l in range(len(self.dims) - 1):
            n, k = self.dims[l + 1], self.dims[l]
            bound = 1.0 / np.sqrt(k)
            p[self.w_off[l]:self.w_off[l] + n * k] = rng.uniform(-bound, bound, n * k)
            if self.b_off[l] >= 0:
                p[self.b_off[l]:self.b_off[l] + n] = rng.uniform(-bound, bound, n)
        return p

    def _prepare(self, B):
        """The thread count for batches of B rows; grows or re-shards the buffers when needed."""
        nt = numba.get_num_threads() if self.nthreads is None else max(1, int(self.nthreads))
        S = shards_for(B, nt)
        if not self.ws.fits(B, S):
            L = len(self.dims) - 1
            self.ws = Workspace(self.dims, max(B, self.ws.batch_size), self.dtype,
                                self.drop_p if L > 1 else None, shards=S)
        if self._grads.shape[0] != S:
            self._grads = np.zeros((S, self.params.size), self.dtype)
        return nt

    def _check_targets(self, Y, N, what):
        C = int(self.dims[-1])
        if self.loss_code == 0:
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
        """One training step on x (B, dims[0]), y (B,) int or (B, C); returns (mean loss, correct count)."""
        x, y = np.asarray(x), np.asarray(y)
        self._check_inputs(x, "FusedMLPTrainer.step")
        B = x.shape[0]
        if B == 0:
            raise ValueError("FusedMLPTrainer.step: the batch is empty (x has shape "
                             f"{x.shape}); a step needs at least one row")
        loss, acc = self._epoch(np.ascontiguousarray(x, self.dtype), y, np.arange(B), B, False, 1.0, 0.0,
                                "FusedMLPTrainer.step")
        return loss, int(round(acc * B))

    def epoch(self, X, Y, batch_size=None, perm=None, shuffle_seed=None, drop_last=False, scale=1.0, shift=0.0):
        """One pass over X (N, dims[0]) float32/float64/uint8 (x = X*scale + shift) in batches of
        perm (default: a shuffle from shuffle_seed, or identity when None); returns (mean loss, accuracy)."""
        X = np.asarray(X)
        self._check_inputs(X, "FusedMLPTrainer.epoch", allow_uint8=True)
        N = X.shape[0]
        if perm is None:
            perm = np.arange(N) if shuffle_seed is None else np.random.default_rng(shuffle_seed).permutation(N)
        perm = np.ascontiguousarray(perm, np.int64)
        if perm.ndim != 1 or (perm.size and (perm.min() < 0 or perm.max() >= N)):
            raise ValueError(f"FusedMLPTrainer.epoch: perm must be 1-D indices into [0, {N}), got shape {perm.shape}")
        if X.dtype != np.uint8:
            X = np.ascontiguousarray(X, self.dtype)
        return self._epoch(X, Y, perm, int(batch_size or self.ws.batch_size), drop_last, scale, shift,
                           "FusedMLPTrainer.epoch")

    def _epoch(self, X, Y, perm, B, drop_last, scale, shift, what):
        y_idx, y_val = self._check_targets(np.asarray(Y), X.shape[0], what)
        nt = self._prepare(B)
        ws = self.ws
        loss, acc, steps = cpu.train_epoch(
            self.params, self._grads, self.state, X, y_idx, y_val, perm, B, bool(drop_last), float(scale),
            float(shift), self.hp, self.opt_code, self.step_count, self.dims, self.w_off, self.b_off,
            self.act_codes, self.drop_p, self.loss_code, self.seed, ws.xb, ws.yb_idx, ws.yb_val, ws.acts,
            ws.act_off, ws.drops, ws.drop_off, ws.deltas, ws.delta_off, ws.tbuf, nt, float(self.clip_grad_norm or 0.0))
        self.step_count += steps
        return loss, acc
