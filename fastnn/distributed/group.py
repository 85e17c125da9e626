"""The default process group: init from the MPI launcher (env:// RANK/WORLD_SIZE/LOCAL_RANK honoured)."""
import os

_NOT_INIT = ("Default process group has not been initialized, please make sure to call "
             "init_process_group.")


class ReduceOp:
    """torch.distributed.ReduceOp's members (as strings: compare with ==)."""
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


class _Group:
    """The state of one initialized group: its MPI communicator, rank, size and (nccl) NCCL group."""

    def __init__(self, backend, comm, local_rank):
        self.backend = backend
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.local_rank = local_rank
        self.nccl = None


_default = None


def is_available():
    return True


def is_mpi_available():
    try:
        from mpi4py import MPI  # noqa: F401
        return True
    except ImportError:
        return False


def is_nccl_available():
    try:
        from cupy.cuda import nccl  # noqa: F401
        return True
    except Exception:  # noqa: BLE001 — no cupy / no libnccl
        return False


def is_initialized():
    return _default is not None


def _group():
    if _default is None:
        raise ValueError(_NOT_INIT)
    return _default


def _env_int(name, given):
    if given is not None and given >= 0:
        return given
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else None


def _world_comm(MPI, rank, world_size):
    """COMM_WORLD, re-ranked so that rank r is RANK=r when the env (or the arguments) name ranks."""
    world = MPI.COMM_WORLD
    if world_size is not None and world_size != world.Get_size():
        raise RuntimeError(f"WORLD_SIZE={world_size} but the MPI launcher started {world.Get_size()} "
                           "process(es); launch with `mpiexec -n WORLD_SIZE python -m mpi4py ...`")
    if rank is None:
        return world.Dup()
    if not 0 <= rank < world.Get_size():
        raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {world.Get_size() - 1}]")
    return world.Split(0, rank)


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Join the default group: every process started by mpiexec; backend 'mpi' (CPU) or 'nccl' (cuda)."""
    global _default
    if _default is not None:
        raise ValueError("trying to initialize the default process group twice!")
    backend = (backend or "mpi").lower()
    if backend not in ("mpi", "nccl", "gloo"):
        raise ValueError(f"Invalid backend: '{backend}' (fastnn supports 'mpi' and 'nccl')")
    if init_method not in (None, "env://"):
        raise ValueError(f"init_method {init_method!r} is not supported: fastnn takes ranks from the MPI "
                         "launcher or env:// (RANK, WORLD_SIZE)")
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError("fastnn.distributed needs mpi4py and an MPI: pip install 'fastnn[dist]'") from e
    comm = _world_comm(MPI, _env_int("RANK", rank), _env_int("WORLD_SIZE", world_size))
    local = _env_int("LOCAL_RANK", None)
    if local is None:
        local = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
    g = _Group("gloo" if backend == "gloo" else backend, comm, local)
    if backend == "nccl":
        from .nccl import NcclGroup
        g.nccl = NcclGroup(comm, device_id if isinstance(device_id, int) else local)
    _default = g


def destroy_process_group(group=None):
    global _default
    if _default is not None:
        _default.comm.Free()
    _default = None


def get_backend(group=None):
    return _group().backend


def get_rank(group=None):
    """This process's rank in the default group (ValueError when not initialized)."""
    return _group().rank


def get_world_size(group=None):
    return _group().size


def get_node_local_rank(fallback_rank=None):
    if _default is not None:
        return _default.local_rank
    v = os.environ.get("LOCAL_RANK")
    if v is not None:
        return int(v)
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError("LOCAL_RANK is not in the environment. Consider passing fallback_rank to allow "
                       "`get_node_local_rank` to work, assuming you are not running in a multi-device "
                       "context and want the code to run locally instead.")
