"""AdamW: Adam with decoupled weight decay (param *= 1 - lr * weight_decay), torch.optim.AdamW's update."""
from .adam import Adam


class AdamW(Adam):
    _optim = "adamw"  # kernels/optim/table.py: adam_step with decoupled=True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
