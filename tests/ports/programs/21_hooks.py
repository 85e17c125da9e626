# Hooks: forward hooks for feature extraction, a forward pre-hook that rescales the input, a full
# backward hook, Tensor.register_hook and retain_grad, and removing hooks with their handles.
import numpy as np
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
rng = np.random.default_rng(0)
model.load_state_dict({k: torch.from_numpy(rng.uniform(-1, 1, tuple(v.shape)).astype(np.float32))
                       for k, v in model.state_dict().items()})
x = torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 2.0]])

activation = {}


def get_activation(name):
    def hook(model, input, output):
        activation[name] = output.detach()
    return hook


h1 = model[0].register_forward_hook(get_activation("fc1"))
h2 = model[1].register_forward_hook(get_activation("relu"))
out = model(x)
print(sorted(activation), activation["fc1"].shape)
print(torch.equal(activation["relu"], activation["fc1"].clamp(min=0)))
print(out)


def double_input(module, args):
    return (args[0] * 2,)


h3 = model[0].register_forward_pre_hook(double_input)
out2 = model(x)
h3.remove()
print(torch.allclose(out2, model(2 * x)))

grads = []


def backward_hook(module, grad_input, grad_output):
    grads.append((module.__class__.__name__, [g.shape for g in grad_input if g is not None],
                  [g.shape for g in grad_output]))


h4 = model[2].register_full_backward_hook(backward_hook)
xr = x.clone().requires_grad_()
model(xr).sum().backward()
print(grads)
h1.remove()
h2.remove()
h4.remove()
activation.clear()
model(x)
print(activation)

# tensor hooks
v = torch.tensor([0.0, 1.0, 2.0], requires_grad=True)
h = v.register_hook(lambda grad: grad * 2)  # double the gradient
(v * v).sum().backward()
print(v.grad)
h.remove()
v.grad = None
(v * v).sum().backward()
print(v.grad)

a = torch.tensor([1.0, 2.0], requires_grad=True)
b = a * 3
b.retain_grad()
c = (b ** 2).sum()
c.backward()
print(b.grad, a.grad)
