"""Backend: the contract every device implements (a table of primitives over native arrays)."""
import contextlib


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
        """out[index] += src with repeated indices accumulated (backward of advanced indexing)."""
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
