"""cupy.cuda stand-in: Stream (context manager, begin/end_capture), Graph (launch/upload), Device."""
from . import _core
from ._core import StandinError, state, stats


def is_available():
    return True


class Graph:
    """A captured sequence of kernel launches; `launch()` replays them (same pointers and scalars)."""

    def __init__(self, launches):
        self._launches = list(launches)

    def __len__(self):
        return len(self._launches)

    def upload(self, stream=None):
        pass

    def launch(self, stream=None):
        if state.capturing is not None:
            raise StandinError("Graph.launch during a stream capture")
        stats.graph_launches += 1
        for launch in self._launches:
            stats.graph_kernel_launches += 1
            _core._run(launch)


class Stream:
    """A CUDA stream: `with stream:` makes it current; capture records its kernel launches."""

    null = None

    def __init__(self, null=False, non_blocking=False, ptds=False):
        self.null = null
        self._captured = None
        self._prev = []

    def __enter__(self):
        self._prev.append(state.current)
        state.current = self
        return self

    def __exit__(self, *exc):
        state.current = self._prev.pop()

    def use(self):
        state.current = self
        return self

    def synchronize(self):
        _core._sync("Stream.synchronize")

    def record(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def wait_event(self, event):
        pass  # the stand-in runs everything in order

    def is_capturing(self):
        return state.capturing is self

    def begin_capture(self, mode=None):
        if self.null:
            raise StandinError("cannot capture the null (legacy default) stream")
        if state.capturing is not None:
            raise StandinError("a stream capture is already active")
        self._captured = []
        state.capturing = self

    def end_capture(self):
        if state.capturing is not self:
            raise StandinError("end_capture on a stream that is not capturing")
        state.capturing = None
        graph, self._captured = Graph(self._captured), None
        return graph


Stream.null = Stream(null=True)


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        pass

    def record(self, stream=None):
        pass

    def synchronize(self):
        _core._sync("Event.synchronize")


def get_current_stream(device_id=None):
    return state.current if state.current is not None else Stream.null


class Device:
    def __init__(self, device=0):
        self.id = int(device)

    def synchronize(self):
        _core._sync("Device.synchronize")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    @property
    def compute_capability(self):
        return "80"


class runtime:  # noqa: N801 — the few cupy.cuda.runtime names the backend reads
    @staticmethod
    def getDeviceCount():
        return 1

    @staticmethod
    def getDeviceProperties(device):
        return {"name": b"cupy_standin (CPU emulator)", "major": 8, "minor": 0}
