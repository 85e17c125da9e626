"""Adagrad (lr decay, weight decay, initial accumulator) with torch.optim.Adagrad's update."""
from .optimizer import Optimizer


class Adagrad(Optimizer):
    _eager_state = True  # torch creates 'step' and 'sum' for every parameter at construction

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *,
                 maximize=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return ["sum"]

    def _init_value(self, name, group):
        return float(group["initial_accumulator_value"])

    def _update(self, group, backend, param, grad, state, step):
        backend.optimizer_step("adagrad_step", param, state["sum"], grad, int(step), float(group["lr"]),
                               float(group["lr_decay"]), float(group["weight_decay"]), float(group["eps"]),
                               bool(group["maximize"]))
