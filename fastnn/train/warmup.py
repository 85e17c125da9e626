"""A first `fastnn train` without the wait: while the fused CPU kernel is not in Numba's on-disk cache,
a background process compiles it (filling the cache) and the run trains on the eager path, switching
to the fused path at the first epoch boundary after the compile has finished.

    python -m fastnn.train.warmup '<TrainConfig as JSON>'   # the background process (what `start` runs)

The fused kernel has one specialization per dtype (sizes, optimizer, loss and activations are runtime
arguments), so compiling it for a throwaway copy of the run's model on two random rows fills the cache
for the real run. The eager and fused paths share the optimizer's flat buffers and agree to float
rounding, so the switch changes speed, not the result. The background process never outlives the
command: `stop()` ends it (`fastnn train` calls it when the run ends, on error and on Ctrl-C; an
atexit hook covers every other exit, and on Linux the child asks the kernel for SIGKILL if its parent
dies first). Finished functions stay cached even when it is stopped early (Numba saves each compiled
function as it completes, with its bitcode for inlining), so the next run continues from there.
Numba writes cache files atomically (temporary file + rename), so concurrent compiles of the same
kernel into one cache directory are safe (tests/test_warmup.py runs two at once).
"""
import atexit
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

_RUNNING = []  # BackgroundCompile objects of this process that may still run (atexit stops them)


# ---- the throwaway step that compiles (or loads) the fused kernel --------------------------------
class _WouldCompile(Exception):
    """Raised inside Numba's compile event when a probe finds the fused kernel missing from the cache."""


def _throwaway(cfg):
    """A fresh copy of cfg's model and optimizer (the run's dtype) and two random rows shaped like the
    run's data; fastnn's generator is left as it was, so the run's random stream does not change."""
    from ..backends import get_backend
    from .config import make_optimizer
    from .models import build_model, image_shape, is_cnn

    rng = get_backend("cpu").rng
    saved = rng.bit_generator.state
    try:
        model = build_model(cfg.model, cfg.device)
    finally:
        rng.bit_generator.state = saved
    optimizer = make_optimizer(cfg, model.parameters())
    shape = image_shape(cfg.dataset) if is_cnn(cfg.model) else (784,)
    x = np.random.default_rng(0).uniform(-1, 1, (2,) + shape).astype(next(iter(model.parameters()))._data.dtype)
    return model, optimizer, x, np.zeros(2, np.int64)


def compile_fused(cfg):
    """Compile the fused kernel cfg's run uses (or load it from the cache) by one throwaway step, and the
    evaluation kernels of the fused path (our GEMM on the fused kernels' threads, as FusedTrainer runs
    it: without them the first fused epoch's evaluation compiled them, seconds long)."""
    from .fused import make_fused
    from .loop import evaluate
    from .models import image_shape

    model, optimizer, x, y = _throwaway(cfg)
    fm = make_fused(model, optimizer, image_shape(cfg.dataset))
    fm.epoch(x, y, batch_size=2, perm=np.arange(2))
    with fm.backend.shared_thread_pool():
        evaluate(model, x, y)


def compile_eager(cfg):
    """Compile (or load) the eager path's kernels for cfg's run: one throwaway step and an evaluation."""
    from .loop import EagerTrainer, evaluate

    model, optimizer, x, y = _throwaway(cfg)
    EagerTrainer(model, optimizer).train_epoch(x, y, np.arange(2), 2)
    evaluate(model, x, y)


def fused_cached(cfg):
    """True when the fused kernel for cfg loads from Numba's cache (it is then loaded into this process);
    False when it would have to be compiled: that compile is aborted before it starts."""
    from numba.core import event

    from fastnn.kernels.fused_cnn import cpu as cnn
    from fastnn.kernels.fused_mlp import cpu

    class Abort(event.Listener):
        def on_start(self, ev):
            if ev.data.get("dispatcher") in (cpu.train_epoch, cnn.train_epoch):
                raise _WouldCompile()

        def on_end(self, ev):
            pass

    try:
        with event.install_listener("numba:compile", Abort()):
            compile_fused(cfg)
    except _WouldCompile:
        return False
    return True


