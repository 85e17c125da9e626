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
    """curves.png: train/test loss and test accuracy per epoch (matplotlib, Agg backend)."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    ep = [h["epoch"] for h in history]
    fig = Figure(figsize=(9, 3.5))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    ax1.plot(ep, [h["test_loss"] for h in history], "s-", label="test")
    ax1.set_xlabel("epoch"), ax1.set_ylabel("cross-entropy loss"), ax1.legend(), ax1.grid(alpha=0.3)
    ax2.plot(ep, [100 * h["test_acc"] for h in history], "o-", color="tab:green")
    ax2.set_xlabel("epoch"), ax2.set_ylabel("test accuracy (%)"), ax2.grid(alpha=0.3)
    from matplotlib.ticker import MaxNLocator

    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write_bytes(os.path.join(run_dir, CURVES), buf.getvalue())
