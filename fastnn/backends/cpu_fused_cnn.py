"""The cpu backend's fused CNN: orchestration of kernels/fused_cnn/cpu.py (Numba) over the caller's buffers.

`CPUFusedCNN(spec)` trains a FusedCNNSpec (backends/base.py) in place, as CPUFusedMLP (cpu_fused.py) does
a FusedMLPSpec, whose input and target checks, optimizer-state binding and row-shard choice it inherits:
here the program (kernels/fused_cnn/program.py) and its Workspace, and one `train_epoch` call per step or
per epoch. Inputs are images flattened to (N, C*H*W).
"""
import numpy as np

from fastnn.kernels.activation.codes import MODULES
from fastnn.kernels.fpenv import flush_denormals
from fastnn.kernels.fused_cnn.program import Program, Workspace

from .base import FusedMLPFeatures
from .cpu_fused import CPUFusedMLP

FEATURES = FusedMLPFeatures(activations=frozenset(MODULES.values()), losses=frozenset({"cross_entropy"}),
                            dtypes=frozenset({"float32", "float64"}), dropout=True, on_step=True)


class CPUFusedCNN(CPUFusedMLP):
    """step(x, y) / epoch(X, Y, batch_size, perm, drop_last, scale, shift) on images flattened to
    (N, C*H*W) NumPy arrays; attributes as CPUFusedMLP's (steps, seed, nthreads, clip_grad_norm)."""

    def __init__(self, spec):
        if spec.loss != "cross_entropy" or spec.reduction != "mean":
            raise ValueError(f"the cpu fused CNN supports cross_entropy with reduction 'mean', got {spec.loss!r} "
                             f"with {spec.reduction!r}")
        for a in list(spec.activations) + [d["act"] for d in spec.ops if d["op"] == "act"]:
            if a not in FEATURES.activations:
                raise ValueError(f"fused_cnn: unsupported activation {a!r} (expected one of "
                                 f"{sorted(FEATURES.activations)})")
        self.program = Program(spec.input_shape, spec.ops, spec.sizes, spec.bias)
        super().__init__(spec)
        self.dims = np.concatenate([[self.program.sizes[0]], self.program.head_dims[1:]]).astype(np.int64)

    def _layout(self):
        pr = self.program
        return pr.w_off, pr.b_off, pr.P

    def _workspace(self, rows, S):
        head = self.drop_p if len(self.program.head_dims) > 2 else None
        return Workspace(self.program, rows, self.dtype, head, shards=S)

    def _run(self, X, y_idx, y_val, perm, B, drop_last, scale, shift, nt, opt_code, hp):
        from fastnn.kernels.fused_cnn import cpu

        pr, ws, m = self.program, self.ws, self.ws.mlp
        with flush_denormals():
            return cpu.train_epoch(
                self.params, self._grads, self.state, X, y_idx, y_val, perm, B, bool(drop_last), float(scale),
                float(shift), hp, opt_code, self.steps, self.seed, pr.prog, pr.tabs, pr.probs, pr.sizes,
                np.int64(pr.conv_params), pr.head_dims, pr.w_off, pr.b_off, self.act_codes, self.drop_p,
                self.loss_code, ws.acts, ws.act_off, ws.idx, ws.dmask, ws.grad, ws.work, m.yb_idx, m.yb_val,
                m.acts, m.act_off, m.drops, m.drop_off, m.deltas, m.delta_off, m.tbuf, nt,
                float(self.clip_grad_norm or 0.0), True if pr.winograd else None, ws.lanes)