# ---- the background process ------------------------------------------------------------------------
def _die_with_parent():
    """preexec_fn of the child (Linux): SIGKILL it when the parent dies, however that happens."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


class BackgroundCompile:
    """`python -m fastnn.train.warmup CONFIG` in a child process: `ready()` once it has succeeded,
    `stop()` terminates it (idempotent). Its output goes to a log returned by `output()`."""

    def __init__(self, cfg):
        import tempfile

        self.t0 = time.perf_counter()
        self.log = tempfile.TemporaryFile(mode="w+")
        env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "fastnn.train.warmup", json.dumps(cfg.to_dict())],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, cwd=tempfile.gettempdir(),  # not a source tree (DESIGN.md)
                                     preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        self.seconds = None  # compile wall time once finished
        _RUNNING.append(self)

    def ready(self):
        """True once the child has exited successfully (the kernel is in the cache)."""
        if self.proc.poll() is None:
            return False
        if self.seconds is None:
            self.seconds = time.perf_counter() - self.t0
            _forget(self)
        return self.proc.returncode == 0

    def failed(self):
        return self.proc.poll() not in (None, 0)

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        """Terminate the child if it still runs and reap it; returns True when it had to be stopped."""
        running = self.proc.poll() is None
        if running:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.ready()
        _forget(self)
        return running


def _forget(bg):
    if bg in _RUNNING:
        _RUNNING.remove(bg)


@atexit.register
def stop_all():
    """Stop every background compile this process started (atexit; `fastnn train` calls it on exit)."""
    for bg in list(_RUNNING):
        bg.stop()


# ---- the trainer that switches ---------------------------------------------------------------------
class WarmingTrainer:
    """Eager epochs while the fused kernel compiles in the background; from the first epoch that starts
    after the compile has finished, the fused trainer. `name` is the path of the last epoch run."""

    def __init__(self, eager, make_fused, background, log=print, threads=None):
        self.current, self.make_fused, self.bg, self.log = eager, make_fused, background, log
        self.name = "eager"
        self.threads = threads  # restored for the fused path (the eager path leaves a core to the compile)

    def _maybe_switch(self):
        if self.bg is None:
            return
        if self.bg.ready():
            import fastnn

            if self.threads:
                fastnn.set_num_threads(self.threads)
            self.current, self.name = self.make_fused(), "fused"
            self.current.clip_grad_norm = self.clip_grad_norm
            self.log(f"fused kernel compiled in the background ({self.bg.seconds:.1f} s): "
                     "the fused path runs from this epoch on")
            self.bg = None
        elif self.bg.failed():
            self.log("the background compile of the fused kernel failed; the run stays on the eager path:\n"
                     + self.bg.output()[-2000:])
            self.bg = None

    @property
    def clip_grad_norm(self):
        """--clip-grad-norm: handed to whichever trainer runs (the fused one gets it when it takes over)."""
        return self.current.clip_grad_norm

    @clip_grad_norm.setter
    def clip_grad_norm(self, max_norm):
        self.current.clip_grad_norm = max_norm

    def train_epoch(self, x, y, perm, batch_size, progress=None):
        self._maybe_switch()
        return self.current.train_epoch(x, y, perm, batch_size, progress)

    def evaluate(self, model, x, y, batch_size):
        return self.current.evaluate(model, x, y, batch_size)

    def sync_model(self):
        self.current.sync_model()

    def optimizer_state(self):
        return self.current.optimizer_state()

    def close(self, log=None):
        """Stop the background compile if it still runs, saying so."""
        if self.bg is not None and self.bg.stop():
            (log or self.log)(f"stopped the background compile of the fused kernel after "
                              f"{self.bg.seconds:.0f} s; what it finished stays cached, and the next run (or "
                              "`fastnn compile`) continues from there")
            self.bg = None


def finish(trainer, log=print):
    """End of a run: stop the trainer's background compile if it is still running (saying so)."""
    close = getattr(trainer, "close", None)
    if close is not None:
        close(log)


def defer_fused(cfg, trainer, path, reason, make_eager, log=print):
    """(trainer, path, reason) for the run: unchanged unless `--path auto` chose the fused CPU path and
    the fused kernel is missing from the cache; then a WarmingTrainer (eager now, fused once compiled).
    `--path fused` and FASTNN_BACKGROUND_COMPILE=0 wait for the compile, as before."""
    if (path, cfg.path, cfg.device) != ("fused", "auto", "cpu") or os.environ.get("FASTNN_BACKGROUND_COMPILE") == "0":
        return trainer, path, reason
    if fused_cached(cfg):
        return trainer, path, reason
    import fastnn

    threads = fastnn.get_num_threads()
    if threads > 1 and not cfg.threads:
        fastnn.set_num_threads(threads - 1)  # one core for the compile
    # then the eager kernels at the thread count the eager epochs run (on one thread the cpu backend's
    # GEMM is OpenBLAS: warming at two had compiled our GEMM too, ~11 s before the first epoch), and
    # before the background process starts, so that the two never compile the same function at once
    compile_eager(cfg)
    bg = BackgroundCompile(cfg)
    warming = WarmingTrainer(make_eager(), lambda: trainer, bg, log, threads)
    return warming, "eager->fused", (reason + "; the fused kernel is not compiled yet: eager epochs while it "
                                     "compiles in a background process, fused from the first epoch after")


def main(argv=None):
    """The background process: compile the fused kernel for the TrainConfig given as JSON."""
    from .config import TrainConfig

    argv = sys.argv[1:] if argv is None else argv
    t = time.perf_counter()
    compile_fused(TrainConfig.from_dict(json.loads(argv[0])))
    print(f"fused kernel compiled or loaded in {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
