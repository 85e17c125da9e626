# Learning-rate schedulers (pytorch.org/docs/stable/optim "How to adjust learning rate"): the
# scheduler.step() after optimizer.step() loop, get_last_lr(), chaining, ReduceLROnPlateau and a
# scheduler's state_dict.
import torch
from torch import nn
from torch.optim import SGD, Adam
from torch.optim.lr_scheduler import (ChainedScheduler, ConstantLR, CosineAnnealingLR,
                                      CosineAnnealingWarmRestarts, CyclicLR, ExponentialLR, LambdaLR,
                                      LinearLR, MultiplicativeLR, MultiStepLR, OneCycleLR, PolynomialLR,
                                      ReduceLROnPlateau, SequentialLR, StepLR)

model = nn.Linear(2, 1)


def run(make, steps=8, opt_cls=SGD, **opt_kw):
    optimizer = opt_cls(model.parameters(), lr=0.1, **opt_kw)
    scheduler = make(optimizer)
    lrs = []
    for epoch in range(steps):
        optimizer.step()
        scheduler.step()
        lrs.append(round(scheduler.get_last_lr()[0], 10))
    print(type(scheduler).__name__, lrs)
    return optimizer, scheduler


run(lambda o: StepLR(o, step_size=3, gamma=0.5))
run(lambda o: MultiStepLR(o, milestones=[2, 5], gamma=0.1))
run(lambda o: ExponentialLR(o, gamma=0.9))
run(lambda o: CosineAnnealingLR(o, T_max=6, eta_min=0.01))
run(lambda o: LambdaLR(o, lr_lambda=lambda epoch: 0.95 ** epoch))
run(lambda o: MultiplicativeLR(o, lr_lambda=lambda epoch: 0.8))
run(lambda o: LinearLR(o, start_factor=0.25, total_iters=4))
run(lambda o: ConstantLR(o, factor=0.5, total_iters=3))
run(lambda o: PolynomialLR(o, total_iters=6, power=2.0))
run(lambda o: CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001), steps=10)
run(lambda o: CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3), steps=10, momentum=0.9)
run(lambda o: OneCycleLR(o, max_lr=0.5, total_steps=10), steps=10, opt_cls=Adam)
run(lambda o: SequentialLR(o, schedulers=[ConstantLR(o, factor=0.1, total_iters=2),
                                           ExponentialLR(o, gamma=0.9)], milestones=[2]))
run(lambda o: ChainedScheduler([ConstantLR(o, factor=0.1, total_iters=2), ExponentialLR(o, gamma=0.9)]))

optimizer, scheduler = run(lambda o: StepLR(o, step_size=2, gamma=0.5), steps=3)
print(sorted(scheduler.state_dict().items()))
print(optimizer.param_groups[0]["lr"], optimizer.param_groups[0]["initial_lr"])

optimizer = SGD(model.parameters(), lr=0.1)
scheduler = ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=1)
for val_loss in [1.0, 0.9, 0.95, 0.97, 0.96, 0.8, 0.85, 0.86, 0.9]:
    optimizer.step()
    scheduler.step(val_loss)
    print(val_loss, optimizer.param_groups[0]["lr"], scheduler.num_bad_epochs)
