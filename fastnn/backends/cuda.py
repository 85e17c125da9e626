"""The cuda backend: CuPy arrays, CUDA C kernels from kernels/*/*.cu via cupy.RawModule, one table.

float32 work runs our kernels (launched through cuda_launcher.py); other dtypes (float64, integers) run
the family's NumPy reference (kernels/<family>/ref.py) on CuPy arrays (`xp=cupy`).
GEMM: `backend.gemm_impl` ('auto' | 'cublas' | 'fastnn', default from FASTNN_CUDA_GEMM) picks cuBLAS
(cupy.matmul) or our sgemm per call. `backend.stats` counts kernel launches, graph launches and
host syncs (cheap integer increments in the launch wrapper / copies).
"""
import contextlib
import importlib
import inspect
import os

import numpy as np

from fastnn.kernels.activation.codes import act_code as _act_code

from .base import Backend, bn_channels, bn_view
from .cuda_launcher import Launcher, grid1d, row_block

_F32 = np.dtype(np.float32)
_FLOATS = (_F32, np.dtype(np.float64))
_SUFFIX = {_F32: "_f32", np.dtype(np.float64): "_f64"}   # kernel name suffix per dtype
SORT_MAX = 4096   # longest row sort.cu sorts in shared memory (48 KB of double keys + indices)
_GEMM_IMPLS = ("auto", "cublas", "fastnn")
_AUTO_FASTNN_MAX_WORK = 1 << 21   # auto: our sgemm when M*N*K is at most this (launch-bound sizes)


