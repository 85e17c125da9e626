"""SGD with momentum, dampening, Nesterov, weight decay and maximize (torch.optim.SGD's update)."""
from .optimizer import Optimizer, required


class SGD(Optimizer):
    _optim = "sgd"  # kernels/optim/table.py: only 'momentum_buffer' (when momentum != 0), no 'step'

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if lr is not required and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        if differentiable:
            raise NotImplementedError("SGD(differentiable=True): fastnn's optimizer steps are not recorded by "
                                      "autograd")
        # foreach and fused are accepted and kept in the group as torch does (its param_groups print
        # them): every step is already one kernel over a flat buffer
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable,
                        fused=fused)
        super().__init__(params, defaults)
