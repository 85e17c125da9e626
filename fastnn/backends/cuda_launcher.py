"""The CUDA launcher: .cu signature parsing, the RawModule cache, typed launches, launch geometry, stats.

Shared by the cuda backend (cuda.py: the primitive table), the fused MLP graphs (cuda_fused.py) and the
tests' CuPy stand-in (tests/cupy_standin counts its own launches with `Counters`). Nothing here knows
any primitive: a kernel is a name found in kernels/*/*.cu, launched with its exact C parameter types.

    launcher = Launcher(cupy)                      # parses every .cu once; modules compile on first use
    launcher.launch("act_forward", *grid1d(n), out, x, n, code)
    launcher.stats.kernel_launches                 # CUDAStats: launches, graph captures/launches, syncs
"""
import re

import numpy as np

# C parameter base types of our kernels -> NumPy dtypes (None: void, for `void*` pointers)
CTYPES = {"float": np.float32, "double": np.float64, "int": np.int32, "unsigned int": np.uint32,
          "long long": np.int64, "unsigned long long": np.uint64, "unsigned char": np.uint8,
          "char": np.int8, "bool": np.bool_, "void": None}


class Counters:
    """Integer counters named by a subclass's `__slots__`: reset(), as_dict() (alias snapshot()), repr."""

    __slots__ = ()

    def __init__(self):
        self.reset()

    def reset(self):
        for k in self.__slots__:
            setattr(self, k, 0)

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    snapshot = as_dict

    def __repr__(self):
        return f"{type(self).__name__}({self.as_dict()})"


class CUDAStats(Counters):
    """What the backend did: kernel launches, CUDA-graph captures and launches, host syncs."""

    __slots__ = ("kernel_launches", "graph_captures", "graph_launches", "host_syncs")


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
            if base not in CTYPES:
                raise TypeError(f"kernel {m.group(1)}: unsupported parameter type in '{decl}'")
            dt = CTYPES[base]
            params.append((words[-1], None if dt is None else np.dtype(dt), ptr))
        sigs[m.group(1)] = params
    return sigs


def cu_files():
    """{family: path} of every kernels/<family>/*.cu (kernels/cuda_build.py's list: what NVRTC checks)."""
    from fastnn.kernels import cuda_build

    return {p.parent.name: p for p in cuda_build.CU_FILES}


# ---- launch geometry ----------------------------------------------------------------------------
def grid1d(n, block=256, max_blocks=4096):
    """(grid, block) for a grid-stride loop over n elements."""
    return (max(1, min((int(n) + block - 1) // block, max_blocks)),), (block,)


def row_block(n_cols):
    """Threads per row-kernel block: a multiple of 32 covering the row, at most 256."""
    return min(256, max(32, (int(n_cols) + 31) // 32 * 32))


# ---- scalar marshalling -------------------------------------------------------------------------
def to_c_scalar(v, dt, kernel, pname):
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


# ---- module cache and launches ------------------------------------------------------------------
class Launcher:
    """Every .cu kernel of kernels/ by name: RawModules compiled once per process per .cu file (per CuPy
    module: real or stand-in), arguments checked and converted to the C parameter types, launches counted
    in `stats` unless `capturing` (captured launches run, and are counted, as graph launches)."""

    _modules = {}   # (id(cupy module), family) -> RawModule, shared by every Launcher of the process

    def __init__(self, cp):
        from fastnn.kernels.cuda_build import RAWMODULE_OPTIONS

        self.cp, self.options = cp, tuple(RAWMODULE_OPTIONS)
        self.stats = CUDAStats()
        self.capturing = False
        self.files = cu_files()
        self.sigs, self.family = {}, {}
        for fam, path in self.files.items():
            for name, params in parse_signatures(path.read_text()).items():
                self.sigs[name], self.family[name] = params, fam
        self._fns = {}

    def module(self, family):
        key = (id(self.cp), family)
        if key not in self._modules:
            self._modules[key] = self.cp.RawModule(code=self.files[family].read_text(), options=self.options)
        return self._modules[key]

    def function(self, name):
        fn = self._fns.get(name)
        if fn is None:
            if name not in self.sigs:
                raise KeyError(f"no CUDA kernel named '{name}' in {sorted(self.files)}")
            fn = self._fns[name] = self.module(self.family[name]).get_function(name)
        return fn

    def launch(self, name, grid, block, *args, shared_mem=0):
        """Launch kernel `name` with arguments converted to its exact C parameter types."""
        params = self.sigs.get(name)
        if params is None:
            raise KeyError(f"no CUDA kernel named '{name}'")
        if len(args) != len(params):
            raise TypeError(f"kernel {name} takes {len(params)} arguments "
                            f"({', '.join(p[0] for p in params)}), got {len(args)}")
        conv = [self._pointer(a, dt, name, pname) if ptr else to_c_scalar(a, dt, name, pname)
                for (pname, dt, ptr), a in zip(params, args)]
        self.function(name)(tuple(grid), tuple(block), tuple(conv), shared_mem=shared_mem)
        if not self.capturing:
            self.stats.kernel_launches += 1

    def _pointer(self, a, dt, name, pname):
        """A device array (or None: NULL) of the pointer's dtype, C-contiguous."""
        if a is None:
            return a
        if not isinstance(a, self.cp.ndarray) or (dt is not None and a.dtype != dt):
            raise TypeError(f"kernel {name}: argument '{pname}' needs a {dt} device array, got "
                            f"{type(a).__name__} {getattr(a, 'dtype', '')} {getattr(a, 'shape', '')}")
        if not a.flags.c_contiguous:
            raise ValueError(f"kernel {name}: argument '{pname}' (shape {a.shape}, strides {a.strides}) "
                             "is not C-contiguous")
        return a
