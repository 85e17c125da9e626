"""Compile a .cu file with g++ against cuda_emu.h and launch its kernels on NumPy arrays (ctypes).

Launches run in a persistent child process (runner.py) on copies of the array arguments in a
shared memfd arena, so a kernel that crashes or hangs fails the test instead of killing pytest.
FASTNN_EMU_ISOLATE=0 runs launches in-process; FASTNN_EMU_SANITIZE=address|thread builds with a
sanitizer (in-process; the host must preload the sanitizer runtime: see .ci/sanitizers).
"""
from __future__ import annotations

import atexit
import ctypes
import functools
import hashlib
import mmap
import os
import pathlib
import re
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

HEADER = pathlib.Path(__file__).with_name("cuda_emu.h")
CACHE = pathlib.Path(os.environ.get("FASTNN_EMU_CACHE", "~/.cache/fastnn/cuda_emulator")).expanduser()
BASE_FLAGS = ["-std=c++20", "-fPIC", "-shared", "-fvisibility=hidden", "-fno-gnu-unique",
              "-fno-strict-aliasing", "-w"]
SANITIZE_FLAGS = {None: ["-O2"],
                  "address": ["-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer"],
                  "thread": ["-O1", "-g", "-fsanitize=thread"]}
MAX_THREADS, MAX_DYN_SMEM = 1024, 227 * 1024
_ERRLEN = 8192


class EmulatorError(RuntimeError):
    """A kernel failed under the emulator (crash, deadlock, bad launch)."""


class CompileError(EmulatorError):
    """g++ rejected the source; the message holds its diagnostics."""


class DeadlockError(EmulatorError):
    """Threads of a block wait on barriers that can never complete."""


class KernelCrash(EmulatorError):
    """The kernel killed its process (segfault, abort, ...)."""


class KernelTimeout(EmulatorError, TimeoutError):
    """The kernel ran longer than the launch's timeout (e.g. an infinite loop)."""


class Stats:
    """Counters other tests may read: `cuda_emulator.stats.launches`."""

    def __init__(self):
        self.launches = 0
        self.compiles = 0

    def __repr__(self):
        return f"Stats(launches={self.launches}, compiles={self.compiles})"


stats = Stats()


@dataclass(frozen=True)
class Param:
    """One kernel parameter: its source text, and what the compiled signature says it is."""
    name: str
    decl: str
    pointer: bool
    dtype: np.dtype | None  # None: void* (any array) or an unsupported by-value struct
    code: str  # from the compiled .so: kind + element size, e.g. 'f4', 'i8', 'u4', 'b1', 'v0'


def _dtype_of(code):
    """'f4' -> float32, 'i8' -> int64, 'b1' -> bool; None for void ('v0') and structs ('x<size>')."""
    return np.dtype(np.bool_) if code == "b1" else np.dtype(code) if code[0] in "fiu" else None


# ---- source handling ------------------------------------------------------------------------
_KERNEL_RE = re.compile(r"__global__\s+(?:__launch_bounds__\s*\([^()]*\)\s*)?void\s+"
                        r"(?:__launch_bounds__\s*\([^()]*\)\s*)?([A-Za-z_]\w*)\s*\(")
_EXTERN_SMEM_RE = re.compile(r"extern\s+__shared__\s+([^;\[]*?)\s*\b([A-Za-z_]\w*)\s*\[\s*\]\s*;")
_ALIGN_RE = re.compile(r"(__align__|alignas)\s*\(\s*\w+\s*\)")


