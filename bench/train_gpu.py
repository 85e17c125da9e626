"""GPU training benchmark: bench/train_cpu.py with --device cuda (same fastnn.train.run), printing per-epoch
seconds, samples/s, accuracy and the backend's kernel-launch / graph-launch / host-sync counters when the
CUDA backend exposes them (`backend.stats`). Fails with a clear message when no GPU is usable.

    python bench/train_gpu.py --epochs 3 --batch-size 256 --normalize
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def cuda_backend_or_exit():
    try:
        from fastnn.backends import get_backend

        be = get_backend("cuda")
        be.xp.zeros(1).sum()        # touch the device: fails here, not mid-training, without a GPU
        return be
    except Exception as e:
        print(f"train_gpu.py: no usable CUDA device ({type(e).__name__}: {e}). This benchmark needs an "
              f"NVIDIA GPU with CuPy; use bench/train_cpu.py on this machine.", file=sys.stderr)
        sys.exit(2)


def read_stats(be):
    """The backend's counters as a flat dict, or None when it has none (degrade gracefully)."""
    stats = getattr(be, "stats", None)
    if stats is None:
        return None
    if callable(stats):
        stats = stats()
    if hasattr(stats, "as_dict"):
        stats = stats.as_dict()
    elif not isinstance(stats, dict):
        stats = {k: v for k, v in vars(stats).items() if not k.startswith("_")}
    return {k: v for k, v in stats.items() if isinstance(v, (int, float))}


def main(argv=None):
    from train_cpu import main as train_main

    be = cuda_backend_or_exit()
    last = {"stats": read_stats(be)}
    if last["stats"] is None:
        print("# backend.stats not exposed by the CUDA backend: launch/sync counts not shown")

    def on_epoch(rec, model):
        now = read_stats(be)
        if now is None:
            return
        delta = {k: v - last["stats"].get(k, 0) for k, v in now.items()}
        last["stats"] = now
        print(f"epoch {rec['epoch']:3d} backend counters: " + ", ".join(f"{k} {v:,}" for k, v in delta.items()))

    return train_main(argv, device="cuda", on_epoch=on_epoch)


if __name__ == "__main__":
    main()
