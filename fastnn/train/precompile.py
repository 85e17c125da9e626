"""`fastnn compile [train options]`: fill Numba's on-disk cache with the kernels a `fastnn train` run with
the same options uses (the fused kernel, when that run would take the fused path, and the eager
path's kernels), so that its first epoch starts without compiling. Prints what was compiled or was
already cached, with times."""
import os
import time


def cache_location():
    """Where Numba keeps the compiled kernels: $NUMBA_CACHE_DIR, else __pycache__ beside the kernels."""
    from fastnn import kernels

    return os.environ.get("NUMBA_CACHE_DIR") or os.path.join(os.path.dirname(kernels.__file__), "**", "__pycache__")


def precompile(cfg, log=print):
    """Compile (or load) every kernel cfg's run needs; returns {'fused': seconds or None, 'eager': seconds}."""
    from . import warmup
    from .fused import fused_reason
    from .models import image_shape

    out = {"fused": None}
    model, optimizer, _, _ = warmup._throwaway(cfg)
    why_not = fused_reason(model, optimizer, image_shape(cfg.dataset))[0]
    if cfg.path != "eager" and cfg.device == "cpu" and why_not is None:
        t = time.perf_counter()
        cached = warmup.fused_cached(cfg)
        if not cached:
            warmup.compile_fused(cfg)
        out["fused"] = time.perf_counter() - t
        log(f"fused kernel: {'already cached, loaded' if cached else 'compiled'} in {out['fused']:.1f} s")
    else:
        log(f"fused kernel: not used by this run ({why_not or 'eager path or a non-CPU device'})")
    t = time.perf_counter()
    warmup.compile_eager(cfg)
    out["eager"] = time.perf_counter() - t
    log(f"eager kernels: compiled or loaded in {out['eager']:.1f} s")
    log(f"cache: {cache_location()}")
    return out
