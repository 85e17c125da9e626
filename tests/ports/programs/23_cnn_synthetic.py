# A small CNN trained on synthetic images (the "Training a classifier" tutorial's loop, on 12x12
# images of a horizontal or vertical bar plus noise instead of CIFAR-10). Images and initial weights
# come from a seeded NumPy generator, so both libraries print the same losses and accuracy.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

rng = np.random.default_rng(0)


def make_images(n):
    labels = rng.integers(0, 2, n)
    images = 0.3 * rng.standard_normal((n, 1, 12, 12)).astype(np.float32)
    pos = rng.integers(2, 10, n)
    for i in range(n):
        if labels[i] == 0:
            images[i, 0, pos[i], 2:10] += 1.0
        else:
            images[i, 0, 2:10, pos[i]] += 1.0
    return torch.from_numpy(images), torch.from_numpy(labels)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.fc1 = nn.Linear(8 * 2 * 2, 16)
        self.fc2 = nn.Linear(16, 2)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2, ceil_mode=True)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


net = Net()
state = {}
for name, value in net.state_dict().items():
    fan_in = value[0].numel() if value.dim() > 1 else 8
    state[name] = torch.from_numpy(rng.uniform(-1, 1, tuple(value.shape)).astype(np.float32) / np.sqrt(fan_in))
net.load_state_dict(state)
print(net)
print(sum(p.numel() for p in net.parameters()))

train_x, train_y = make_images(256)
test_x, test_y = make_images(128)
criterion = nn.CrossEntropyLoss()
optimizer = optim.Adam(net.parameters(), lr=0.01)

for epoch in range(4):
    running_loss = 0.0
    for i in range(0, 256, 32):
        inputs, labels = train_x[i:i + 32], train_y[i:i + 32]
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    print(f"[{epoch + 1}] loss: {running_loss / 8:.4f}")
print("Finished Training")

correct = 0
total = 0
with torch.no_grad():
    outputs = net(test_x)
    _, predicted = torch.max(outputs.data, 1)
    total += test_y.size(0)
    correct += (predicted == test_y).sum().item()
print(f"Accuracy of the network on the {total} test images: {100 * correct // total} %")
