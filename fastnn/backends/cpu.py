"""The cpu backend: NumPy arrays, Numba kernels from fastnn.kernels (outputs-first), one table.

GEMM: our register-tiled Numba kernel (kernels/gemm) or OpenBLAS through NumPy, chosen like the cuda
backend chooses between our SGEMM and cuBLAS: `FASTNN_CPU_GEMM=auto|blas|fastnn` (or the
`gemm_impl` attribute). `auto` takes OpenBLAS for float32/float64 on one thread, and our kernel for
integer types (NumPy has no integer BLAS) and for every GEMM on more threads (`_use_blas`: one
thread pool). Against OpenBLAS's own AVX-512 kernels our GEMM runs 0.9-1.6x at the MNIST layer-1
shapes and 0.7-0.8x at the tiny 64x10 ones (bench/bench_kernels.py); one-thread eager training
measured the same with either (within 5%). Inside `shared_thread_pool()` floats take our kernel too.
bmm of small matrices (every dim <= SMALL_BMM) takes our batched kernel under `auto`: ~3x np.matmul
at (256,5,6)@(256,6,7), where NumPy pays a BLAS call per matrix. The fused MLP kernels
(kernels/fused_mlp) always use our GEMM.
"""
import contextlib
import os

import numpy as np

from . import cpu_fused, cpu_fused_cnn
from .base import Backend, bn_channels, bn_view, raise_bad_indices
from .cpu_memory import retain_freed_memory

SMALL_BMM = 16  # bmm with every matrix dim <= this uses kernels/bmm under FASTNN_CPU_GEMM=auto

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _c_or_t(a):
    """(array, transposed): a C-contiguous array whose transpose (last two axes) is a, or a copy."""
    if a.flags.c_contiguous:
        return a, False
    t = np.swapaxes(a, -1, -2)
    if t.flags.c_contiguous:
        return t, True
    return np.ascontiguousarray(a), False


def _gemm_dtype(dt):
    """The kernel dtype a GEMM runs in: float32/float64 as is, every integer type as int64."""
    if dt in _FLOATS or dt == np.int64:
        return dt
    if np.issubdtype(dt, np.integer) or dt == np.bool_:
        return np.dtype(np.int64)
    raise TypeError(f"matmul is not implemented for dtype {dt}")

EXTREME_ROWS_NUMPY_SIZE = 1 << 14   # max/min with the dim last: NumPy from this many elements on