def _strip_comments(src):
    """Blank out comments and string literals (same length, newlines kept) for scanning."""
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    return re.sub(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"', blank, src, flags=re.S)


def _split_params(text):
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "(<[" and 1 or (ch in ")>]" and -1 or 0)
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    parts = [" ".join(p.split()) for p in parts]
    return [] if parts in ([""], ["void"]) else parts


def find_kernels(src):
    """[(name, [param decl, ...])] for every non-template __global__ definition in `src`."""
    clean = _strip_comments(src)
    out = {}
    for m in _KERNEL_RE.finditer(clean):
        head = clean[max(0, m.start() - 300): m.start()]
        head = re.split(r"[;}]", head)[-1]
        if re.search(r"\btemplate\b", head):
            continue
        depth, i = 1, m.end()
        while depth and i < len(clean):
            depth += {"(": 1, ")": -1}.get(clean[i], 0)
            i += 1
        if not clean[i:].lstrip().startswith("{"):
            continue  # a declaration: the definition comes later
        out[m.group(1)] = _split_params(clean[m.end(): i - 1])
    return list(out.items())


def _rewrite_extern_shared(src):
    """`extern __shared__ T name[];` -> a pointer to the launch's dynamic shared buffer."""
    clean = _strip_comments(src)
    pieces, last = [], 0
    for m in _EXTERN_SMEM_RE.finditer(clean):
        ctype = _ALIGN_RE.sub("", m.group(1)).strip()
        name = m.group(2)
        depth = clean.count("{", 0, m.start()) - clean.count("}", 0, m.start())
        if depth > 0:
            new = f"{ctype}* {name} = ({ctype}*)::emu::dyn_smem();"
        else:  # file scope: a macro, on the declaration's own line
            own_line = clean[:m.start()].rstrip(" \t").endswith("\n") or not clean[:m.start()].strip()
            new = f"#define {name} (({ctype}*)::emu::dyn_smem())"
            new = new if own_line else f"\n{new}\n"
        pieces += [src[last: m.start()], new]
        last = m.end()
    pieces.append(src[last:])
    return "".join(pieces)


def _param_name(decl):
    m = re.search(r"([A-Za-z_]\w*)\s*(\[\s*\])?$", decl)
    words = decl.replace("*", " ").split()
    return m.group(1) if m and len(words) > 1 else ""


def _wrappers(kernels):
    lines = ['#line 1 "<cuda_emulator launchers>"']
    exp = 'extern "C" __attribute__((visibility("default")))'
    for name, _ in kernels:
        lines.append(f"{exp} int emu_launch__{name}(void** a, const long long* s, const long long* c, "
                     f"char* e, int n) {{ return emu::launch({name}, \"{name}\", a, s, c, e, n); }}")
        lines.append(f'{exp} const char* emu_sig__{name}() {{ return emu::signature({name}); }}')
    return "\n".join(lines) + "\n"


def compiler():
    """The C++ compiler command: $FASTNN_EMU_CXX, default g++ (read at each build, so a test can point
    it at a missing compiler)."""
    return os.environ.get("FASTNN_EMU_CXX") or "g++"


@functools.lru_cache(maxsize=None)
def _compiler_id(cxx):
    """`cxx --version` (part of the build cache key). FileNotFoundError when cxx is not installed."""
    return subprocess.run([cxx, "--version"], capture_output=True, text=True, check=True).stdout


def _sanitize_mode(sanitize):
    mode = sanitize if sanitize is not None else (os.environ.get("FASTNN_EMU_SANITIZE") or None)
    if mode not in SANITIZE_FLAGS:
        raise ValueError(f"sanitize must be None, 'address' or 'thread', got {mode!r}")
    return mode


def _check_runtime_loaded(mode):
    lib = {"address": "libasan", "thread": "libtsan"}[mode]
    with open("/proc/self/maps") as f:
        if lib not in f.read():
            raise EmulatorError(f"sanitize={mode!r} needs the sanitizer runtime preloaded in this process: "
                                f"run under LD_PRELOAD=$(g++ -print-file-name={lib}.so) (see .ci/sanitizers)")


_modules: dict[str, "Module"] = {}
_recent: dict[tuple, "Module"] = {}  # (path, mtime, defines, mode) -> module: skips re-hashing


def load(path_or_source, defines: dict | None = None, sanitize: str | None = None) -> "Module":
    """Compile (cached by SHA-256 of source + header + flags) and load a .cu file or source string."""
    mode = _sanitize_mode(sanitize)
    if isinstance(path_or_source, pathlib.Path) or (
            "\n" not in path_or_source and "__global__" not in path_or_source):
        path = pathlib.Path(path_or_source).resolve()
        memo = (str(path), path.stat().st_mtime_ns, HEADER.stat().st_mtime_ns, repr(sorted((defines or {}).items())),
                mode)
        if memo not in _recent:
            _recent[memo] = _load(path.read_text(), str(path), str(path.parent), defines, mode)
        return _recent[memo]
    return _load(str(path_or_source), "<source>", os.getcwd(), defines, mode)


def _load(src, origin, incdir, defines, mode):
    if mode:
        _check_runtime_loaded(mode)
    kernels = find_kernels(src)
    if not kernels:
        raise EmulatorError(f"no __global__ kernel definitions found in {origin}")
    full = f'#line 1 "{origin}"\n' + _rewrite_extern_shared(src) + "\n" + _wrappers(kernels)
    flags = BASE_FLAGS + SANITIZE_FLAGS[mode] + [f"-I{incdir}"]
    flags += [f"-D{k}" if v is None else f"-D{k}={v}" for k, v in sorted((defines or {}).items())]
    key = hashlib.sha256("\0".join([HEADER.read_text(), full, " ".join(flags), _compiler_id(compiler())])
                         .encode()).hexdigest()[:32]
    if key in _modules:
        return _modules[key]
    so = CACHE / f"{key}.so"
    if not so.exists():
        _compile(full, flags, so)
    mod = _modules[key] = Module(so, kernels, origin, in_process=bool(mode))
    return mod


def _compile(full, flags, so):
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        cpp, out = pathlib.Path(tmp, "k.cpp"), pathlib.Path(tmp, "k.so")
        cpp.write_text(full)
        cmd = [compiler(), *flags, "-include", str(HEADER), "-x", "c++", str(cpp), "-o", str(out)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            raise CompileError(f"{cmd[0]} failed ({' '.join(cmd)}):\n{r.stderr[-6000:]}")
        os.replace(out, so)  # atomic: concurrent test runs never load a half-written file
    stats.compiles += 1


# ---- launching --------------------------------------------------------------------------------
def _dim3(v, what):
    t = (int(v), 1, 1) if np.isscalar(v) else tuple(int(x) for x in v) + (1,) * (3 - len(v))
    if len(t) != 3 or min(t) < 1:
        raise ValueError(f"{what} must be a positive int or a tuple of up to 3 positive ints, got {v!r}")
    return t


class Module:
    """A compiled .cu file: `kernels` maps name -> [Param]; `launch` runs one kernel."""

    def __init__(self, so, kernels, origin, in_process=False):
        self.path, self.origin, self.in_process = so, origin, in_process
        self._lib = ctypes.CDLL(str(so))
        self.kernels, self._fns = {}, {}
        for name, decls in kernels:
            sig = getattr(self._lib, f"emu_sig__{name}")
            sig.restype = ctypes.c_char_p
            codes = [c for c in sig().decode().split(",") if c]
            names = decls if len(decls) == len(codes) else [f"arg{i}" for i in range(len(codes))]
            self.kernels[name] = [Param(_param_name(d) or f"arg{i}", d, c[0] == "P", _dtype_of(c[1:]), c[1:])
                                  for i, (d, c) in enumerate(zip(names, codes))]
            fn = getattr(self._lib, f"emu_launch__{name}")
            fn.restype = ctypes.c_int
            fn.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int]
            self._fns[name] = fn

    def __repr__(self):
        return f"<cuda_emulator.Module {self.origin} kernels={list(self.kernels)}>"

    def _check_args(self, name, args):
        params = self.kernels[name]
        if len(args) != len(params):
            sig = ", ".join(p.decl for p in params)
            raise TypeError(f"kernel '{name}({sig})' takes {len(params)} arguments, got {len(args)}")
        for i, (p, a) in enumerate(zip(params, args)):
            where = f"kernel '{name}' argument {i} '{p.decl}'"
            if p.pointer:
                if a is None:
                    continue
                if not isinstance(a, np.ndarray):
                    raise TypeError(f"{where} is a pointer: pass a numpy array (or None), got {type(a).__name__}")
                if p.dtype is not None and a.dtype != p.dtype:
                    raise TypeError(f"{where} expects a {p.dtype} array, got {a.dtype} with shape {a.shape}")
                if not a.flags.c_contiguous:
                    raise ValueError(f"{where}: array with shape {a.shape} and strides {a.strides} "
                                     f"is not C-contiguous")
            else:
                if p.dtype is None:
                    raise TypeError(f"{where}: by-value struct parameters are not supported by the emulator")
                if not isinstance(a, np.generic) or a.dtype != p.dtype:
                    got = f"{type(a).__name__} {a!r}" if not isinstance(a, np.generic) else f"np.{a.dtype} {a!r}"
                    raise TypeError(f"{where} takes a {p.dtype} scalar: pass np.{p.dtype}(...), got {got}")

    def launch(self, name, grid, block, args=(), shared_mem=0, timeout=60.0):
        """Run kernel `name` over grid x block threads; numpy array args are updated in place."""
        if name not in self.kernels:
            raise KeyError(f"no kernel '{name}' in {self.origin}; kernels: {sorted(self.kernels)}")
        g, b = _dim3(grid, "grid"), _dim3(block, "block")
        if b[0] * b[1] * b[2] > MAX_THREADS or b[2] > 64:
            raise ValueError(f"block {b} has more than {MAX_THREADS} threads (or z > 64)")
        if g[0] >= 2**31 or g[1] > 65535 or g[2] > 65535:
            raise ValueError(f"grid {g} exceeds CUDA's limits (2^31-1, 65535, 65535)")
        if not 0 <= int(shared_mem) <= MAX_DYN_SMEM:
            raise ValueError(f"shared_mem={shared_mem} bytes outside [0, {MAX_DYN_SMEM}]")
        args = tuple(args)
        self._check_args(name, args)
        stats.launches += 1
        params = self.kernels[name]
        cfg = (*g, *b, int(shared_mem))
        sizes = [(a.nbytes if a is not None else -1) if p.pointer else -1 for p, a in zip(params, args)]
        what = f"kernel '{name}' (grid={g}, block={b}, shared_mem={shared_mem})"
        if not self.in_process and os.environ.get("FASTNN_EMU_ISOLATE", "1") != "0":
            rc, msg = _runner().launch(self.path, name, cfg, sizes, params, args, timeout, what)
        else:
            rc, msg = self._launch_here(name, cfg, sizes, params, args)
        if rc == 2:
            raise DeadlockError(msg)
        if rc:
            raise EmulatorError(f"{what} failed: {msg}")

    def _launch_here(self, name, cfg, sizes, params, args):
        """In-process launch on the arrays' own memory (no isolation: a crash kills the process)."""
        spec = [("p", a.ctypes.data if a is not None else 0) if p.pointer else ("s", a.tobytes())
                for p, a in zip(params, args)]
        return _call(self._fns[name], cfg, sizes, spec, 0)


def _call(fn, cfg, sizes, spec, base):
    """Call a launcher: spec[i] is ('p', address or arena offset) or ('s', scalar bytes)."""
    n = max(1, len(spec))
    slots = [ctypes.c_void_p(v + base if v else None) if k == "p" else ctypes.create_string_buffer(v)
             for k, v in spec]
    argv = (ctypes.c_void_p * n)(*[ctypes.addressof(s) for s in slots])
    err = ctypes.create_string_buffer(_ERRLEN)
    rc = fn(argv, (ctypes.c_longlong * n)(*sizes), (ctypes.c_longlong * 7)(*cfg), err, _ERRLEN)
    return rc, err.value.decode(errors="replace")


class _Runner:
    """A child process (runner.py) that launches kernels on a shared memfd arena, so a crashing or
    hanging kernel kills only it; it is restarted on the next launch. ~0.1 ms per launch."""

    def __init__(self):
        self.fd, self.size, self.mm, self.proc = os.memfd_create("fastnn-emu-arena"), 0, None, None

    def _start(self):
        req_r, self.req = os.pipe()
        self.resp, resp_w = os.pipe()
        script = pathlib.Path(__file__).with_name("runner.py")
        self.proc = subprocess.Popen([sys.executable, "-I", str(script), str(req_r), str(resp_w), str(self.fd)],
                                     pass_fds=(req_r, resp_w, self.fd))
        os.close(req_r), os.close(resp_w)

    def _stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            os.close(self.req), os.close(self.resp)
        self.proc = None

    def _arena(self, nbytes):
        if nbytes > self.size:
            self.size = max(nbytes, 1 << 22, 2 * self.size)
            os.ftruncate(self.fd, self.size)
            self.mm = mmap.mmap(self.fd, self.size)
        return ctypes.addressof(ctypes.c_char.from_buffer(self.mm))

    def launch(self, so, name, cfg, sizes, params, args, timeout, what):
        arrays = [(i, a) for i, (p, a) in enumerate(zip(params, args)) if p.pointer and a is not None]
        placed, total = _layout(arrays)
        base = self._arena(total)
        for i, a in arrays:
            ctypes.memmove(base + placed[i], a.ctypes.data, a.nbytes)
        spec = [("p", placed.get(i, 0)) if p.pointer else ("s", a.tobytes())
                for i, (p, a) in enumerate(zip(params, args))]
        if self.proc is not None and self.proc.poll() is not None:
            self._stop()  # died outside a launch (killed from outside)
        if self.proc is None:
            self._start()
        msg = pickle.dumps((str(so), name, self.size, cfg, sizes, spec))
        _write_all(self.req, struct.pack("Q", len(msg)) + msg)
        rc, text = pickle.loads(self._read(struct.unpack("Q", self._read(8, timeout, what))[0], timeout, what))
        for i, a in arrays:  # copy results back (overlapping views share arena bytes)
            if a.flags.writeable and a.nbytes:
                ctypes.memmove(a.ctypes.data, base + placed[i], a.nbytes)
        return rc, text

    def _read(self, n, timeout, what):
        data, deadline = b"", time.monotonic() + timeout
        while len(data) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.resp], [], [], left)[0]:
                self._stop()
                raise KernelTimeout(f"{what} did not finish within {timeout} s (killed)")
            chunk = os.read(self.resp, n - len(data))
            if not chunk:  # the runner died: a crash in the kernel
                status = self.proc.wait()
                self._stop()
                why = signal.Signals(-status).name if status < 0 else f"exit status {status}"
                raise KernelCrash(f"{what} crashed: {why}")
            data += chunk
        return data