class CUDABackend(Backend):
    name = "cuda"

    def __init__(self, cp=None):
        if cp is None:
            cp = _import_cupy()
        self.cp = self.xp = cp
        self.launcher = Launcher(cp)
        self.stats = self.launcher.stats
        self.gemm_impl = os.environ.get("FASTNN_CUDA_GEMM", "auto")
        if self.gemm_impl not in _GEMM_IMPLS:
            raise ValueError(f"FASTNN_CUDA_GEMM must be one of {_GEMM_IMPLS}, got {self.gemm_impl!r}")
        self.rng = cp.random.default_rng()

    # ---- launching (fastnn/backends/cuda_launcher.py) -------------------------------------------
    @contextlib.contextmanager
    def capturing(self):
        """Within it (cuda_fused capturing a CUDA graph) launches are counted as graph launches."""
        self.launcher.capturing = True
        try:
            yield
        finally:
            self.launcher.capturing = False

    def launch(self, name, grid, block, *args, shared_mem=0):
        """Launch kernel `name` of kernels/*/*.cu with arguments converted to its C parameter types."""
        self.launcher.launch(name, grid, block, *args, shared_mem=shared_mem)

    def owns(self, a):
        return isinstance(a, self.cp.ndarray)

    # ---- data movement -------------------------------------------------------------------------
    def asarray(self, a, dtype=None):
        if isinstance(a, self.cp.ndarray):
            return a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
        return self.cp.asarray(np.asarray(a, dtype=dtype))

    def to_numpy(self, a):
        if isinstance(a, np.ndarray) and not isinstance(a, self.cp.ndarray):
            return a
        self.stats.host_syncs += 1
        return self.cp.asnumpy(a)

    def synchronize(self):
        self.stats.host_syncs += 1
        self.cp.cuda.Device().synchronize()

    # ---- random --------------------------------------------------------------------------------
    def manual_seed(self, seed):
        self.rng = self.cp.random.default_rng(seed)

    def rand(self, shape, dtype):
        dt = np.dtype(dtype)
        return self.rng.random(shape, dtype=dt if dt in (np.float32, np.float64) else np.float64).astype(dt)

    def randn(self, shape, dtype):
        dt = np.dtype(dtype)
        return self.rng.standard_normal(shape, dtype=dt if dt in (np.float32, np.float64) else np.float64
                                        ).astype(dt)

    # ---- GEMM ----------------------------------------------------------------------------------
    def _use_fastnn_gemm(self, dtype, work):
        if dtype != _F32 or self.gemm_impl == "cublas":
            return False
        return self.gemm_impl == "fastnn" or work <= _AUTO_FASTNN_MAX_WORK

    def matmul(self, a, b, trans_a=False, trans_b=False):
        """out (M,N) = op(a) @ op(b); our sgemm (nn/nt/tn) or cuBLAS per gemm_impl and shape."""
        _check_2d("matmul", a, b)
        xp = self.xp
        opa = a.T if trans_a else a
        opb = b.T if trans_b else b
        if opa.shape[1] != opb.shape[0]:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({opa.shape[0]}x{opa.shape[1]} "
                               f"and {opb.shape[0]}x{opb.shape[1]})")
        M, K, N = opa.shape[0], opa.shape[1], opb.shape[1]
        dt = np.result_type(a.dtype, b.dtype)
        if not self._use_fastnn_gemm(dt, M * N * K):
            return xp.matmul(opa, opb)
        out = xp.empty((M, N), dtype=_F32)
        if M == 0 or N == 0:
            return out
        a, ta = _c_or_t(xp, a)
        b, tb = _c_or_t(xp, b)
        ta, tb = ta != trans_a, tb != trans_b
        if ta and tb:  # a.T @ b.T = (b @ a).T
            return xp.ascontiguousarray(self.matmul(b, a).T)
        kern = "sgemm_tn" if ta else "sgemm_nt" if tb else "sgemm_nn"
        self.launch(kern, ((N + 63) // 64, (M + 63) // 64), (256,), out, a, b, M, N, K, 1.0, 0.0)
        return out

    def bmm(self, a, b, trans_a=False, trans_b=False):
        """out (B,M,N) = op(a) (B,M,K) @ op(b) (B,K,N)."""
        xp = self.xp
        if a.ndim != 3 or b.ndim != 3:
            raise RuntimeError(f"bmm expects 3-D tensors, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
        opa = a.swapaxes(1, 2) if trans_a else a
        opb = b.swapaxes(1, 2) if trans_b else b
        if opa.shape[0] != opb.shape[0] or opa.shape[2] != opb.shape[1]:
            raise RuntimeError(f"bmm shapes cannot be multiplied: {tuple(opa.shape)} @ {tuple(opb.shape)}")
        Bt, M, K, N = opa.shape[0], opa.shape[1], opa.shape[2], opb.shape[2]
        dt = np.result_type(a.dtype, b.dtype)
        if not self._use_fastnn_gemm(dt, Bt * M * N * K):
            return xp.matmul(opa, opb)
        out = xp.empty((Bt, M, N), dtype=_F32)
        if out.size == 0:
            return out
        a, ta = _c_or_t(xp, a)
        b, tb = _c_or_t(xp, b)
        ta, tb = ta != trans_a, tb != trans_b
        if ta and tb:
            return xp.ascontiguousarray(self.bmm(b, a).swapaxes(1, 2))
        kern = "bmm_tn" if ta else "bmm_nt" if tb else "bmm_nn"
        grid = ((N + 63) // 64, (M + 63) // 64, min(Bt, 65535))
        self.launch(kern, grid, (256,), out, a, b, Bt, M, N, K, M * K, K * N, M * N, 1.0, 0.0)
        return out

    # ---- activations (kernels/activation) ------------------------------------------------------
    def activation(self, x, act):
        xp = self.xp
        x = xp.ascontiguousarray(x)
        out = xp.empty_like(x)
        if x.dtype != _F32:
            getattr(_ref("activation"), act)(out, x, xp=xp)
        elif x.size:
            self.launch("act_forward", *grid1d(x.size), out, x, x.size, _act_code(act))
        return out

    def activation_backward(self, dout, out, act):
        xp = self.xp
        out = xp.ascontiguousarray(out)
        dout = xp.ascontiguousarray(xp.broadcast_to(dout, out.shape), dtype=out.dtype)
        dx = xp.empty_like(out)
        if out.dtype != _F32:
            getattr(_ref("activation"), act + "_backward")(dx, dout, out, xp=xp)
        elif out.size:
            self.launch("act_backward", *grid1d(out.size), dx, dout, out, out.size, _act_code(act))
        return dx

    # ---- softmax and cross-entropy (kernels/softmax, kernels/xent; 2-D, last axis) ---------------
    def softmax(self, x, log=False):
        """Row-wise (log-)softmax over the last axis (leading dims are flattened into rows)."""
        xp = self.xp
        x = xp.ascontiguousarray(x)
        rows = _rows("softmax", x)
        out = xp.empty_like(rows)
        M, N = rows.shape
        if x.dtype != _F32:
            (_ref("softmax").log_softmax if log else _ref("softmax").softmax)(out, rows, xp=xp)
        elif x.size:
            self.launch("log_softmax_forward" if log else "softmax_forward", (min(M, 65535),),
                        (row_block(N),), out, rows, M, N)
        return out.reshape(x.shape)

    def softmax_backward(self, dout, out, log=False):
        xp = self.xp
        out = xp.ascontiguousarray(out)
        dout = xp.ascontiguousarray(xp.broadcast_to(dout, out.shape), dtype=out.dtype)
        rows, drows = _rows("softmax_backward", out), _rows("softmax_backward", dout)
        dx = xp.empty_like(rows)
        M, N = rows.shape
        if out.dtype != _F32:
            ref = _ref("softmax")
            (ref.log_softmax_backward if log else ref.softmax_backward)(dx, drows, rows, xp=xp)
        elif out.size:
            self.launch("log_softmax_backward" if log else "softmax_backward", (min(M, 65535),),
                        (row_block(N),), dx, drows, rows, M, N)
        return dx.reshape(out.shape)

    def cross_entropy(self, logits, target):
        xp = self.xp
        if logits.ndim != 2 or target.ndim != 1 or target.shape[0] != logits.shape[0]:
            raise RuntimeError(f"cross_entropy expects logits (M,C) and target (M,), got {tuple(logits.shape)} "
                               f"and {tuple(target.shape)}")
        target = xp.ascontiguousarray(target, dtype=np.int64)
        logits = xp.ascontiguousarray(logits)
        M, N = logits.shape
        loss_rows = xp.empty(M, dtype=logits.dtype)
        probs = xp.empty_like(logits)
        if not N:
            loss_rows[...] = np.nan           # no classes: the loss is undefined
        elif logits.dtype != _F32:
            _ref("xent").cross_entropy_forward(loss_rows, probs, logits, target, xp=xp)
        elif M:
            self.launch("cross_entropy_forward", (min(M, 65535),), (row_block(N),),
                        loss_rows, probs, logits, target, M, N)
        return loss_rows, probs

    def cross_entropy_backward(self, dloss_rows, probs, target):
        xp = self.xp
        target = xp.ascontiguousarray(target, dtype=np.int64)
        probs = xp.ascontiguousarray(probs)
        M, N = probs.shape
        dloss = xp.ascontiguousarray(xp.reshape(dloss_rows, (-1,)), dtype=probs.dtype)
        dlogits = xp.empty_like(probs)
        if probs.dtype != _F32:
            _ref("xent").cross_entropy_backward(dlogits, xp.broadcast_to(dloss, (M,)), probs, target, xp=xp)
        elif probs.size:
            stride = 0 if dloss.size == 1 else 1
            self.launch("cross_entropy_backward", *grid1d(probs.size), dlogits, probs, target, dloss, stride,
                        M, N, 1.0)
        return dlogits

    # ---- reductions (kernels/reduce) ------------------------------------------------------------
    def sum_rows(self, x):
        """out (N,) = x (M,N).sum(axis=0)."""
        xp = self.xp
        x = xp.ascontiguousarray(x)
        out = xp.empty(x.shape[1:], dtype=x.dtype)
        if x.dtype != _F32 or x.ndim != 2:
            _ref("reduce").sum_rows(out, x)
        elif out.size:
            M, N = x.shape
            self.launch("sum_rows", ((N + 31) // 32,), (32, 8), out, x, M, N, 0)
        return out

    def index_add_at(self, out, index, src):
        xp = self.xp
        if hasattr(xp, "add") and hasattr(xp.add, "at"):
            xp.add.at(out, index, src)
        else:  # older CuPy
            import cupyx

            cupyx.scatter_add(out, index, src)
        return out

    # ---- indexing, scans, sorting along a dim: kernel entries (base.py makes the views) ------------
    # float32/float64 launch kernels/{index,scan,sort}/*.cu; other dtypes, and sort rows longer than
    # SORT_MAX, run the family's ref.py on CuPy.
    def gather_lines(self, out, x, index, dim):
        from fastnn.kernels.index import ref

        if x.dtype not in _FLOATS:
            return ref.gather(out, x, index, xp=self.xp)
        self.launch("gather" + _SUFFIX[x.dtype], *grid1d(out.size), out, x, index, *x.shape, index.shape[1])

    def scatter_add_lines(self, out, index, src, dim):
        from fastnn.kernels.index import ref

        if out.dtype not in _FLOATS:
            return ref.scatter_add(out, index, src, xp=self.xp)
        self.launch("scatter_add" + _SUFFIX[out.dtype], *grid1d(src.size), out, index, src, *out.shape,
                    index.shape[1])

    def scan_lines(self, op, out, x):
        from fastnn.kernels.scan import ref

        A, N, B = x.shape
        if x.dtype not in _FLOATS:
            getattr(ref, op)(out, x, xp=self.xp)
        elif B > 1:
            self.launch(op + "_lines" + _SUFFIX[x.dtype], *grid1d(A * B), out, x, A, N, B)
        else:  # one warp per row
            self.launch(op + "_rows" + _SUFFIX[x.dtype], *grid1d(A * 32), out, x, A, N)

    def cumprod_backward_lines(self, dx, dout, x, out):
        from fastnn.kernels.scan import ref

        if x.dtype not in _FLOATS:
            return ref.cumprod_backward(dx, dout, x, out, xp=self.xp)
        A, N, B = x.shape
        self.launch("cumprod_backward" + _SUFFIX[x.dtype], *grid1d(A * B), dx, dout, x, out, A, N, B)

    def reduce_lines(self, op, out, x):
        A, N, B = x.shape
        if x.dtype != _F32 or _few_long_lines(A * B, N):
            getattr(_ref("reduce"), op + "_lines")(out, x, xp=self.xp)
        elif B > 1:
            self.launch("reduce_lines_f32", *grid1d(A * B), out, x, A, N, B, int(op == "prod"))
        else:  # one warp per row
            self.launch("reduce_rowwarp_f32", *grid1d(A * 32), out, x, A, N, int(op == "prod"))

    def extreme_lines(self, values, indices, x, minimum):
        A, N, B = x.shape
        if x.dtype != _F32 or _few_long_lines(A * B, N):
            _ref("reduce").extreme_lines(values, indices, x, minimum, xp=self.xp)
        elif B > 1:
            self.launch("extreme_lines_f32", *grid1d(A * B), values, indices, x, A, N, B, int(minimum))
        else:  # one warp per row
            self.launch("extreme_rowwarp_f32", *grid1d(A * 32), values, indices, x, A, N, int(minimum))

    def sort_rows(self, values, indices, x, descending):
        from fastnn.kernels.sort import ref

        M, N = x.shape
        if x.dtype not in _FLOATS or N > SORT_MAX:
            return ref.sort(values, indices, x, descending, xp=self.xp)
        P = 1 << max(0, N - 1).bit_length()                      # pairs in shared memory: N rounded up
        self.launch("sort_rows" + _SUFFIX[x.dtype], (min(M, 65535),), (min(256, max(32, P // 2)),),
                    values, indices, x, M, N, values.shape[1], P, int(descending),
                    shared_mem=P * (x.dtype.itemsize + 4))

    topk_rows = sort_rows  # the first K of the sorted row (sort.cu writes only K columns)

    def index_add_rows(self, out, index, src):
        from fastnn.kernels.index import ref

        if out.dtype not in _FLOATS:
            return ref.index_add_rows(out, index, src, xp=self.xp)
        self.launch("index_add_rows" + _SUFFIX[out.dtype], *grid1d(src.size), out, index, src, *out.shape,
                    index.shape[0])

    # ---- optimizers ----------------------------------------------------------------------------
    def optimizer_step(self, name, *args):
        """Run optimizer kernel `name` in place over flat buffers, called exactly like the cpu backend
        (kernels/optim/ref.py signature: ..., grad, step, lr, hyper-parameters). float32 runs optim.cu's
        kernel (step-dependent scalars uploaded into its small `hp` device buffer); other dtypes run
        the NumPy-style reference on CuPy arrays. Names ending in `_tick` launch optim.cu's tick kernels
        with their .cu arguments (used by captured graphs)."""
        if name.endswith("_tick"):
            self.launch(name, (1,), (1,), *args)
            return
        from fastnn.kernels.optim import ref
        from fastnn.kernels.optim.checks import check_update_args

        check_update_args(name, args)
        fn = getattr(ref, name)
        try:
            bound = inspect.signature(fn).bind(*args)
        except TypeError as e:
            raise TypeError(f"optimizer_step('{name}'): arguments do not match kernels/optim/ref.py's "
                            f"{name}{inspect.signature(fn)}: {e}") from None
        bound.apply_defaults()
        kw = bound.arguments
        if kw["param"].dtype != _F32:
            fn(*bound.args)
            return
        self.launch(name, *grid1d(kw["param"].size), *self._optim_cu_args(name, bound.args))

    def _optim_cu_args(self, name, args):
        """optim.cu's arguments (param, *state, grad, hp, n) from the reference's positional ones
        (param, *state, grad, step, *fields): every scalar goes into the device buffer hp, built on the
        host for this one launch (kernels/optim/table.py); empty state buffers become NULL."""
        from fastnn.kernels.optim.table import UPDATES, device_hp

        d = UPDATES[name]
        k = 1 + len(d.args)
        hp = device_hp(d.name, args[k + 1], np.array([float(v) for v in args[k + 2:]]), ticked=False)
        bufs = [None if b is not None and b.size == 0 else b for b in args[1:k]]
        return [args[0], *bufs, args[k], self.cp.asarray(hp), args[0].size]

    # ---- convolution (kernels/conv2d/conv2d.cu; other dtypes run ref.py on CuPy) -----------------
    def _conv_launch(self, name, out, a, b, x_shape, w_shape, dout_shape, stride, padding, dilation, groups):
        (N, C, H, W), (O, _, KH, KW), (OH, OW) = x_shape, w_shape, dout_shape[2:]
        if out.size:
            self.launch(name, *grid1d(out.size), out, self.xp.ascontiguousarray(a), self.xp.ascontiguousarray(b),
                        N, C, H, W, O, KH, KW, OH, OW, stride[0], stride[1], padding[0], padding[1],
                        dilation[0], dilation[1], groups)
        return out

    def conv2d(self, x, w, stride, padding, dilation, groups):
        from fastnn.kernels.conv2d import ref

        if x.dtype != _F32:
            return ref.conv2d_forward(x, w, stride, padding, dilation, groups, xp=self.xp)
        (N, _, H, W), (O, _, KH, KW) = x.shape, w.shape
        shape = (N, O, ref.out_size(H, KH, stride[0], padding[0], dilation[0]),
                 ref.out_size(W, KW, stride[1], padding[1], dilation[1]))
        return self._conv_launch("conv2d_forward", self.xp.empty(shape, _F32), x, w, x.shape, w.shape, shape,
                                 stride, padding, dilation, groups)

    def conv2d_backward_input(self, dout, w, x_shape, stride, padding, dilation, groups):
        from fastnn.kernels.conv2d import ref

        if dout.dtype != _F32:
            return ref.conv2d_backward_input(dout, w, x_shape, stride, padding, dilation, groups, xp=self.xp)
        return self._conv_launch("conv2d_backward_input", self.xp.zeros(x_shape, _F32), dout, w, x_shape, w.shape,
                                 dout.shape, stride, padding, dilation, groups)

    def conv2d_backward_weight(self, dout, x, w_shape, stride, padding, dilation, groups):
        from fastnn.kernels.conv2d import ref

        if dout.dtype != _F32:
            return ref.conv2d_backward_weight(dout, x, w_shape, stride, padding, dilation, groups, xp=self.xp)
        return self._conv_launch("conv2d_backward_weight", self.xp.zeros(w_shape, _F32), dout, x, x.shape, w_shape,
                                 dout.shape, stride, padding, dilation, groups)

    # ---- pooling (kernels/pool2d/pool2d.cu; other dtypes run ref.py on CuPy) --------------------
    def _tables(self, *tables):
        return [self.xp.asarray(np.ascontiguousarray(t)) for t in tables]

    def max_pool2d(self, x, hs, hn, ws, wn, dh, dw, indices=True):
        from fastnn.kernels.pool2d import ref

        if x.dtype != _F32:
            return ref.max_forward(x, hs, hn, ws, wn, dh, dw, xp=self.xp)
        xp, (N, C, H, W) = self.xp, x.shape
        out = xp.empty((N, C, hs.size, ws.size), _F32)
        idx = xp.empty(out.shape, np.int64)
        if out.size:
            self.launch("max_pool_forward", *grid1d(out.size), out, idx, xp.ascontiguousarray(x),
                        *self._tables(hs, hn, ws, wn), N * C, H, W, hs.size, ws.size, dh, dw)
        return out, idx

    def max_pool2d_backward(self, dout, idx, x_shape, hs, hn, ws, wn, dh, dw, x=None):
        from fastnn.kernels.pool2d import ref

        if dout.dtype != _F32:
            return ref.max_backward(dout, idx, x_shape, hn, wn, xp=self.xp)
        (N, C, H, W), dx = x_shape, self.xp.zeros(x_shape, _F32)
        if dx.size and dout.size:
            self.launch("max_pool_backward", *grid1d(dx.size), dx, self.xp.ascontiguousarray(dout), idx,
                        *self._tables(hs, hn, ws, wn), N * C, H, W, hs.size, ws.size, dh, dw)
        return dx

    def avg_pool2d(self, x, hs, hn, ws, wn, div):
        from fastnn.kernels.pool2d import ref

        if x.dtype != _F32:
            return ref.avg_forward(x, hs, hn, ws, wn, div, xp=self.xp)
        xp, (N, C, H, W) = self.xp, x.shape
        out = xp.empty((N, C, hs.size, ws.size), _F32)
        if out.size:
            self.launch("avg_pool_forward", *grid1d(out.size), out, xp.ascontiguousarray(x),
                        *self._tables(hs, hn, ws, wn, div), N * C, H, W, hs.size, ws.size)
        return out

    def avg_pool2d_backward(self, dout, x_shape, hs, hn, ws, wn, div):
        from fastnn.kernels.pool2d import ref

        if dout.dtype != _F32:
            return ref.avg_backward(dout, x_shape, hs, hn, ws, wn, div, xp=self.xp)
        (N, C, H, W), dx = x_shape, self.xp.zeros(x_shape, _F32)
        if dx.size and dout.size:
            self.launch("avg_pool_backward", *grid1d(dx.size), dx, self.xp.ascontiguousarray(dout),
                        *self._tables(hs, hn, ws, wn, div), N * C, H, W, hs.size, ws.size)
        return dx

    # ---- batch normalisation (kernels/batchnorm/batchnorm.cu; other dtypes run ref.py on CuPy) ------
    def batch_norm(self, x, weight, bias, eps, running_mean=None, running_var=None):
        xp = self.xp
        x3, (w, b), training = bn_view(xp, x), bn_channels(xp, x, weight, bias), running_mean is None
        out, mean, invstd, var = xp.empty_like(x3), *(xp.empty(x.shape[1], x.dtype) for _ in range(3))
        rm, rv = (None, None) if training else bn_channels(xp, x, running_mean, running_var)
        N, C, L = x3.shape
        if x.dtype != _F32:
            _ref("batchnorm").batch_norm_forward(out, mean, invstd, var, x3, w, b, rm, rv, eps, training, xp=xp)
        elif C:
            self.launch("batch_norm_forward", (min(C, 65535),), (row_block(N * L),), out, mean, invstd, var, x3,
                        w, b, rm, rv, N, C, L, eps, int(training))
        return out.reshape(x.shape), mean, invstd, var

    def batch_norm_backward(self, dout, x, weight, mean, invstd, training):
        xp = self.xp
        x3, (w, _, mean, invstd) = bn_view(xp, x), bn_channels(xp, x, weight, None, mean, invstd)
        dout3 = bn_view(xp, xp.asarray(dout, x.dtype))
        dx, dweight, dbias = xp.empty_like(x3), xp.empty(x.shape[1], x.dtype), xp.empty(x.shape[1], x.dtype)
        N, C, L = x3.shape
        if x.dtype != _F32:
            _ref("batchnorm").batch_norm_backward(dx, dweight, dbias, dout3, x3, w, mean, invstd, training, xp=xp)
        elif C:
            self.launch("batch_norm_backward", (min(C, 65535),), (row_block(N * L),), dx, dweight, dbias, dout3,
                        x3, w, mean, invstd, N, C, L, int(training))
        return (dx.reshape(x.shape),) + ((None, None) if weight is None else (dweight, dbias))

    @property
    def fused_mlp_features(self):
        from .cuda_fused import FEATURES

        return FEATURES

    def fused_mlp(self, spec):
        """The whole-MLP training step as a CUDA graph (fastnn/backends/cuda_fused.py); with a process
        group, the gradient's NCCL allreduce is captured into it (cuda_fused_dp.py)."""
        if spec.process_group is not None:
            from .cuda_fused_dp import CUDAFusedMLPDataParallel

            return CUDAFusedMLPDataParallel(self, spec)
        from .cuda_fused import CUDAFusedMLP

        return CUDAFusedMLP(self, spec)


# ---- helpers ----------------------------------------------------------------------------------
def _import_cupy():
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError("device 'cuda' needs CuPy, which is not installed: install fastnn[gpu] "
                           "(pip install 'fastnn[gpu]', i.e. cupy-cuda12x and nvidia-cuda-nvrtc-cu12)") from e
    try:
        ok = cupy.is_available()
    except Exception:  # noqa: BLE001 — a broken driver install is "unavailable" too
        ok = False
    if not ok:
        raise RuntimeError("device 'cuda' is unavailable: CuPy found no usable CUDA GPU "
                           "(cupy.is_available() is False); use device='cpu'")
    return cupy


def _check_2d(op, a, b):
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"{op} expects 2-D arrays, got shapes {tuple(a.shape)} ({a.dtype}) and "
                           f"{tuple(b.shape)} ({b.dtype})")


def _c_or_t(xp, a):
    """(float32 array, transposed): a C-contiguous array whose transpose (last 2 axes) is a, or a copy."""
    a = a.astype(_F32, copy=False)
    if a.flags.c_contiguous:
        return a, False
    t = a.swapaxes(-1, -2)
    if t.flags.c_contiguous:
        return t, True
    return xp.ascontiguousarray(a), False


def _rows(op, x):
    """x (..., N) as a 2-D view of rows (M, N)."""
    if x.ndim == 0:
        raise RuntimeError(f"{op} expects an array of rows (..., N), got a 0-d array ({x.dtype})")
    return x.reshape(int(np.prod(x.shape[:-1])), x.shape[-1])


def _few_long_lines(lines, n):
    """True when a reduction has too few lines to fill a GPU with a thread (or warp) per line, each long
    (x.sum() of a big tensor would be one warp): CuPy's own (CUB) reductions in ref.py take it. A
    reasoned threshold, not measured (no GPU here)."""
    return lines < 1024 and n >= 8192


def _ref(family):
    """kernels/<family>/ref.py: the NumPy reference, run on CuPy arrays for dtypes the .cu does not cover."""
    return importlib.import_module(f"fastnn.kernels.{family}.ref")
