# Building models (the "Build the neural network" tutorial): printing a model, named_parameters,
# named_modules and children, Sequential from an OrderedDict, ModuleList, ModuleDict, ParameterList,
# parameter counts, freezing with requires_grad_(False), add_module and indexing Sequential.
from collections import OrderedDict

import torch
from torch import nn

model = nn.Sequential(OrderedDict([
    ("conv1", nn.Conv2d(1, 20, 5)),
    ("relu1", nn.ReLU()),
    ("conv2", nn.Conv2d(20, 64, 5)),
    ("relu2", nn.ReLU()),
]))
print(model)
print(model.conv1, model[2])


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


model = NeuralNetwork()
print(model)
print(f"Model structure: {model}\n\n")
for name, param in model.named_parameters():
    print(f"Layer: {name} | Size: {param.size()} | requires_grad: {param.requires_grad}")
print(sum(p.numel() for p in model.parameters()))
print([name for name, _ in model.named_modules()])
print([type(m).__name__ for m in model.children()])
X = torch.rand(1, 28, 28)
logits = model(X)
pred_probab = nn.Softmax(dim=1)(logits)
y_pred = pred_probab.argmax(1)
print(logits.shape, pred_probab.shape, y_pred.shape, y_pred.dtype)


class MultiHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
        self.heads = nn.ModuleDict({"cls": nn.Linear(4, 2), "reg": nn.Linear(4, 1)})
        self.scales = nn.ParameterList([nn.Parameter(torch.ones(4)) for _ in range(2)])
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x, head):
        for layer, scale in zip(self.layers, self.scales):
            x = self.act(layer(x)) * scale
        return self.heads[head](x)


net = MultiHead()
print(net)
print(len(net.layers), list(net.heads.keys()), len(net.scales))
print(list(net.state_dict().keys()))
print(net(torch.zeros(2, 4), "cls").shape, net(torch.zeros(2, 4), "reg").shape)
net.layers.requires_grad_(False)
print(sum(p.numel() for p in net.parameters() if p.requires_grad))
net.add_module("extra", nn.Tanh())
print([n for n, _ in net.named_children()])
seq = nn.Sequential(nn.Linear(2, 3), nn.GELU(), nn.LayerNorm(3), nn.Dropout(0.1), nn.Linear(3, 1))
print(seq, len(seq), seq[-1], seq[1:3])
print(nn.Embedding(10, 3, padding_idx=0), nn.BatchNorm2d(8), nn.MaxPool2d(2), nn.Unflatten(1, (2, 5)))
