"""Backend: the contract every device implements (a table of primitives over native arrays), and the
fused MLP's spec and feature flags (`FusedMLPSpec`, `FusedMLPFeatures`, `Backend.fused_mlp`)."""
import contextlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FusedMLPFeatures:
    """What one backend's fused MLP (`Backend.fused_mlp`) can train, beyond Linear layers with bias or
    not. fastnn.fused.fused_unsupported_reason reads these flags; nothing else decides it."""
    activations: frozenset   # hidden-layer activation names (kernels/activation/codes.py)
    losses: frozenset        # 'cross_entropy' (class-index targets) and/or 'mse' (mean reduction)
    dtypes: frozenset        # parameter dtype names ('float32', 'float64')
    dropout: bool            # Dropout after hidden activations (masks hashed from FusedMLPSpec.seed)
    on_step: bool            # epoch(on_step=...) calls on_step between steps inside one epoch call


@dataclass
class FusedMLPSpec:
    """One plain MLP's fused training, as fastnn.fused.FusedMLP hands it to `Backend.fused_mlp`.

    Model: Linear(sizes[0], sizes[1]), activations[0], [Dropout(dropout[0])], ..., Linear(.., sizes[-1]);
    loss over the mean of the batch; optimizer `optimizer` (a name in kernels/optim/table.py) whose torch
    param group is `hparams`. The backend trains in place on the caller's buffers:
        params   flat (P,) array of the backend, layer by layer W_l (sizes[l+1], sizes[l]) then b_l
                 (when bias[l]): the optimizer's flat buffer, model.parameters() order
        state    {torch state name: flat (P,) array}: the optimizer's flat state (missing ones are
                 allocated; a backend may rebind entries to its own rows and must leave them in the dict)
        hparams  the live param group: read at every call (a scheduler changes lr, betas, ...)
        step     the optimizer's step count so far; the implementation's `steps` attribute after
        seed     dropout seed: masks are splitmix64(seed, step, layer, row-in-batch index)
                 (kernels/fused_mlp/ref.py); FusedMLP sets the implementation's `seed` attribute from
                 fastnn's generator before every call
    """
    sizes: tuple                 # (d0, d1, ..., dL), L >= 1
    activations: tuple           # L-1 hidden-layer activation names
    bias: tuple                  # L bools
    optimizer: str
    hparams: dict
    params: object
    state: dict = field(default_factory=dict)
    dropout: tuple = None        # L-1 probabilities in [0, 1); None: no dropout
    loss: str = "cross_entropy"
    reduction: str = "mean"      # 'sum' on backends that support it (cuda)
    step: int = 0
    seed: int = 0

    def __post_init__(self):
        self.sizes = tuple(int(d) for d in self.sizes)
        L = len(self.sizes) - 1
        self.activations = tuple(_per_layer(self.activations, L - 1))
        self.bias = tuple(bool(b) for b in _per_layer(self.bias, L))
        self.dropout = tuple(float(p) for p in _per_layer(0.0 if self.dropout is None else self.dropout, L - 1))
        if L < 1 or len(self.activations) != L - 1 or len(self.bias) != L or len(self.dropout) != L - 1:
            raise ValueError(f"fused_mlp: sizes {self.sizes} need {L - 1} hidden activations and dropout "
                             f"probabilities and {L} bias flags, got {self.activations}, {self.dropout}, "
                             f"{self.bias}")
        if any(not 0.0 <= p < 1.0 for p in self.dropout):
            raise ValueError(f"fused_mlp: dropout must be one p in [0, 1) per hidden layer, got {self.dropout}")

    @property
    def n_params(self):
        """P: the flat buffer's length."""
        return sum(o * i + (o if b else 0) for i, o, b in zip(self.sizes, self.sizes[1:], self.bias))


def _per_layer(v, n):
    """v repeated n times when it is one value (a str, bool or number), else list(v)."""
    return [v] * n if isinstance(v, str) or not hasattr(v, "__iter__") else list(v)


