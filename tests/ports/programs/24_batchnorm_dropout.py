# BatchNorm and Dropout in train and eval mode (model.train() / model.eval()): running statistics,
# num_batches_tracked, eval-mode normalization with the running estimates, dropout's scaling by
# 1/(1-p) in training and identity in evaluation.
import torch
import torch.nn as nn

bn = nn.BatchNorm1d(3, momentum=0.1)
x = torch.tensor([[1.0, 2.0, 3.0], [3.0, 6.0, -1.0], [5.0, 1.0, 0.0], [7.0, 3.0, 2.0]])
print(bn)
bn.train()
y = bn(x)
print(y)
print(bn.running_mean, bn.running_var, bn.num_batches_tracked)
y = bn(2 * x)
print(bn.running_mean, bn.running_var, bn.num_batches_tracked)
bn.eval()
print(bn(x))
print(bn.training, bn.weight, bn.bias)

bn2 = nn.BatchNorm2d(2, affine=False, track_running_stats=True)
img = torch.arange(16.0).reshape(2, 2, 2, 2)
out = bn2(img)
print(out.mean(dim=(0, 2, 3)), bn2.running_mean, bn2.running_var)
print(bn2.state_dict().keys())

torch.manual_seed(0)
drop = nn.Dropout(p=0.25)
ones = torch.ones(1000)
drop.train()
z = drop(ones)
kept = z[z != 0]
print(torch.unique(kept), kept.numel() > 650, kept.numel() < 850)
drop.eval()
print(torch.equal(drop(ones), ones))

model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Dropout(0.5))
model.eval()
print([m.training for m in model.modules()])
model.train()
print([m.training for m in model.modules()])
