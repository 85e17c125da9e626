"""Numba settings shared by every CPU kernel: one place decides caching and fast-math, and what makes a
cached kernel stale (`stamp_package_caches`, applied to this package below)."""
import functools
import hashlib
import os

import numba
from numba.core import caching

# cache=True: compiled machine code is kept in __pycache__ so only the first run pays for LLVM.
# fastmath stays off by default: reductions must match the NumPy reference bit-for-bit-ish.
jit = numba.njit(cache=True, nogil=True)  # decorator: @jit
pjit = numba.njit(cache=True, nogil=True, parallel=True)  # decorator: @pjit (uses prange)


def jit_inline(fn):
    """@jit inlined into its jitted callers at Numba IR level (inline='always'): for small loops that
    fused kernels call in their hot paths, where an out-of-line call measured slower."""
    return numba.njit(cache=True, nogil=True, inline="always")(fn)


def jit_fast(fn):
    """@jit with fastmath contractions (FMA, reassociation) for inner GEMM loops."""
    return numba.njit(cache=True, nogil=True, fastmath=True)(fn)


def pjit_fast(fn):
    """@pjit with fastmath, for parallel GEMM drivers."""
    return numba.njit(cache=True, nogil=True, parallel=True, fastmath=True)(fn)


def jit_reassoc(fn):
    """@jit allowing only reassociation (no nnan/ninf/contract): float reductions vectorize, in any order."""
    return numba.njit(cache=True, nogil=True, fastmath={"reassoc"})(fn)


# ---- cache freshness -------------------------------------------------------------------------------
# Numba stamps a cached function with its own file's contents only, so after an edit to a callee in
# another file (conv2d/cpu.py calling winograd.py, the fused CNN step calling conv2d) the caller's cache
# still holds the old callee compiled in: stale machine code, silently. Every kernel of this package is
# instead stamped with a hash of all the package's sources, so any source change recompiles them all.
@functools.lru_cache(maxsize=None)
def package_stamp(root):
    """sha256 over the relative path and contents of every .py file under root (sorted)."""
    h = hashlib.sha256()
    for d, dirs, files in sorted(os.walk(root)):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(d, f)
                h.update(os.path.relpath(path, root).encode() + b"\0")
                with open(path, "rb") as fh:
                    h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def _stamped(base, root):
    """A subclass of Numba's cache locator `base` that takes only functions defined under root and stamps
    them with package_stamp(root) instead of their own file's hash."""
    def from_function(cls, py_func, py_file):
        inside = os.path.commonpath([os.path.abspath(py_file), root]) == root
        return base.from_function.__func__(cls, py_func, py_file) if inside else None

    def get_source_stamp(self):
        return ("package", package_stamp(root))
    return type("Package" + base.__name__, (base,), {"from_function": classmethod(from_function),
                                                     "get_source_stamp": get_source_stamp})


def stamp_package_caches(root):
    """Put package-stamped locators for the functions under root first in Numba's locator list (each of
    Numba's own locators, so NUMBA_CACHE_DIR, in-tree __pycache__ and the user-wide fallback keep their
    places); a user's NUMBA_CACHE_LOCATOR_CLASSES still overrides the list. Idempotent."""
    root = os.path.abspath(root)
    current = caching.CacheImpl._locator_classes
    if any(getattr(c, "_fastnn_root", None) == root for c in current):
        return
    ours = [_stamped(c, root) for c in current if not hasattr(c, "_fastnn_root")]
    for c in ours:
        c._fastnn_root = root
    caching.CacheImpl._locator_classes = ours + list(current)


stamp_package_caches(os.path.dirname(os.path.abspath(__file__)))
