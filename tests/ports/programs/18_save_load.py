# The "Save and load the model" tutorial and the "Saving and loading a general checkpoint" recipe:
# state_dict, torch.save / torch.load (weights_only), load_state_dict, eval(), checkpoints holding
# the optimizer state, and saving plain tensors and containers.
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.bn = nn.BatchNorm1d(8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


rng = np.random.default_rng(0)
x = torch.from_numpy(rng.standard_normal((5, 6)).astype(np.float32))
y = torch.tensor([0, 2, 1, 1, 0])
net = Net()
net.load_state_dict({k: torch.from_numpy(rng.uniform(-0.4, 0.4, tuple(v.shape)).astype(np.float32))
                     if "running" not in k and v.is_floating_point() else v for k, v in net.state_dict().items()})

print("Model's state_dict:")
for param_tensor in net.state_dict():
    print(param_tensor, "\t", net.state_dict()[param_tensor].size())

optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
for _ in range(3):
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    optimizer.step()
print("Optimizer's state_dict:")
for var_name in optimizer.state_dict():
    print(var_name, "\t", optimizer.state_dict()[var_name])

torch.save(net.state_dict(), "model_weights.pth")
model = Net()
model.load_state_dict(torch.load("model_weights.pth", weights_only=True))
model.eval()
net.eval()
print(torch.equal(model(x), net(x)), model.bn.num_batches_tracked)
print(model(x))

torch.save({
    "epoch": 3,
    "model_state_dict": net.state_dict(),
    "optimizer_state_dict": optimizer.state_dict(),
    "loss": loss,
}, "checkpoint.tar")

model = Net()
optimizer = optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
checkpoint = torch.load("checkpoint.tar", weights_only=True)
model.load_state_dict(checkpoint["model_state_dict"])
optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
epoch = checkpoint["epoch"]
loss = checkpoint["loss"]
print(epoch, loss)
print(sorted(checkpoint), sorted(checkpoint["optimizer_state_dict"]["state"]))
model.train()
for _ in range(2):
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
print(loss.item())

torch.save([torch.arange(4), {"w": torch.ones(2, 2, dtype=torch.float64)}], "tensors.pt")
print(torch.load("tensors.pt"))
