"""The cpu backend's fused MLP: kernels/fused_mlp (Numba) over the optimizer's own flat buffers."""
import numpy as np

from fastnn.kernels.fpenv import flush_denormals
from fastnn.kernels.optim import table


class CPUFusedMLP:
    """step(x, y) / epoch(X, Y, batch_size, perm, drop_last, scale, shift) on NumPy arrays, in place
    on spec['params'] and spec['state'] (rebound to rows of one (3, P) array the kernel updates)."""

    def __init__(self, spec):
        from fastnn.kernels.fused_mlp.trainer import FusedMLPTrainer

        self.spec = spec
        params = spec["params"]
        self.trainer = FusedMLPTrainer(spec["sizes"], spec["activations"], has_bias=spec["bias"],
                                       dropout=spec["dropout"] or 0.0, loss=spec["loss"],
                                       optimizer=spec["optimizer"], dtype=params.dtype, batch_size=64,
                                       params=np.zeros(params.size, params.dtype), **self._hp())
        self.trainer.params = params  # the optimizer's flat buffer itself: updates land in the model
        state3 = np.zeros((table.N_STATE, params.size), params.dtype)
        for row, name in enumerate(table.get(spec["optimizer"]).args):  # row i of the kernel's state = args[i]
            if name in spec["state"]:
                state3[row] = spec["state"][name]
                spec["state"][name] = state3[row]  # the optimizer now reads and writes the kernel's rows
        self.trainer.state = state3
        self.steps = int(spec.get("step", 0))
        self.clip_grad_norm = None   # set by fastnn.fused.FusedMLP before each call

    def _hp(self):
        """The group's torch hyper-parameters the table knows for this optimizer."""
        g = self.spec["hparams"]
        return {k: g[k] for k, _ in table.get(self.spec["optimizer"]).hparams if k in g}

    def _sync_in(self):
        self.trainer.opt_code, self.trainer.hp = table.pack_group(self.spec["optimizer"], self.spec["hparams"])
        self.trainer.step_count = self.steps
        self.trainer.clip_grad_norm = self.clip_grad_norm or 0.0

    def step(self, x, y):
        self._sync_in()
        with flush_denormals():
            loss, correct = self.trainer.step(x, y)
        self.steps = self.trainer.step_count
        return loss, correct

    def epoch(self, X, Y, batch_size, perm, drop_last=False, scale=1.0, shift=0.0):
        self._sync_in()
        with flush_denormals():  # see kernels/fpenv.py: subnormal optimizer state is ~100x slower
            out = self.trainer.epoch(X, Y, batch_size=batch_size, perm=perm, drop_last=drop_last,
                                     scale=scale, shift=shift)
        self.steps = self.trainer.step_count
        return out
