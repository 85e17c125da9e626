"""Global random state: manual_seed seeds every backend that has been (or will be) created."""
_seed = {"value": None}


def manual_seed(seed):
    """Seed the generators of every backend (cpu now; cuda when first used)."""
    from . import backends

    seed = int(seed)
    _seed["value"] = seed
    for be in list(backends._INSTANCES.values()):
        be.manual_seed(seed)
    if "cpu" not in backends._INSTANCES:
        backends.get_backend("cpu").manual_seed(seed)
    return seed


def initial_seed():
    return _seed["value"]


class Generator:
    """torch.Generator(device='cpu'): an independent random stream (NumPy's PCG64 underneath, so its
    numbers differ from torch's). Used by samplers, random_split and DataLoader(generator=...)."""

    def __init__(self, device="cpu"):
        from .dtypes import device as Device

        self.device = Device(device)
        self.seed()

    def manual_seed(self, seed):
        import numpy as np

        self._initial = int(seed)
        self.rng = np.random.default_rng(self._initial % 2 ** 64)
        return self

    def seed(self):
        """Seed from the OS's entropy; returns the seed."""
        import secrets

        self.manual_seed(secrets.randbits(63))
        return self._initial

    def initial_seed(self):
        return self._initial

    def get_state(self):
        """The stream's state as a uint8 tensor (JSON of the bit generator's state; no code on load)."""
        import json

        import numpy as np

        from .creation import from_numpy

        blob = json.dumps(self.rng.bit_generator.state).encode()
        return from_numpy(np.frombuffer(blob, dtype=np.uint8).copy())

    def set_state(self, new_state):
        import json

        import numpy as np

        self.rng.bit_generator.state = json.loads(bytes(np.asarray(new_state, dtype=np.uint8)).decode())
        return self


def numpy_generator(generator):
    """The NumPy Generator behind `generator`: a fastnn.Generator's stream, a numpy.random.Generator
    itself, or for None the global stream that fastnn.manual_seed seeds (the cpu backend's)."""
    import numpy as np

    from . import backends

    if generator is None:
        return backends.get_backend("cpu").rng
    if isinstance(generator, Generator):
        return generator.rng
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be a fastnn.Generator (or a numpy.random.Generator), got "
                    f"{type(generator).__name__}")
