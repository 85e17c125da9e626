"""Run folders: runs/<timestamp>/ with metrics.json (config, per-epoch metrics, versions, path), curves.png
and checkpoint.safetensors; every file written atomically."""
import datetime
import json
import os
import platform
import sys

from .checkpoint import atomic_write_bytes, atomic_write_text

CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.json"
CURVES = "curves.png"


def default_run_dir(base="runs"):
    """runs/<YYYYmmdd-HHMMSS>, with a numeric suffix if that folder already exists."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path, k = os.path.join(base, stamp), 1
    while os.path.exists(path):
        k += 1
        path = os.path.join(base, f"{stamp}-{k}")
    return path


def versions():
    """Versions of everything that shapes the numbers: Python, NumPy, Numba, fastnn, BLAS, CuPy."""
    import numpy as np

    v = {"python": sys.version.split()[0], "numpy": np.__version__, "platform": platform.platform(),
         "machine": platform.machine(), "processor": platform.processor() or None}
    try:
        import numba

        v["numba"] = numba.__version__
    except ImportError:
        pass
    from .. import __version__

    v["fastnn"] = __version__
    try:
        from threadpoolctl import threadpool_info

        v["blas"] = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                     for i in threadpool_info() if i.get("user_api") == "blas"]
    except Exception:
        pass
    if "cupy" in sys.modules:
        v["cupy"] = sys.modules["cupy"].__version__
    return v


def write_metrics(run_dir, metrics):
    atomic_write_text(os.path.join(run_dir, METRICS), json.dumps(metrics, indent=2, default=str) + "\n")


def read_metrics(run_dir):
    with open(os.path.join(run_dir, METRICS)) as f:
        return json.load(f)


def plot_curves(run_dir, history, title=""):
    """curves.png: train/test loss and test accuracy per epoch (train/curves.py, Pillow)."""
    from .curves import render_png

    atomic_write_bytes(os.path.join(run_dir, CURVES), render_png(history, title))
