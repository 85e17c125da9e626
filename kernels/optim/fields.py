"""Compatibility names for kernels/optim/table.py (the optimizers' one table): OPT, HP_FIELDS, HP_N,
pack_hparams, device_hp."""
from .table import HP_N, OPT, UPDATES, device_hp, field_values, pack_hparams  # noqa: F401

# update kernel's base name ('sgd', 'adam', ...) -> ((field, default), ...)
HP_FIELDS = {u[:-len("_step")]: tuple(zip([f for f, _ in d.fields], field_values(d.name, {})))
             for u, d in UPDATES.items()}
