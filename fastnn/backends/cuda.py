"""The cuda backend: CuPy arrays, CUDA C kernels from kernels/*/*.cu via cupy.RawModule, one table.

float32 work runs our kernels; other dtypes (float64, integers) fall back to CuPy's own routines.
GEMM: `backend.gemm_impl` ('auto' | 'cublas' | 'fastnn', default from FASTNN_CUDA_GEMM) picks cuBLAS
(cupy.matmul) or our sgemm per call. `backend.stats` counts kernel launches, graph launches and
host syncs (cheap integer increments in the launch wrapper / copies).
"""
import inspect
import os
import re
from pathlib import Path

import numpy as np

from fastnn.kernels.activation.codes import act_code as _act_code

from .base import Backend

_F32 = np.dtype(np.float32)
_GEMM_IMPLS = ("auto", "cublas", "fastnn")
_AUTO_FASTNN_MAX_WORK = 1 << 21   # auto: our sgemm when M*N*K is at most this (launch-bound sizes)
_CTYPES = {"float": np.float32, "double": np.float64, "int": np.int32, "unsigned int": np.uint32,
           "long long": np.int64, "unsigned long long": np.uint64, "unsigned char": np.uint8,
           "char": np.int8, "bool": np.bool_, "void": None}


class CUDAStats:
    """Counters the backend maintains: kernel launches, CUDA-graph captures and launches, host syncs."""

    __slots__ = ("kernel_launches", "graph_captures", "graph_launches", "host_syncs")

    def __init__(self):
        self.reset()

    def reset(self):
        self.kernel_launches = self.graph_captures = self.graph_launches = self.host_syncs = 0

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    snapshot = as_dict

    def __repr__(self):
        return f"CUDAStats({self.snapshot()})"


# ---- kernel sources and signatures --------------------------------------------------------------
_KERNEL_RE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\s*\([^()]*\)\s*)?'
                        r"([A-Za-z_]\w*)\s*\(([^)]*)\)", re.S)


def _strip_comments(src):
    return re.sub(r"//[^\n]*|/\*.*?\*/", " ", src, flags=re.S)


def parse_signatures(src):
    """{kernel: [(param name, numpy dtype or None, is_pointer)]} of every extern "C" kernel in src."""
    sigs = {}
    for m in _KERNEL_RE.finditer(_strip_comments(src)):
        params = []
        for decl in (p.strip() for p in m.group(2).split(",") if p.strip()):
            ptr = "*" in decl
            words = [w for w in decl.replace("*", " ").split() if w not in ("const", "__restrict__")]
            base = " ".join(words[:-1])
            if base not in _CTYPES:
                raise TypeError(f"kernel {m.group(1)}: unsupported parameter type in '{decl}'")
            dt = _CTYPES[base]
            params.append((words[-1], None if dt is None else np.dtype(dt), ptr))
        sigs[m.group(1)] = params
    return sigs


def _cu_files():
    from fastnn.kernels import cuda_build

    return {p.parent.name: p for p in cuda_build.CU_FILES}


