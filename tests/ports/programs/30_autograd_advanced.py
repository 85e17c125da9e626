# torch.autograd beyond backward(): autograd.grad, higher-order derivatives with create_graph,
# set_grad_enabled, inference_mode, no_grad as a decorator, enable_grad, and backward into leaves.
import torch

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = (x ** 3).sum()
(g,) = torch.autograd.grad(y, x, create_graph=True)
print(g)                                  # 3x^2
(g2,) = torch.autograd.grad(g.sum(), x)
print(g2)                                 # 6x

a = torch.tensor(2.0, requires_grad=True)
b = torch.tensor(5.0, requires_grad=True)
out = a * a * b
da, db = torch.autograd.grad(out, (a, b))
print(da, db)

torch.autograd.backward([(a * 3), (b * b)], [torch.tensor(1.0), torch.tensor(2.0)])
print(a.grad, b.grad)

with torch.set_grad_enabled(False):
    z = x * 2
print(z.requires_grad, torch.is_grad_enabled())

with torch.inference_mode():
    w = x * 2
print(w.requires_grad)


@torch.no_grad()
def evaluate(t):
    return t * 2


print(evaluate(x).requires_grad)
with torch.no_grad():
    with torch.enable_grad():
        e = x * 2
print(e.requires_grad)
