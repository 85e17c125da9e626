"""DistributedDataParallel: rank 0's weights at wrap, gradients averaged as one flat buffer per dtype."""
import contextlib

from ... import autograd
from ... import distributed as dist
from ..module import Module


class DistributedDataParallel(Module):
    """Wraps `module` (kept as `.module`, so state_dict keys carry torch's `module.` prefix).

    At construction every rank takes rank 0's parameters and buffers; after each backward() that
    follows a forward outside `no_sync()`, every parameter's grad becomes the average over ranks,
    through one all_reduce per dtype of a flat buffer holding all the grads.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, **kwargs):
        super().__init__()
        if not dist.is_initialized():
            raise ValueError("Default process group has not been initialized, please make sure to call "
                             "init_process_group.")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        self._queued = False
        self._flat = {}  # dtype -> flat buffer reused every step
        self._sync_params_and_buffers()

    def _sync_params_and_buffers(self):
        with autograd.no_grad():
            for p in self.module.parameters():
                dist.broadcast(p.data, src=0)
            self._sync_buffers()

    def _sync_buffers(self):
        for b in self.module.buffers():
            dist.broadcast(b, src=0)

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers and self.training:
            self._sync_buffers()
        if autograd.is_grad_enabled() and self.require_backward_grad_sync and not self._queued:
            self._queued = True
            autograd.queue_callback(self._allreduce_grads)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Inside: backward accumulates grads locally; the first backward after it averages the sum."""
        prev = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = prev

    def _groups(self):
        groups = {}
        for p in self.module.parameters():
            if p.requires_grad:
                groups.setdefault((p.backend.name, p._data.dtype), []).append(p)
        return groups

    def _allreduce_grads(self):
        """The post-backward callback: per dtype, pack grads, all_reduce AVG once, unpack."""
        from ...tensor import Tensor

        self._queued = False
        for key, params in self._groups().items():
            xp = params[0].backend.xp
            n = sum(p._data.size for p in params)
            flat = self._flat.get(key)
            if flat is None or flat.size != n:
                flat = self._flat[key] = xp.empty(n, dtype=key[1])
            off = 0
            for p in params:
                k = p._data.size
                flat[off:off + k] = 0 if p.grad is None else p.grad._data.reshape(-1)
                off += k
            dist.all_reduce(Tensor._wrap(flat, params[0].backend), op=dist.ReduceOp.AVG)
            off = 0
            for p in params:
                k = p._data.size
                if p.grad is None:
                    p.grad = Tensor._wrap(xp.zeros_like(p._data), p.backend)
                p.grad._data[...] = flat[off:off + k].reshape(p._data.shape)
                off += k