class Backend:
    """One device's array module and kernel entry points.

    Primitives are functional: they allocate and return outputs. Arrays are the backend's native
    arrays. Anything not listed here is done through `self.xp` (NumPy-compatible module), which the
    op code above may use for plain array manipulation (indexing, reshape, broadcasting arithmetic).
    """

    name = "base"
    xp = None  # numpy-compatible array module

    def owns(self, a):
        """True when `a` is this backend's native array type."""
        raise NotImplementedError

    # ---- data movement -------------------------------------------------------------------------
    def asarray(self, a, dtype=None):
        """A native array from a NumPy array / nested list (copies only when needed)."""
        raise NotImplementedError

    def to_numpy(self, a):
        """A NumPy array with a's values (host copy on devices other than cpu)."""
        raise NotImplementedError

    def synchronize(self):
        """Wait for queued work (no-op on cpu)."""

    # ---- random --------------------------------------------------------------------------------
    def manual_seed(self, seed):
        raise NotImplementedError

    def rand(self, shape, dtype):
        raise NotImplementedError

    def randn(self, shape, dtype):
        raise NotImplementedError

    # ---- kernels (see DESIGN.md for shapes) ----------------------------------------------------
    def matmul(self, a, b, trans_a=False, trans_b=False):
        """out (M,N) = op(a) @ op(b) for 2-D arrays; op = transpose when the flag is set."""
        raise NotImplementedError

    def bmm(self, a, b, trans_a=False, trans_b=False):
        """out (B,M,N) = op(a) (B,M,K) @ op(b) (B,K,N)."""
        raise NotImplementedError

    def activation(self, x, act):
        """out = act(x), act in 'relu' | 'sigmoid' | 'tanh'."""
        raise NotImplementedError

    def activation_backward(self, dout, out, act):
        """dx = dout * act'(x), expressed through the forward's output."""
        raise NotImplementedError

    def bias_act(self, x, b, act):
        """out (M,N) = act(x (M,N) + b (N,)); act 'none' | 'relu' | 'sigmoid' | 'tanh'."""
        raise NotImplementedError

    def softmax(self, x, log=False):
        """Row-wise (log-)softmax over the last axis of a 2-D array."""
        raise NotImplementedError

    def softmax_backward(self, dout, out, log=False):
        raise NotImplementedError

    def cross_entropy(self, logits, target):
        """(loss_rows (M,), probs (M,C)) for class-index targets; stable."""
        raise NotImplementedError

    def cross_entropy_backward(self, dloss_rows, probs, target):
        """dlogits (M,C) = dloss_rows[:, None] * (probs - onehot(target))."""
        raise NotImplementedError

    def sum_rows(self, x):
        """out (N,) = x (M,N).sum(axis=0) (bias gradients)."""
        raise NotImplementedError

    def index_add(self, out, index, src):
        """out[index] += src with repeated indices accumulated (backward of advanced indexing)."""
        raise NotImplementedError

    # ---- optimizers: in-place updates over flat buffers (see kernels/optim/ref.py) -------------
    def optimizer_step(self, name, *args):
        """Run kernels.optim.<name>(*args) in place: one call updates every parameter."""
        raise NotImplementedError

    # ---- threads -------------------------------------------------------------------------------
    def shared_thread_pool(self):
        """Context manager: within it, eager kernels run on the thread pool the fused kernels use
        (for work interleaved with fused training, e.g. evaluation between fused epochs). Default:
        nothing to do."""
        return contextlib.nullcontext()

    # ---- fused training (fastnn/fused.py; fastnn/backends/<device>_fused.py) ---------------------
    fused_mlp_features = None  # a FusedMLPFeatures on backends that implement fused_mlp

    def fused_mlp(self, spec):
        """The fused MLP training of `spec` (a FusedMLPSpec) on this device: an object with
        step(x, y) -> (mean loss, correct count) for one batch of native arrays, and
        epoch(X, Y, batch_size, perm, drop_last=False, scale=1.0, shift=0.0[, on_step]) -> (mean loss,
        accuracy) over rows perm of X*scale + shift in batches; attributes `steps` (the step count,
        which the caller may set between calls) and `seed` (the dropout seed of the next call)."""
        raise NotImplementedError

    # ---- convolution (kernels/conv2d; NCHW, zero padding (ph, pw) on both sides, no bias) ---------
    def conv2d(self, x, w, stride, padding, dilation, groups):
        """out (N,O,OH,OW) = conv2d(x (N,C,H,W), w (O,C/groups,KH,KW)); stride/padding/dilation pairs."""
        raise NotImplementedError

    def conv2d_backward_input(self, dout, w, x_shape, stride, padding, dilation, groups):
        """dx (N,C,H,W) of conv2d for dout (N,O,OH,OW)."""
        raise NotImplementedError

    def conv2d_backward_weight(self, dout, x, w_shape, stride, padding, dilation, groups):
        """dw (O,C/groups,KH,KW) of conv2d for dout (N,O,OH,OW)."""
        raise NotImplementedError

    # ---- pooling (kernels/pool2d; windows: per-axis int64 tables from kernels/pool2d/windows.py) --
    def max_pool2d(self, x, hs, hn, ws, wn, dh, dw):
        """(out, idx) (N,C,OH,OW): window maxima of x (N,C,H,W) and their flat per-plane positions."""
        raise NotImplementedError

    def max_pool2d_backward(self, dout, idx, x_shape, hs, hn, ws, wn, dh, dw):
        """dx (N,C,H,W): dout added at idx."""
        raise NotImplementedError

    def avg_pool2d(self, x, hs, hn, ws, wn, div):
        """out (N,C,OH,OW): window sums / div (OH,OW) float64."""
        raise NotImplementedError

    def avg_pool2d_backward(self, dout, x_shape, hs, hn, ws, wn, div):
        """dx (N,C,H,W): each window's dout / div spread over its inputs."""
        raise NotImplementedError

    # ---- indexing and scans (kernels/index, kernels/scan; references in their ref.py) -----------
    def gather(self, x, index, dim):
        """out[..., j, ...] = x[..., index[..., j, ...], ...] along dim (index int64, same ndim)."""
        return self.xp.take_along_axis(x, index, axis=dim)

    def scatter_add(self, out, index, src, dim):
        """out[..., index[..., j, ...], ...] += src[..., j, ...] along dim, in place; returns out."""
        xp = self.xp
        idx = [xp.arange(n).reshape((1,) * k + (n,) + (1,) * (index.ndim - k - 1))
               for k, n in enumerate(index.shape)]
        idx[dim] = index
        return self.index_add(out, tuple(idx), src)

    def cumsum(self, x, dim):
        """Inclusive prefix sum along dim."""
        return self.xp.cumsum(x, axis=dim)
