# Weight initialization with torch.nn.init (the "model.apply(init_weights)" idiom): deterministic
# initializers by value, random ones by their closed-form ranges, means and standard deviations.
import math

import torch
import torch.nn as nn

print(nn.init.calculate_gain("relu"), nn.init.calculate_gain("tanh"), nn.init.calculate_gain("sigmoid"))
print(nn.init.calculate_gain("leaky_relu", 0.2), nn.init.calculate_gain("selu"))

w = torch.empty(3, 5)
nn.init.constant_(w, 0.3)
print(w)
nn.init.ones_(w)
print(w.sum())
nn.init.zeros_(w)
print(w.abs().sum())
nn.init.eye_(w)
print(w)

torch.manual_seed(0)
w = torch.empty(200, 300)
nn.init.uniform_(w, a=-0.5, b=0.25)
print(w.min().item() >= -0.5, w.max().item() < 0.25, abs(w.mean().item() + 0.125) < 0.01)
nn.init.normal_(w, mean=1.0, std=0.5)
print(abs(w.mean().item() - 1.0) < 0.01, abs(w.std().item() - 0.5) < 0.01)

bound = math.sqrt(6 / (300 + 200))
nn.init.xavier_uniform_(w)
print(w.abs().max().item() <= bound, w.abs().max().item() > 0.99 * bound)
nn.init.xavier_normal_(w, gain=2.0)
print(abs(w.std().item() - 2.0 * math.sqrt(2 / 500)) < 0.002)
nn.init.kaiming_uniform_(w, a=0, mode="fan_in", nonlinearity="relu")
print(w.abs().max().item() <= math.sqrt(6 / 300), w.abs().max().item() > 0.99 * math.sqrt(6 / 300))
nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
print(abs(w.std().item() - math.sqrt(2 / 200)) < 0.002)


def init_weights(m):
    if isinstance(m, nn.Linear):
        torch.nn.init.xavier_uniform_(m.weight)
        m.bias.data.fill_(0.01)


net = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 4))
net.apply(init_weights)
print([m.bias.sum().item() for m in net if isinstance(m, nn.Linear)])
print(net[0].weight.abs().max().item() <= math.sqrt(6 / 50))

# the default init of nn.Linear and nn.Conv2d: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
lin = nn.Linear(400, 10)
conv = nn.Conv2d(3, 8, 5)
print(lin.weight.abs().max().item() <= 1 / math.sqrt(400), lin.bias.abs().max().item() <= 1 / math.sqrt(400))
print(conv.weight.abs().max().item() <= 1 / math.sqrt(75), conv.weight.shape, conv.bias.shape)