def _layout(arrays):
    """Arena offsets for the arrays; overlapping arrays (views of one buffer) share bytes."""
    spans = sorted((a.ctypes.data, a.ctypes.data + a.nbytes, i) for i, a in arrays)
    regions, placed, total = [], {}, 256  # offset 0 is reserved: it means NULL
    for lo, hi, i in spans:  # merge overlapping byte ranges into regions
        if regions and lo < regions[-1][1]:
            regions[-1][1] = max(regions[-1][1], hi)
            regions[-1][2].append((lo, i))
        else:
            regions.append([lo, hi, [(lo, i)]])
    for lo, hi, members in regions:
        for start, i in members:
            placed[i] = total + start - lo
        total += (hi - lo + 255) // 256 * 256 + 256
    return placed, total


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


_the_runner = None


def _runner():
    global _the_runner
    if _the_runner is None or _the_runner.pid != os.getpid():
        _the_runner = _Runner()
        _the_runner.pid = os.getpid()
        atexit.register(_the_runner._stop)
    return _the_runner


_PROBE = r'''extern "C" __global__ void probe(int* out, int n) {
    __shared__ int s[64];
    s[threadIdx.x] = threadIdx.x;
    __syncthreads();
    if (threadIdx.x < n) out[threadIdx.x] = s[63 - threadIdx.x] + __shfl_xor_sync(0xffffffffu, 1, 1);
}
'''


