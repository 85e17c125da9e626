"""Adadelta (rho, eps, weight decay, maximize) with torch.optim.Adadelta's update."""
from .optimizer import Optimizer


class Adadelta(Optimizer):
    _optim = "adadelta"  # kernels/optim/table.py: 'step', 'square_avg', 'acc_delta'

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if differentiable:
            raise NotImplementedError("Adadelta(differentiable=True): fastnn's optimizer steps are not recorded "
                                      "by autograd")
        # foreach and capturable are accepted and kept in the group as torch does: every step is already
        # one kernel over a flat buffer, and the cuda fused path captures it into a graph
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)
