"""The NCCL group for cuda tensors: cupy.cuda.nccl communicator, its unique id broadcast over MPI."""
import numpy as np

from .group import ReduceOp


def _nccl_module():
    from ..backends import get_backend

    cp = get_backend("cuda").cp
    nccl = getattr(cp.cuda, "nccl", None)
    if nccl is None:
        from cupy.cuda import nccl  # the real module (needs nvidia-nccl-cu12: fastnn[gpu-dist])
    return cp, nccl


def _ptr(a):
    """The device address of a (C-contiguous) array."""
    data = getattr(a, "data", None)
    return data.ptr if hasattr(data, "ptr") else a.ctypes.data


class NcclGroup:
    """One NCCL communicator over the same ranks as an MPI communicator; ops run on the current stream."""

    def __init__(self, comm, device):
        self.cp, self.nccl = _nccl_module()
        dev = self.cp.cuda.Device(device)
        if hasattr(dev, "use"):
            dev.use()
        uid = self.nccl.get_unique_id() if comm.Get_rank() == 0 else None
        uid = comm.bcast(uid, root=0)  # the id is a small tuple of bytes: the one pickled message
        self.comm = self.nccl.NcclCommunicator(comm.Get_size(), uid, comm.Get_rank())
        self.size = comm.Get_size()

    def _dtype(self, dt):
        n = self.nccl
        table = {np.float32: n.NCCL_FLOAT32, np.float64: n.NCCL_FLOAT64, np.float16: n.NCCL_FLOAT16,
                 np.int32: n.NCCL_INT32, np.int64: n.NCCL_INT64, np.uint8: n.NCCL_UINT8,
                 np.int8: n.NCCL_INT8}
        if np.dtype(dt).type not in table:
            raise TypeError(f"NCCL has no type for {np.dtype(dt)}")
        return table[np.dtype(dt).type]

    def _op(self, op):
        n = self.nccl
        return {ReduceOp.SUM: n.NCCL_SUM, ReduceOp.AVG: n.NCCL_SUM, ReduceOp.PRODUCT: n.NCCL_PROD,
                ReduceOp.MAX: n.NCCL_MAX, ReduceOp.MIN: n.NCCL_MIN}[op]

    def _stream(self):
        return getattr(self.cp.cuda.get_current_stream(), "ptr", 0)

    def all_reduce(self, a, op):
        self.comm.allReduce(_ptr(a), _ptr(a), a.size, self._dtype(a.dtype), self._op(op), self._stream())

    def broadcast(self, a, root):
        self.comm.bcast(_ptr(a), a.size, self._dtype(a.dtype), root, self._stream())

    def all_gather(self, a, out):
        self.comm.allGather(_ptr(a), _ptr(out), a.size, self._dtype(a.dtype), self._stream())

    def reduce_scatter(self, send, out, op):
        self.comm.reduceScatter(_ptr(send), _ptr(out), out.size, self._dtype(out.dtype), self._op(op),
                                self._stream())

    def synchronize(self):
        self.cp.cuda.get_current_stream().synchronize()
