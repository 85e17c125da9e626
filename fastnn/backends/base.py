"""Backend: the contract every device implements (a table of primitives over native arrays), and the
fused MLP's spec and feature flags (`FusedMLPSpec`, `FusedMLPFeatures`, `Backend.fused_mlp`)."""
import contextlib
import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FusedMLPFeatures:
    """What one backend's fused MLP (`Backend.fused_mlp`) can train, beyond Linear layers with bias or
    not. fastnn.fused.fused_unsupported_reason reads these flags; nothing else decides it."""
    activations: frozenset   # hidden-layer activation names (kernels/activation/codes.py)
    losses: frozenset        # 'cross_entropy' (class-index targets) and/or 'mse' (mean reduction)
    dtypes: frozenset        # parameter dtype names ('float32', 'float64')
    dropout: bool            # Dropout after hidden activations (masks hashed from FusedMLPSpec.seed)
    on_step: bool            # epoch(on_step=...) applies on_step after every step inside one epoch call
    data_parallel: bool = False  # FusedMLPSpec.process_group: one gradient allreduce per step


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
        process_group  None, or fastnn.distributed's group: data-parallel training (rank r takes its
                 contiguous slice of every global batch, normalizes by the global batch, and the
                 gradient is summed over ranks by one allreduce per step before the update)
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
    process_group: object = None

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