def no_compiler_reason():
    """Why this machine has no usable C++20 compiler (the documented reasons to skip), or None."""
    cxx = compiler()
    try:
        _compiler_id(cxx)
    except FileNotFoundError:
        return f"{cxx} is not installed (FASTNN_EMU_CXX / PATH)"
    r = subprocess.run([cxx, "-std=c++20", "-fsyntax-only", "-x", "c++", "-"], input="#include <span>\n",
                       capture_output=True, text=True)
    if r.returncode:
        return f"{cxx} does not compile C++20: {r.stderr.strip()[-300:]}"
    return None


@functools.lru_cache(maxsize=None)
def available() -> bool:
    """True when the C++ compiler (g++, or $FASTNN_EMU_CXX) builds and runs an emulated kernel with fibers
    on this machine; False only for the documented "no compiler" cases (the compiler is missing, or it
    does not compile C++20). Anything else (the probe failing to compile with a C++20 compiler, a
    probe that runs but computes wrong results, a crash, a bug in this package) raises, so a broken
    emulator is a failure and never a silent skip."""
    if no_compiler_reason() is not None:
        return False
    mod = load(_PROBE)
    out = np.zeros(64, np.int32)
    mod.launch("probe", 1, 64, (out, np.int32(64)), timeout=30)
    if not (out == 64 - np.arange(64)).all():
        raise EmulatorError(f"the CUDA emulator's probe kernel computed wrong results: {out.tolist()}")
    return True
