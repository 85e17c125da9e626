# The names of the autograd graph's nodes, as the tutorials print them ("Gradient function for z =
# <AddBackward0 object at 0x...>", "grad_fn=<AddmmBackward0>").
import torch
import torch.nn as nn
import torch.nn.functional as F

x = torch.ones(5)
y = torch.zeros(3)
w = torch.ones(5, 3, requires_grad=True)
b = torch.zeros(3, requires_grad=True)
z = torch.matmul(x, w) + b
loss = F.binary_cross_entropy_with_logits(z, y)
print(f"Gradient function for z = {z.grad_fn}")
print(f"Gradient function for loss = {loss.grad_fn}")

lin = nn.Linear(5, 3)
print(lin(torch.ones(2, 5)).grad_fn, lin(torch.ones(5)).grad_fn)
h = torch.ones(2, 3, requires_grad=True)
for out in [h * 2, h - 1, h / 2, h.sum(), h.mean(), h.exp(), h.relu(), torch.sigmoid(h), torch.tanh(h),
            h.view(6), h.t(), h[0], F.softmax(h, dim=1), F.log_softmax(h, dim=1), h @ h.t(), h.pow(2)]:
    print(out.grad_fn)
print(z)