@dataclass
class FusedCNNSpec(FusedMLPSpec):
    """A Sequential CNN's fused training, as fastnn.fused_cnn.FusedCNN hands it to `Backend.fused_cnn`:
    per-image `ops` on images of `input_shape` (C, H, W) (op dicts of kernels/fused_cnn/program.py:
    conv, act, maxpool, dropout), Flatten, then the head the FusedMLPSpec fields describe (sizes[0] =
    the flattened features), cross-entropy. params / state / hparams / step / seed as FusedMLPSpec, the
    flat buffer in model.parameters() order: each conv's W (O, C/groups, KH, KW) and b, then the head."""
    input_shape: tuple = None
    ops: tuple = ()


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
        """out[index] += src with repeated indices accumulated (backward of advanced indexing), in place.
        A 1-D integer index along the first axis of a float out (embedding, index_select, padding
        backwards) runs kernels/index's index_add_rows; any other index the backend's index_add_at."""
        xp = self.xp
        if not (self.owns(index) and index.ndim == 1 and index.dtype.kind in "iu" and out.ndim >= 1
                and out.dtype == src.dtype and tuple(src.shape) == tuple(index.shape) + tuple(out.shape[1:])):
            return self.index_add_at(out, index, src)
        work = out if out.flags.c_contiguous else xp.ascontiguousarray(out)
        B = lines_shape(out.shape, 0)[2]
        if src.size:
            self.index_add_rows(work.reshape(out.shape[0], B), xp.ascontiguousarray(index, dtype="int64"),
                                xp.ascontiguousarray(src).reshape(index.shape[0], B))
        if work is not out:
            out[...] = work
        return out

    def index_add_at(self, out, index, src):
        """out[index] += src for any NumPy-style index (np.add.at semantics), in place; returns out."""
        raise NotImplementedError

    def index_add_rows(self, out, index, src):
        """out (N,B)[index[k], :] += src (K,B), index int64 (negative counts from the end) (kernels/index)."""
        raise NotImplementedError

    # ---- optimizers: in-place updates over flat buffers (see kernels/optim/ref.py) -------------
    def optimizer_step(self, name, *args):
        """Run kernels.optim.<name>(*args) in place: one call updates every parameter. Buffers are
        checked first (kernels/optim/checks.py: flat, contiguous, one float dtype, one size)."""
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

    fused_cnn_features = None  # a FusedMLPFeatures (its activations serve conv and head layers) where fused_cnn runs

    def fused_cnn(self, spec):
        """The fused CNN training of `spec` (a FusedCNNSpec): an object like fused_mlp's, whose step/epoch
        take images flattened to (N, C*H*W); None where this backend has none (cuda: training falls back
        to the eager path)."""
        return None

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

    def conv2d_biased(self, x, w, bias, stride, padding, dilation, groups):
        """out = conv2d(x, w) + bias (O,) over each channel plane (None: none): conv2d then conv2d_bias_
        (a backend may do both in one pass)."""
        out = self.conv2d(x, w, stride, padding, dilation, groups)
        return out if bias is None else self.conv2d_bias_(out, bias)

    def conv2d_backward(self, dout, x, w, stride, padding, dilation, groups, needs):
        """(dx, dw, db) of conv2d_biased for dout, each None where needs (three bools) is False: the three
        backward primitives (a backend may compute them in one pass over dout)."""
        cfg = (stride, padding, dilation, groups)
        return (self.conv2d_backward_input(dout, w, x.shape, *cfg) if needs[0] else None,
                self.conv2d_backward_weight(dout, x, w.shape, *cfg) if needs[1] else None,
                self.conv2d_backward_bias(dout) if needs[2] else None)

    def conv2d_bias_(self, out, bias):
        """out (N,O,OH,OW) += bias (O,) over each channel plane, in place; returns out."""
        out += bias.reshape(1, -1, 1, 1)
        return out

    def conv2d_backward_bias(self, dout):
        """db (O,): dout (N,O,OH,OW) summed over images and pixels."""
        return dout.sum(axis=(0, 2, 3))

    # ---- pooling (kernels/pool2d; windows: per-axis int64 tables from kernels/pool2d/windows.py) --
    def max_pool2d(self, x, hs, hn, ws, wn, dh, dw, indices=True):
        """(out, idx) (N,C,OH,OW): window maxima of x (N,C,H,W) and their flat per-plane positions; with
        indices False a backend may return idx None, and its backward then finds the maxima again in x."""
        raise NotImplementedError

    def max_pool2d_backward(self, dout, idx, x_shape, hs, hn, ws, wn, dh, dw, x=None):
        """dx (N,C,H,W): dout added at idx (idx None: at the maxima of x, as max_pool2d chose them)."""
        raise NotImplementedError

    def avg_pool2d(self, x, hs, hn, ws, wn, div):
        """out (N,C,OH,OW): window sums / div (OH,OW) float64."""
        raise NotImplementedError

    def avg_pool2d_backward(self, dout, x_shape, hs, hn, ws, wn, div):
        """dx (N,C,H,W): each window's dout / div spread over its inputs."""
        raise NotImplementedError

    # ---- batch normalisation (kernels/batchnorm; x (N,C,*) runs as a C-contiguous (N,C,L) view) ----
    def batch_norm(self, x, weight, bias, eps, running_mean=None, running_var=None):
        """(out, mean, invstd, var): out (N,C,*) = (x - mean) * invstd * weight + bias per channel (dim 1),
        invstd = 1/sqrt(var + eps). running_mean None: batch statistics over every dim but 1 (var biased;
        an empty channel has mean 0, var 0); else the running ones (eval). weight/bias None: 1/0.
        mean, invstd, var (C,) in x's dtype (the backward's saved tensors and the running-stat update)."""
        raise NotImplementedError

    def batch_norm_backward(self, dout, x, weight, mean, invstd, training):
        """(dx, dweight, dbias) of batch_norm from its saved mean, invstd; training: the batch statistics
        depend on x; else they were constants. dweight, dbias None when weight is None."""
        raise NotImplementedError

    # ---- indexing, scans, sorting along a dim (kernels/index, kernels/scan, kernels/sort) ----------
    # The primitives below bring their arrays to C-contiguous (A, N, B) views (dim in the middle) or
    # (M, N) rows (dim last) and call the backend's kernel entries (the *_lines / *_rows methods after
    # them). float32/float64 run kernels; other dtypes run the family's ref.py on `xp`. Index int64.
    def gather(self, x, index, dim):
        """out (index.shape) = x[..., index[..., j, ...], ...] along dim; x's shape equals index's on every
        other dim (the ops pass the part of x that index covers)."""
        check_index_shapes("gather", x, index, dim, exact=True)
        x3 = self.xp.ascontiguousarray(x).reshape(lines_shape(x.shape, dim))
        i3 = self.xp.ascontiguousarray(index).reshape(lines_shape(index.shape, dim))
        out = self.xp.empty(i3.shape, x.dtype)
        if out.size:
            self.gather_lines(out, x3, i3, dim)
        return out.reshape(index.shape)

    def scatter_add(self, out, index, src, dim):
        """out[..., index[..., j, ...], ...] += src[..., j, ...] along dim, in place (repeated indices
        accumulate); index and src share a shape no larger than out's on the other dims. Returns out."""
        check_index_shapes("scatter_add", out, index, dim, exact=False)
        if tuple(src.shape) != tuple(index.shape):
            raise RuntimeError(f"scatter_add: src shape {tuple(src.shape)} differs from index shape "
                               f"{tuple(index.shape)}")
        xp = self.xp
        lead = leading(out, index.shape, dim)
        work = lead if lead.flags.c_contiguous else xp.ascontiguousarray(lead)
        if index.size:
            self.scatter_add_lines(work.reshape(lines_shape(work.shape, dim)),
                                   xp.ascontiguousarray(index).reshape(lines_shape(index.shape, dim)),
                                   xp.ascontiguousarray(src, dtype=out.dtype).reshape(lines_shape(src.shape, dim)),
                                   dim)
        if work is not lead:
            lead[...] = work
        return out

    def cumsum(self, x, dim):
        """Inclusive prefix sums along dim (float accumulation in float64)."""
        return self._scan("cumsum", x, dim)

    def cumprod(self, x, dim):
        """Inclusive prefix products along dim (float accumulation in float64)."""
        return self._scan("cumprod", x, dim)

    def cumprod_backward(self, dout, x, out, dim):
        """dx of out = cumprod(x, dim) for dout; exact with zeros in x (no division)."""
        xp, shape = self.xp, lines_shape(x.shape, dim)
        dx = xp.empty(shape, x.dtype)
        if dx.size:
            self.cumprod_backward_lines(dx, *(xp.ascontiguousarray(a, dtype=x.dtype).reshape(shape)
                                              for a in (dout, x, out)))
        return dx.reshape(x.shape)

    def sort(self, x, dim, descending=False):
        """(values, indices int64) of x sorted along dim in torch's stable order: NaN is the largest value
        (last ascending, first descending), equal values keep their index order."""
        return self._sorted_rows(x, dim, x.shape[dim], descending, self.sort_rows)

    def topk(self, x, k, dim, largest=True):
        """(values, indices int64): the first k of sort(x, dim, descending=largest) along dim."""
        if not 0 <= k <= x.shape[dim]:
            raise RuntimeError(f"selected index k out of range (k={k}, size={x.shape[dim]})")
        return self._sorted_rows(x, dim, k, largest, self.topk_rows)

    def _scan(self, op, x, dim):
        x3 = self.xp.ascontiguousarray(x).reshape(lines_shape(x.shape, dim))
        out = self.xp.empty(x3.shape, x.dtype)
        if out.size:
            self.scan_lines(op, out, x3)
        return out.reshape(x.shape)

    def _sorted_rows(self, x, dim, k, flag, entry):
        """Move dim last, run entry(values (M,k), indices (M,k), rows (M,N), flag), move it back."""
        xp = self.xp
        lead = tuple(n for i, n in enumerate(x.shape) if i != dim)
        A, N, B = lines_shape(x.shape, dim)
        rows = xp.ascontiguousarray(xp.moveaxis(x, dim, -1)).reshape(A * B, N)
        values, indices = xp.empty((rows.shape[0], k), x.dtype), xp.empty((rows.shape[0], k), "int64")
        if values.size:
            entry(values, indices, rows, bool(flag))
        return (xp.moveaxis(values.reshape(lead + (k,)), -1, dim),
                xp.moveaxis(indices.reshape(lead + (k,)), -1, dim))

    # ---- reductions along a dim (kernels/reduce): the same (A, N, B) views, reducing axis 1 ----------
    def reduce_dim(self, op, x, dim):
        """op ('sum' | 'prod') of x along dim, which is removed. Floats accumulate in float64 and keep their
        dtype; bool and signed integers give int64, unsigned uint64 (NumPy's promotion). An empty dim
        gives 0 (sum) or 1 (prod)."""
        A, N, B = lines_shape(x.shape, dim)
        kind = x.dtype.kind
        out = self.xp.empty((A, B), x.dtype if kind in "fc" else "uint64" if kind == "u" else "int64")
        if out.size:
            self.reduce_lines(op, out, self.xp.ascontiguousarray(x).reshape(A, N, B))
        return out.reshape(x.shape[:dim] + x.shape[dim + 1:])

    def max_dim(self, x, dim, minimum=False):
        """(values, indices int64) of the max (minimum: min) of x along dim, which is removed, by torch's
        rules: the first index on ties; a NaN is the extreme (the first NaN and its index)."""
        A, N, B = lines_shape(x.shape, dim)
        if N == 0:
            raise IndexError(f"{'min' if minimum else 'max'}(): Expected reduction dim {dim} to have non-zero size.")
        values, indices = self.xp.empty((A, B), x.dtype), self.xp.empty((A, B), "int64")
        if values.size:
            self.extreme_lines(values, indices, self.xp.ascontiguousarray(x).reshape(A, N, B), bool(minimum))
        shape = x.shape[:dim] + x.shape[dim + 1:]
        return values.reshape(shape), indices.reshape(shape)

    # kernel entries (each backend: allocate nothing, call the kernel; arrays C-contiguous, non-empty)
    def gather_lines(self, out, x, index, dim):
        """out (A,K,B) = x (A,N,B)[a, index[a,k,b], b] (kernels/index)."""
        raise NotImplementedError

    def scatter_add_lines(self, out, index, src, dim):
        """out (A,N,B)[a, index[a,k,b], b] += src (A,K,B) (kernels/index)."""
        raise NotImplementedError

    def scan_lines(self, op, out, x):
        """out (A,N,B) = op ('cumsum' | 'cumprod') of x (A,N,B) along axis 1 (kernels/scan)."""
        raise NotImplementedError

    def cumprod_backward_lines(self, dx, dout, x, out):
        """dx (A,N,B) of out = cumprod(x) along axis 1 (kernels/scan)."""
        raise NotImplementedError

    def reduce_lines(self, op, out, x):
        """out (A,B) = op ('sum' | 'prod') of x (A,N,B) along axis 1 (kernels/reduce)."""
        raise NotImplementedError

    def extreme_lines(self, values, indices, x, minimum):
        """values, indices (A,B) = max (minimum: min) of x (A,N,B) along axis 1, N >= 1 (kernels/reduce)."""
        raise NotImplementedError

    def sort_rows(self, values, indices, x, descending):
        """values, indices (M,K) = first K of each row of x (M,N) in stable order (kernels/sort)."""
        raise NotImplementedError

    def topk_rows(self, values, indices, x, largest):
        """values, indices (M,K) = the K largest/smallest of each row of x (M,N), sorted (kernels/sort)."""
        raise NotImplementedError


