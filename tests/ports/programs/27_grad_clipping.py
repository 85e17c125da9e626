# Gradient clipping in a training step (torch.nn.utils.clip_grad_norm_ / clip_grad_value_) and
# flattening parameters with parameters_to_vector / vector_to_parameters.
import torch
import torch.nn as nn
from torch.nn.utils import clip_grad_norm_, clip_grad_value_, parameters_to_vector, vector_to_parameters

model = nn.Linear(3, 2)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]))
    model.bias.copy_(torch.tensor([0.5, -0.5]))
x = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]])
target = torch.tensor([[10.0, -10.0], [5.0, 5.0]])

loss = nn.functional.mse_loss(model(x), target, reduction="sum")
loss.backward()
print(model.weight.grad, model.bias.grad)
total_norm = clip_grad_norm_(model.parameters(), max_norm=1.0)
print(total_norm)
print(model.weight.grad, model.bias.grad)
print(torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()])))

model.zero_grad()
nn.functional.mse_loss(model(x), target, reduction="sum").backward()
clip_grad_value_(model.parameters(), clip_value=5.0)
print(model.weight.grad, model.bias.grad)

model.zero_grad()
nn.functional.mse_loss(model(x), target, reduction="sum").backward()
print(clip_grad_norm_(model.parameters(), max_norm=2.0, norm_type=float("inf")))
print(model.weight.grad)

optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
optimizer.step()
vec = parameters_to_vector(model.parameters())
print(vec)
vector_to_parameters(torch.arange(8.0), model.parameters())
print(model.weight, model.bias)
