"""SGD with momentum, dampening, Nesterov, weight decay and maximize (torch.optim.SGD's update)."""
from .optimizer import Optimizer, required


class SGD(Optimizer):
    _has_step = False  # torch keeps only 'momentum_buffer' (when momentum != 0)

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False):
        if lr is not required and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return ["momentum_buffer"] if group["momentum"] != 0 else []

    def _counts_step(self, group):
        return group["momentum"] != 0  # 'step' here = updates of the momentum buffer (first one copies grad)

    def _update(self, group, backend, param, grad, state, step):
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = backend.xp.empty(0, dtype=param.dtype)
        backend.optimizer_step("sgd_step", param, buf, grad, int(step), float(group["lr"]),
                               float(group["momentum"]), float(group["dampening"]), float(group["weight_decay"]),
                               bool(group["nesterov"]), bool(group["maximize"]))