# ---- views shared by the backends' indexing / scan / sort entries -------------------------------------
def lines_shape(shape, dim):
    """(A, N, B): `shape` seen as A = prod(shape[:dim]) lines of N = shape[dim] by B = prod(shape[dim+1:])."""
    A = B = 1
    for n in shape[:dim]:
        A *= int(n)
    for n in shape[dim + 1:]:
        B *= int(n)
    return A, int(shape[dim]), B


def leading(x, shape, dim):
    """The view of x covering `shape` on every dim but dim (torch lets index be smaller than x)."""
    if all(k == dim or a == b for k, (a, b) in enumerate(zip(x.shape, shape))):
        return x
    return x[tuple(slice(None) if k == dim else slice(0, n) for k, n in enumerate(shape))]


def check_index_shapes(op, x, index, dim, exact):
    """Same ndim, and index no larger (exact: equal) than x on every dim but dim."""
    ok = x.ndim == index.ndim and all(k == dim or (a == b if exact else b <= a)
                                      for k, (a, b) in enumerate(zip(x.shape, index.shape)))
    if not ok:
        raise RuntimeError(f"{op}: index shape {tuple(index.shape)} does not fit input shape {tuple(x.shape)} "
                           f"apart from dimension {dim}")
    if index.dtype != "int64":
        raise RuntimeError(f"{op}(): Expected dtype int64 for index, got {index.dtype}")


def raise_bad_indices(op, bad, dim, size):
    """The kernels skip and count indices outside [0, size): the ops check first, so this is a bug guard."""
    if bad:
        raise RuntimeError(f"{op}(): {bad} index values out of bounds for dimension {dim} with size {size}")


def bn_view(xp, x):
    """x (N,C,*) as a C-contiguous (N,C,L) array, L = prod(shape[2:]) (batch_norm's kernel layout)."""
    return xp.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))


def bn_channels(xp, x, *arrays):
    """Each per-channel array (C,) C-contiguous in x's dtype; (weight, bias) None become ones / zeros."""
    C, dt = x.shape[1], x.dtype
    fill = [xp.ones, xp.zeros]
    return [fill[min(i, 1)](C, dt) if a is None else xp.ascontiguousarray(a, dtype=dt) for i, a in enumerate(arrays)]