def _grid1d(n, block=256, max_blocks=4096):
    return (max(1, min((int(n) + block - 1) // block, max_blocks)),), (block,)


def _row_block(n_cols):
    """Threads per row-kernel block: a multiple of 32 covering the row, at most 256."""
    return min(256, max(32, (int(n_cols) + 31) // 32 * 32))


class _Modules:
    """RawModules compiled once per process per .cu file (per CuPy module: real or stand-in)."""

    _cache = {}

    def __init__(self, cp):
        from fastnn.kernels.cuda_build import RAWMODULE_OPTIONS

        self.cp, self.options = cp, tuple(RAWMODULE_OPTIONS)
        self.files = _cu_files()
        self.sigs, self.family = {}, {}
        for fam, path in self.files.items():
            for name, params in parse_signatures(path.read_text()).items():
                self.sigs[name], self.family[name] = params, fam
        self._fns = {}

    def module(self, family):
        key = (id(self.cp), family)
        if key not in self._cache:
            path = self.files[family]
            self._cache[key] = self.cp.RawModule(code=path.read_text(), options=self.options)
        return self._cache[key]

    def function(self, name):
        fn = self._fns.get(name)
        if fn is None:
            if name not in self.sigs:
                raise KeyError(f"no CUDA kernel named '{name}' in {sorted(self.files)}")
            fn = self._fns[name] = self.module(self.family[name]).get_function(name)
        return fn


class CUDABackend(Backend):
    name = "cuda"
    _capturing = False  # set by cuda_fused while a CUDA graph is being captured

    def __init__(self, cp=None):
        if cp is None:
            cp = _import_cupy()
        self.cp = self.xp = cp
        self.stats = CUDAStats()
        self.gemm_impl = os.environ.get("FASTNN_CUDA_GEMM", "auto")
        if self.gemm_impl not in _GEMM_IMPLS:
            raise ValueError(f"FASTNN_CUDA_GEMM must be one of {_GEMM_IMPLS}, got {self.gemm_impl!r}")
        self.kernels = _Modules(cp)
        self.rng = cp.random.default_rng()

    # ---- launching -----------------------------------------------------------------------------
    def launch(self, name, grid, block, *args, shared_mem=0):
        """Launch kernel `name` with arguments converted to its exact C parameter types."""
        params = self.kernels.sigs.get(name)
        if params is None:
            raise KeyError(f"no CUDA kernel named '{name}'")
        if len(args) != len(params):
            raise TypeError(f"kernel {name} takes {len(params)} arguments "
                            f"({', '.join(p[0] for p in params)}), got {len(args)}")
        conv = []
        for (pname, dt, ptr), a in zip(params, args):
            if ptr:
                if a is not None and (not isinstance(a, self.cp.ndarray) or (dt is not None and a.dtype != dt)):
                    raise TypeError(f"kernel {name}: argument '{pname}' needs a {dt} device array, got "
                                    f"{type(a).__name__} {getattr(a, 'dtype', '')} {getattr(a, 'shape', '')}")
                if a is not None and not a.flags.c_contiguous:
                    raise ValueError(f"kernel {name}: argument '{pname}' (shape {a.shape}, strides {a.strides}) "
                                     "is not C-contiguous")
                conv.append(a)
            else:
                conv.append(_scalar(a, dt, name, pname))
        self.kernels.function(name)(tuple(grid), tuple(block), tuple(conv), shared_mem=shared_mem)
        if not self._capturing:  # captured launches run (and are counted) as graph launches
            self.stats.kernel_launches += 1

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

    # ---- activations ---------------------------------------------------------------------------
    def activation(self, x, act):
        if x.dtype != _F32:
            return _xp_act(self.xp, x, act)
        x = self.xp.ascontiguousarray(x)
        out = self.xp.empty_like(x)
        if x.size:
            self.launch("act_forward", *_grid1d(x.size), out, x, x.size, _act_code(act))
        return out

    def activation_backward(self, dout, out, act):
        if out.dtype != _F32:
            return dout * _xp_act_grad(self.xp, out, act)
        out = self.xp.ascontiguousarray(out)
        dout = self.xp.ascontiguousarray(self.xp.broadcast_to(dout, out.shape), dtype=_F32)
        dx = self.xp.empty_like(out)
        if out.size:
            self.launch("act_backward", *_grid1d(out.size), dx, dout, out, out.size, _act_code(act))
        return dx

    def bias_act(self, x, b, act):
        if x.dtype != _F32 or (b is not None and b.dtype != _F32):
            y = x if b is None else x + b
            return y if act == "none" else _xp_act(self.xp, y, act)
        x = self.xp.ascontiguousarray(x)
        N = x.shape[-1] if x.ndim else 1
        M = x.size // N if N else 0
        if b is not None:
            b = self.xp.ascontiguousarray(b)
            if b.size != N:
                raise RuntimeError(f"bias_act: bias shape {tuple(b.shape)} does not match x shape {tuple(x.shape)}")
        out = self.xp.empty_like(x)
        if x.size:
            self.launch("bias_act_forward", *_grid1d(x.size), out, x, b, M, N, _act_code(act))
        return out

    # ---- softmax and cross-entropy (2-D, last axis) --------------------------------------------
    def softmax(self, x, log=False):
        """Row-wise (log-)softmax over the last axis (any leading dims are flattened into rows)."""
        if x.dtype != _F32 or x.ndim == 0:
            return _xp_softmax(self.xp, x, log)
        x = self.xp.ascontiguousarray(x)
        out = self.xp.empty_like(x)
        N = x.shape[-1]
        M = x.size // N if N else 0
        if x.size:
            self.launch("log_softmax_forward" if log else "softmax_forward", (min(M, 65535),),
                        (_row_block(N),), out, x, M, N)
        return out

    def softmax_backward(self, dout, out, log=False):
        xp = self.xp
        if out.dtype != _F32 or out.ndim == 0:
            if log:
                return dout - xp.exp(out) * dout.sum(axis=-1, keepdims=True)
            return out * (dout - (dout * out).sum(axis=-1, keepdims=True))
        out = xp.ascontiguousarray(out)
        dout = xp.ascontiguousarray(xp.broadcast_to(dout, out.shape), dtype=_F32)
        dx = xp.empty_like(out)
        N = out.shape[-1]
        M = out.size // N if N else 0
        if out.size:
            self.launch("log_softmax_backward" if log else "softmax_backward", (min(M, 65535),),
                        (_row_block(N),), dx, dout, out, M, N)
        return dx

    def cross_entropy(self, logits, target):
        xp = self.xp
        if logits.ndim != 2 or target.ndim != 1 or target.shape[0] != logits.shape[0]:
            raise RuntimeError(f"cross_entropy expects logits (M,C) and target (M,), got {tuple(logits.shape)} "
                               f"and {tuple(target.shape)}")
        target = xp.ascontiguousarray(target, dtype=np.int64)
        if logits.dtype != _F32:
            return _xp_cross_entropy(xp, logits, target)
        logits = xp.ascontiguousarray(logits)
        M, N = logits.shape
        loss_rows = xp.empty(M, dtype=_F32)
        probs = xp.empty_like(logits)
        if M and N:
            self.launch("cross_entropy_forward", (min(M, 65535),), (_row_block(N),),
                        loss_rows, probs, logits, target, M, N)
        elif M:
            loss_rows[...] = np.nan
        return loss_rows, probs

    def cross_entropy_backward(self, dloss_rows, probs, target):
        xp = self.xp
        target = xp.ascontiguousarray(target, dtype=np.int64)
        M, N = probs.shape
        if probs.dtype != _F32:
            onehot = (xp.arange(N)[None, :] == target[:, None]).astype(probs.dtype)
            return xp.reshape(dloss_rows, (-1, 1)) * (probs - onehot)
        dloss = xp.ascontiguousarray(xp.reshape(dloss_rows, (-1,)), dtype=_F32)
        stride = 0 if dloss.size == 1 else 1
        dlogits = xp.empty_like(probs)
        if probs.size:
            self.launch("cross_entropy_backward", *_grid1d(probs.size), dlogits, xp.ascontiguousarray(probs),
                        target, dloss, stride, M, N, 1.0)
        return dlogits

    def sum_rows(self, x):
        xp = self.xp
        if x.dtype != _F32 or x.ndim != 2:
            return x.sum(axis=0)
        x = xp.ascontiguousarray(x)
        M, N = x.shape
        out = xp.empty(N, dtype=_F32)
        if N:
            self.launch("sum_rows", ((N + 31) // 32,), (32, 8), out, x, M, N, 0)
        return out

    def index_add(self, out, index, src):
        xp = self.xp
        if hasattr(xp, "add") and hasattr(xp.add, "at"):
            xp.add.at(out, index, src)
        else:  # older CuPy
            import cupyx

            cupyx.scatter_add(out, index, src)
        return out

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

        from fastnn.kernels.optim.table import UPDATES

        fn = getattr(ref, name, None)
        if fn is None or name not in self.kernels.sigs or name not in UPDATES:
            raise KeyError(f"unknown optimizer kernel '{name}' (kernels/optim: {', '.join(sorted(UPDATES))})")
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
        self.launch(name, *_grid1d(kw["param"].size), *self._optim_cu_args(name, bound.args))

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
            self.launch(name, *_grid1d(out.size), out, self.xp.ascontiguousarray(a), self.xp.ascontiguousarray(b),
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

    def max_pool2d(self, x, hs, hn, ws, wn, dh, dw):
        from fastnn.kernels.pool2d import ref

        if x.dtype != _F32:
            return ref.max_forward(x, hs, hn, ws, wn, dh, dw, xp=self.xp)
        xp, (N, C, H, W) = self.xp, x.shape
        out = xp.empty((N, C, hs.size, ws.size), _F32)
        idx = xp.empty(out.shape, np.int64)
        if out.size:
            self.launch("max_pool_forward", *_grid1d(out.size), out, idx, xp.ascontiguousarray(x),
                        *self._tables(hs, hn, ws, wn), N * C, H, W, hs.size, ws.size, dh, dw)
        return out, idx

    def max_pool2d_backward(self, dout, idx, x_shape, hs, hn, ws, wn, dh, dw):
        from fastnn.kernels.pool2d import ref

        if dout.dtype != _F32:
            return ref.max_backward(dout, idx, x_shape, hn, wn, xp=self.xp)
        (N, C, H, W), dx = x_shape, self.xp.zeros(x_shape, _F32)
        if dx.size and dout.size:
            self.launch("max_pool_backward", *_grid1d(dx.size), dx, self.xp.ascontiguousarray(dout), idx,
                        *self._tables(hs, hn, ws, wn), N * C, H, W, hs.size, ws.size, dh, dw)
        return dx

    def avg_pool2d(self, x, hs, hn, ws, wn, div):
        from fastnn.kernels.pool2d import ref

        if x.dtype != _F32:
            return ref.avg_forward(x, hs, hn, ws, wn, div, xp=self.xp)
        xp, (N, C, H, W) = self.xp, x.shape
        out = xp.empty((N, C, hs.size, ws.size), _F32)
        if out.size:
            self.launch("avg_pool_forward", *_grid1d(out.size), out, xp.ascontiguousarray(x),
                        *self._tables(hs, hn, ws, wn, div), N * C, H, W, hs.size, ws.size)
        return out

    def avg_pool2d_backward(self, dout, x_shape, hs, hn, ws, wn, div):
        from fastnn.kernels.pool2d import ref

        if dout.dtype != _F32:
            return ref.avg_backward(dout, x_shape, hs, hn, ws, wn, div, xp=self.xp)
        (N, C, H, W), dx = x_shape, self.xp.zeros(x_shape, _F32)
        if dx.size and dout.size:
            self.launch("avg_pool_backward", *_grid1d(dx.size), dx, self.xp.ascontiguousarray(dout),
                        *self._tables(hs, hn, ws, wn, div), N * C, H, W, hs.size, ws.size)
        return dx

    @property
    def fused_mlp_features(self):
        from .cuda_fused import FEATURES

        return FEATURES

    def fused_mlp(self, spec):
        """The whole-MLP training step as a CUDA graph (fastnn/backends/cuda_fused.py)."""
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


def _scalar(v, dt, kernel, pname):
    """A NumPy scalar of exactly the parameter's C type (CuPy would pass Python ints as int64)."""
    try:
        if dt.kind in "iu":
            iv = int(v)
            info = np.iinfo(dt)
            if not info.min <= iv <= info.max:
                raise OverflowError(f"{iv} out of range for {dt}")
            return dt.type(iv)
        return dt.type(v)
    except (TypeError, ValueError, OverflowError) as e:
        raise TypeError(f"kernel {kernel}: argument '{pname}' needs a {dt} scalar, got {v!r} ({e})") from None


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


def _xp_act(xp, x, act):
    if act == "relu":
        return xp.maximum(x, 0).astype(x.dtype, copy=False)
    if act == "sigmoid":
        e = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    if act == "tanh":
        return xp.tanh(x)
    if act == "none":
        return x
    raise ValueError(f"unknown activation {act!r}")


def _xp_act_grad(xp, out, act):
    if act == "relu":
        return (out > 0).astype(out.dtype)
    if act == "sigmoid":
        return out * (1 - out)
    if act == "tanh":
        return 1 - out * out
    raise ValueError(f"unknown activation {act!r}")


def _xp_softmax(xp, x, log):
    z = x - x.max(axis=-1, keepdims=True)
    if log:
        return z - xp.log(xp.exp(z).sum(axis=-1, keepdims=True))
    e = xp.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _xp_cross_entropy(xp, logits, target):
    M, N = logits.shape
    if M == 0 or N == 0:
        return xp.full(M, np.nan, logits.dtype), xp.empty_like(logits)
    logp = _xp_softmax(xp, logits, True)
    valid = (target >= 0) & (target < N)
    picked = xp.take_along_axis(logp, xp.clip(target, 0, N - 1)[:, None], axis=1)[:, 0]
    return xp.where(valid, -picked, np.nan).astype(logits.dtype), xp.exp(logp)