class CPUBackend(Backend):
    name = "cpu"
    xp = np

    def __init__(self):
        from fastnn.kernels.activation import cpu as act
        from fastnn.kernels.bmm import cpu as bmm
        from fastnn.kernels.gemm import cpu as gemm
        from fastnn.kernels.reduce import cpu as reduce
        from fastnn.kernels.softmax import cpu as softmax
        from fastnn.kernels.xent import cpu as xent

        retain_freed_memory()   # no page faults on each step's fresh arrays (cpu_memory.py)
        self.k_gemm, self.k_bmm, self.k_act = gemm, bmm, act
        self.k_softmax, self.k_xent, self.k_reduce = softmax, xent, reduce
        self.rng = np.random.default_rng()
        self.gemm_impl = os.environ.get("FASTNN_CPU_GEMM", "auto")
        if self.gemm_impl not in ("auto", "blas", "fastnn"):
            raise ValueError(f"FASTNN_CPU_GEMM must be auto, blas or fastnn, got {self.gemm_impl!r}")

    @contextlib.contextmanager
    def shared_thread_pool(self):
        """Within the block float GEMMs run on our kernel, i.e. on Numba's threads, the fused kernels'
        pool, instead of OpenBLAS's. OpenBLAS workers spin for ~2^28 cycles after each call; on 2
        cores they then take a core from the next fused epoch's Numba thread (measured: the epoch after
        an OpenBLAS evaluation ran 0.20 s instead of 0.14 s at batch 64)."""
        old, self.gemm_impl = self.gemm_impl, "fastnn"
        try:
            yield
        finally:
            self.gemm_impl = old

    def _use_blas(self, dtype):
        """OpenBLAS under `auto` only for floats on one thread: with more, our GEMM runs in Numba's pool,
        the one every other kernel uses. Two pools of n spinning threads on n cores take turns: the
        LeNet-5 eager step at batch 64 on 2 threads ran 11.3 ms (OpenBLAS) against 4.9 ms (ours), one
        thread 6.5 against 6.4 (bench/cnn_step_cpu.py, wall, alternating, 2-core AVX-512 host)."""
        if self.gemm_impl != "auto":
            return self.gemm_impl == "blas"
        from numba import get_num_threads

        return dtype in _FLOATS and get_num_threads() == 1

    def owns(self, a):
        return type(a) is np.ndarray

    # ---- data movement -------------------------------------------------------------------------
    def asarray(self, a, dtype=None):
        return np.asarray(a, dtype=dtype)

    def to_numpy(self, a):
        return a

    # ---- random --------------------------------------------------------------------------------
    def manual_seed(self, seed):
        self.rng = np.random.default_rng(seed)

    def rand(self, shape, dtype):
        return self.rng.random(shape, dtype=np.dtype(dtype))

    def randn(self, shape, dtype):
        return self.rng.standard_normal(shape, dtype=np.dtype(dtype))

    # ---- GEMM ----------------------------------------------------------------------------------
    def matmul(self, a, b, trans_a=False, trans_b=False):
        """out (M,N) = op(a) @ op(b); transposed views are passed to the nt/tn kernels, not copied."""
        kdt = _gemm_dtype(np.result_type(a.dtype, b.dtype))
        if self._use_blas(kdt) and not (self.gemm_impl == "auto" and max(a.shape[1:] + b.shape[1:]) <= SMALL_BMM):
            return np.matmul(a.T if trans_a else a, b.T if trans_b else b).astype(kdt, copy=False)
        a, ta = _c_or_t(a.astype(kdt, copy=False))
        b, tb = _c_or_t(b.astype(kdt, copy=False))
        ta, tb = ta != trans_a, tb != trans_b
        M = a.shape[1] if ta else a.shape[0]
        N = b.shape[0] if tb else b.shape[1]
        out = np.empty((M, N), dtype=kdt)
        if ta and tb:  # a.T @ b.T = (b @ a).T
            return np.ascontiguousarray(self.matmul(b, a).T)
        if ta:
            self.k_gemm.matmul_tn(out, a, b)
        elif tb:
            self.k_gemm.matmul_nt(out, a, b)
        else:
            self.k_gemm.matmul(out, a, b)
        return out

    def bmm(self, a, b, trans_a=False, trans_b=False):
        """out (B,M,N) = op(a) (B,M,K) @ op(b) (B,K,N)."""
        kdt = _gemm_dtype(np.result_type(a.dtype, b.dtype))
        if self._use_blas(kdt) and not (self.gemm_impl == "auto" and max(a.shape[1:] + b.shape[1:]) <= SMALL_BMM):
            return np.matmul(np.swapaxes(a, 1, 2) if trans_a else a,
                             np.swapaxes(b, 1, 2) if trans_b else b).astype(kdt, copy=False)
        a, ta = _c_or_t(a.astype(kdt, copy=False))
        b, tb = _c_or_t(b.astype(kdt, copy=False))
        ta, tb = ta != trans_a, tb != trans_b
        if ta and tb:
            return np.ascontiguousarray(np.swapaxes(self.bmm(b, a), 1, 2))
        M = a.shape[2] if ta else a.shape[1]
        N = b.shape[1] if tb else b.shape[2]
        out = np.empty((a.shape[0], M, N), dtype=kdt)
        if ta:
            self.k_bmm.bmm_tn(out, a, b)
        elif tb:
            self.k_bmm.bmm_nt(out, a, b)
        else:
            self.k_bmm.bmm(out, a, b)
        return out

    # ---- activations ---------------------------------------------------------------------------
    def activation(self, x, act):
        x = np.ascontiguousarray(x)
        out = np.empty_like(x)
        getattr(self.k_act, act)(out, x)
        return out

    def activation_backward(self, dout, out, act):
        dout = np.ascontiguousarray(dout, dtype=out.dtype)
        dx = np.empty_like(out)
        getattr(self.k_act, act + "_backward")(dx, dout, np.ascontiguousarray(out))
        return dx

    # ---- softmax and cross-entropy (2-D, last axis) --------------------------------------------
    def softmax(self, x, log=False):
        x = np.ascontiguousarray(x)
        out = np.empty_like(x)
        (self.k_softmax.log_softmax if log else self.k_softmax.softmax)(out, x)
        return out

    def softmax_backward(self, dout, out, log=False):
        dout = np.ascontiguousarray(dout, dtype=out.dtype)
        dx = np.empty_like(out)
        k = self.k_softmax.log_softmax_backward if log else self.k_softmax.softmax_backward
        k(dx, dout, np.ascontiguousarray(out))
        return dx

    def cross_entropy(self, logits, target):
        logits = np.ascontiguousarray(logits)
        loss_rows = np.empty(logits.shape[0], dtype=logits.dtype)
        probs = np.empty_like(logits)
        self.k_xent.cross_entropy_forward(loss_rows, probs, logits, np.ascontiguousarray(target, np.int64))
        return loss_rows, probs

    def cross_entropy_backward(self, dloss_rows, probs, target):
        probs = np.ascontiguousarray(probs)
        dlogits = np.empty_like(probs)
        dloss_rows = np.ascontiguousarray(dloss_rows, dtype=probs.dtype)
        self.k_xent.cross_entropy_backward(dlogits, dloss_rows, probs, np.ascontiguousarray(target, np.int64))
        return dlogits

    def sum_rows(self, x):
        x = np.ascontiguousarray(x)
        out = np.empty(x.shape[1], dtype=x.dtype)
        self.k_reduce.sum_rows(out, x)
        return out

    def index_add_at(self, out, index, src):
        np.add.at(out, index, src)
        return out

    def index_add_rows(self, out, index, src):
        from fastnn.kernels.index import cpu, ref

        if out.dtype not in _FLOATS:
            return ref.index_add_rows(out, index, src)
        raise_bad_indices("index_add", cpu.index_add_rows(out, index, src), 0, out.shape[0])

    # ---- indexing, scans, sorting along a dim: kernel entries (base.py makes the views) ------------
    # float32/float64 run kernels/{index,scan,sort,reduce}/cpu.py; other dtypes their ref.py.
    def gather_lines(self, out, x, index, dim):
        from fastnn.kernels.index import cpu, ref

        if x.dtype not in _FLOATS:
            return ref.gather(out, x, index)
        raise_bad_indices("gather", cpu.gather(out, x, index), dim, x.shape[1])

    def scatter_add_lines(self, out, index, src, dim):
        from fastnn.kernels.index import cpu, ref

        if out.dtype not in _FLOATS:
            return ref.scatter_add(out, index, src)
        raise_bad_indices("scatter_add", cpu.scatter_add(out, index, src), dim, out.shape[1])

    def scan_lines(self, op, out, x):
        from fastnn.kernels.scan import cpu, ref

        getattr(cpu if x.dtype in _FLOATS else ref, op)(out, x)

    def cumprod_backward_lines(self, dx, dout, x, out):
        from fastnn.kernels.scan import cpu, ref

        (cpu if x.dtype in _FLOATS else ref).cumprod_backward(dx, dout, x, out)

    def reduce_lines(self, op, out, x):
        if x.dtype not in _FLOATS:
            from fastnn.kernels.reduce import ref

            return getattr(ref, op + "_lines")(out, x)
        self.k_reduce.reduce_lines(out, x, op == "prod")

    def extreme_lines(self, values, indices, x, minimum):
        # dim last (B == 1) on large inputs: NumPy's SIMD argmax (ref.py) beats the scalar Numba row loop,
        # 0.10 vs 0.76 ms at (1024, 1000) float32 (bench/along_dim.py), but costs ~10 us more per call
        # (take_along_axis), so small inputs (an MLP's logits) run the kernel
        if x.dtype in _FLOATS and (x.shape[2] > 1 or x.size < EXTREME_ROWS_NUMPY_SIZE):
            return self.k_reduce.extreme_lines(values, indices, x, minimum)
        from fastnn.kernels.reduce import ref

        ref.extreme_lines(values, indices, x, minimum)

    def sort_rows(self, values, indices, x, descending):
        from fastnn.kernels.sort import cpu, ref

        (cpu if x.dtype in _FLOATS else ref).sort(values, indices, x, descending)

    def topk_rows(self, values, indices, x, largest):
        from fastnn.kernels.sort import cpu, ref

        (cpu if x.dtype in _FLOATS else ref).topk(values, indices, x, largest)

    # ---- optimizers ----------------------------------------------------------------------------
    def optimizer_step(self, name, *args):
        from fastnn.kernels.fpenv import flush_denormals
        from fastnn.kernels.optim import cpu as optim
        from fastnn.kernels.optim.checks import check_update_args

        check_update_args(name, args)
        with flush_denormals():  # decaying state would otherwise crawl through slow subnormals
            getattr(optim, name)(*args)

    # ---- fused training ------------------------------------------------------------------------
    fused_mlp_features = cpu_fused.FEATURES

    def fused_mlp(self, spec):
        """The whole-MLP training step/epoch in one Numba call (fastnn/backends/cpu_fused.py); with a
        process group, one compiled step per batch around a gradient allreduce (cpu_fused_dp.py)."""
        if spec.process_group is not None:
            from .cpu_fused_dp import CPUFusedMLPDataParallel

            return CPUFusedMLPDataParallel(spec)
        return cpu_fused.CPUFusedMLP(spec)

    fused_cnn_features = cpu_fused_cnn.FEATURES

    def fused_cnn(self, spec):
        """The whole-CNN training step/epoch in one Numba call (fastnn/backends/cpu_fused_cnn.py)."""
        return cpu_fused_cnn.CPUFusedCNN(spec)

    # ---- convolution ---------------------------------------------------------------------------
    def _conv_args(self, w_shape, stride, padding, dilation, groups):
        i64 = np.int64
        return (i64(w_shape[2]), i64(w_shape[3]), i64(stride[0]), i64(stride[1]), i64(padding[0]),
                i64(padding[1]), i64(dilation[0]), i64(dilation[1]), i64(groups))

    @staticmethod
    def _conv_threads(N):
        """Threads of the conv drivers for N images: at most one per image."""
        from numba import get_num_threads

        return max(1, min(get_num_threads(), N))

    def _conv_work(self, N, C, w_shape, out_hw, groups, dtype):
        """(T, work_size) scratch of the conv drivers, one row per thread (T = _conv_threads(N))."""
        from fastnn.kernels.conv2d import cpu as conv

        return np.empty((self._conv_threads(N), conv.work_size(C, w_shape[0], w_shape[2], w_shape[3], *out_hw,
                                                                 groups)), dtype)

    def conv2d(self, x, w, stride, padding, dilation, groups):
        from fastnn.kernels.conv2d import cpu as conv
        from fastnn.kernels.conv2d.ref import out_size

        x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
        (N, C, H, W), (O, _, KH, KW) = x.shape, w.shape
        out = np.empty((N, O, out_size(H, KH, stride[0], padding[0], dilation[0]),
                        out_size(W, KW, stride[1], padding[1], dilation[1])), x.dtype)
        if out.size:
            conv.conv2d_forward(out, x, w.reshape(O, -1), *self._conv_args(w.shape, stride, padding, dilation,
                                                                           groups),
                                self._conv_work(N, C, w.shape, out.shape[2:], groups, x.dtype))
        elif N:
            out[...] = 0
        return out

    def conv2d_backward_input(self, dout, w, x_shape, stride, padding, dilation, groups):
        from fastnn.kernels.conv2d import cpu as conv

        dout, w = np.ascontiguousarray(dout), np.ascontiguousarray(w)
        dx = np.empty(x_shape, dout.dtype)
        if not dout.size:
            dx[...] = 0
        elif dx.size:                                   # the kernel overwrites dx
            conv.conv2d_backward_input(dx, dout, w.reshape(w.shape[0], -1),
                                       *self._conv_args(w.shape, stride, padding, dilation, groups),
                                       self._conv_work(dx.shape[0], dx.shape[1], w.shape, dout.shape[2:], groups,
                                                       dx.dtype))
        return dx

    def conv2d_backward_weight(self, dout, x, w_shape, stride, padding, dilation, groups):
        from fastnn.kernels.conv2d import cpu as conv

        dout, x = np.ascontiguousarray(dout), np.ascontiguousarray(x)
        dw = np.zeros((w_shape[0], int(np.prod(w_shape[1:]))), dout.dtype)
        if dout.size and x.size and dw.size:
            work = self._conv_work(x.shape[0], x.shape[1], w_shape, dout.shape[2:], groups, x.dtype)
            partial = np.zeros((work.shape[0], dw.size), dout.dtype)
            conv.conv2d_backward_weight(dw, partial, dout, x, *self._conv_args(w_shape, stride, padding, dilation,
                                                                                groups), work)
        return dw.reshape(w_shape)

    def _lanes_family(self, C, w_shape, out_hw, stride, dilation, groups):
        """True where conv2d/cpu.py's drivers run the lane-layout family (kernels/conv2d/lanes.py), which
        they then do for all three kernels (Winograd, where it runs, takes them all)."""
        from fastnn.kernels.conv2d import cpu as conv

        O, Cg, KH, KW = w_shape
        return conv._family(Cg, O // groups, KH, KW, *stride, *dilation, 0, groups, *out_hw) == "lanes"

    def conv2d_biased(self, x, w, bias, stride, padding, dilation, groups):
        from fastnn.kernels.conv2d import lanes
        from fastnn.kernels.conv2d.ref import out_size

        (N, C, H, W), (O, _, KH, KW) = x.shape, w.shape
        out_hw = (out_size(H, KH, stride[0], padding[0], dilation[0]), out_size(W, KW, stride[1], padding[1],
                                                                                  dilation[1]))
        if bias is None or N == 0 or not self._lanes_family(C, w.shape, out_hw, stride, dilation, groups):
            return super().conv2d_biased(x, w, bias, stride, padding, dilation, groups)
        x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)     # lanes: the bias added in the kernel
        out = np.empty((N, O) + out_hw, x.dtype)
        lanes.forward_images(out, x, w.reshape(O, -1), np.ascontiguousarray(bias, x.dtype),
                             *self._conv_args(w.shape, stride, padding, dilation, groups)[:-1],
                             np.int64(self._conv_threads(N)))
        return out

    def conv2d_backward(self, dout, x, w, stride, padding, dilation, groups, needs):
        from fastnn.kernels.conv2d import lanes

        if not (dout.size and x.size and self._lanes_family(x.shape[1], w.shape, dout.shape[2:], stride, dilation,
                                                            groups)):
            return super().conv2d_backward(dout, x, w, stride, padding, dilation, groups, needs)
        dout, x, w = np.ascontiguousarray(dout), np.ascontiguousarray(x), np.ascontiguousarray(w)
        w2 = w.reshape(w.shape[0], -1)       # lanes: one pass over each chunk's dout for all three
        dx = np.empty(x.shape if needs[0] else (0,) + x.shape[1:], dout.dtype)
        dw2 = np.empty(w2.shape if needs[1] else (0, w2.shape[1]), dout.dtype)
        db = np.empty(w.shape[0] if needs[2] else 0, dout.dtype)
        partial = np.zeros((self._conv_threads(x.shape[0]), dw2.size + db.size), dout.dtype)
        lanes.backward_images(dx, dw2, db, partial, dout, x, w2,
                              *self._conv_args(w.shape, stride, padding, dilation, groups)[:-1])
        return dx if needs[0] else None, dw2.reshape(w.shape) if needs[1] else None, db if needs[2] else None

    def conv2d_bias_(self, out, bias):
        from fastnn.kernels.conv2d import bias as kb
        from numba import get_num_threads

        if not out.flags.c_contiguous:       # the kernel runs on a flat view: in place needs C order
            return super().conv2d_bias_(out, bias)
        if out.size:
            kb.bias_forward_(out, np.ascontiguousarray(bias, out.dtype), np.int64(max(1, min(get_num_threads(),
                                                                                              out.shape[0]))))
        return out

    def conv2d_backward_bias(self, dout):
        from fastnn.kernels.conv2d import bias as kb
        from numba import get_num_threads

        dout = np.ascontiguousarray(dout)
        db = np.zeros(dout.shape[1], dout.dtype)
        if dout.size:
            T = max(1, min(get_num_threads(), dout.shape[0]))
            kb.bias_backward_drv(db, np.zeros((T, db.size), dout.dtype), dout)
        return db

    # ---- pooling -------------------------------------------------------------------------------
    @staticmethod
    def _plane_threads(a):
        """Threads for a kernel over the N*C planes of a (N,C,H,W): at most one per plane."""
        from numba import get_num_threads

        return max(1, min(get_num_threads(), a.shape[0] * a.shape[1]))

    def max_pool2d(self, x, hs, hn, ws, wn, dh, dw, indices=True):
        from fastnn.kernels.pool2d import cpu as pool
        from fastnn.kernels.pool2d import max2x2

        x = np.ascontiguousarray(x)
        out = np.empty(x.shape[:2] + (hs.size, ws.size), x.dtype)
        if not indices and max2x2.usable(x.shape[2], x.shape[3], hs, hn, ws, wn, dh, dw):
            if out.size:       # no indices: the backward replays the windows' scans on x
                max2x2.forward_planes(out.reshape((-1,) + out.shape[2:]), x.reshape((-1,) + x.shape[2:]),
                                      np.int64(self._plane_threads(out)))
            return out, None
        idx = np.empty(out.shape, np.int64)
        if out.size:
            pool.max_forward(out, idx, x, hs, hn, ws, wn, np.int64(dh), np.int64(dw))
        return out, idx

    def max_pool2d_backward(self, dout, idx, x_shape, hs, hn, ws, wn, dh, dw, x=None):
        from fastnn.kernels.pool2d import cpu as pool
        from fastnn.kernels.pool2d import max2x2

        dx = np.empty(x_shape, dout.dtype)
        if idx is None:                                 # max2x2's forward ran: its scans replayed on x
            if dx.size:
                max2x2.backward_planes(dx.reshape((-1,) + dx.shape[2:]),
                                       np.ascontiguousarray(dout).reshape((-1,) + dout.shape[2:]),
                                       np.ascontiguousarray(x).reshape((-1,) + dx.shape[2:]),
                                       np.int64(self._plane_threads(dx)))
            return dx
        if dout.size:                                   # the kernel overwrites dx
            pool.max_backward(dx, np.ascontiguousarray(dout), idx, hn, wn)
        else:
            dx[...] = 0
        return dx

    def avg_pool2d(self, x, hs, hn, ws, wn, div):
        from fastnn.kernels.pool2d import cpu as pool

        x = np.ascontiguousarray(x)
        out = np.empty(x.shape[:2] + (hs.size, ws.size), x.dtype)
        if out.size:
            pool.avg_forward(out, x, hs, hn, ws, wn, div)
        return out

    def avg_pool2d_backward(self, dout, x_shape, hs, hn, ws, wn, div):
        from fastnn.kernels.pool2d import cpu as pool

        dx = np.zeros(x_shape, dout.dtype)
        if dout.size:
            pool.avg_backward(dx, np.ascontiguousarray(dout), hs, hn, ws, wn, div)
        return dx

    # ---- batch normalisation (kernels/batchnorm) -----------------------------------------------
    def batch_norm(self, x, weight, bias, eps, running_mean=None, running_var=None):
        from fastnn.kernels.batchnorm import cpu as bn

        x3, (w, b), training = bn_view(np, x), bn_channels(np, x, weight, bias), running_mean is None
        out, mean, invstd, var = np.empty_like(x3), *(np.empty(x.shape[1], x.dtype) for _ in range(3))
        rm, rv = (mean, var) if training else bn_channels(np, x, running_mean, running_var)
        bn.batch_norm_forward(out, mean, invstd, var, x3, w, b, rm, rv, eps, training)
        return out.reshape(x.shape), mean, invstd, var

    def batch_norm_backward(self, dout, x, weight, mean, invstd, training):
        from fastnn.kernels.batchnorm import cpu as bn

        x3, (w, _, mean, invstd) = bn_view(np, x), bn_channels(np, x, weight, None, mean, invstd)
        dout3 = bn_view(np, np.asarray(dout, x.dtype))
        dx, dweight, dbias = np.empty_like(x3), np.empty(x.shape[1], x.dtype), np.empty(x.shape[1], x.dtype)
        bn.batch_norm_backward(dx, dweight, dbias, dout3, x3, w, mean, invstd, training)
        return (dx.reshape(x.shape),) + ((None, None) if weight is None else (dweight, dbias))
