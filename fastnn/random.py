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
