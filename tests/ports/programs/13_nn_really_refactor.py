# "What is torch.nn really?" part 2: the same model refactored step by step into torch.nn.functional,
# nn.Module with nn.Parameter, nn.Linear, torch.optim, TensorDataset, DataLoader and a validation loop
# (get_data / loss_batch / fit). Weights come from a seeded NumPy generator through load_state_dict,
# and the training loader does not shuffle, so both libraries see the same batches.
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset


def read_idx(path):
    raw = np.fromfile(path, dtype=np.uint8)
    ndim = raw[3]
    dims = raw[4:4 + 4 * ndim].view(">u4").astype(np.int64)
    return raw[4 + 4 * ndim:].reshape(dims)


images = read_idx("data/MNIST/raw/train-images-idx3-ubyte")
labels = read_idx("data/MNIST/raw/train-labels-idx1-ubyte")
x_train, y_train, x_valid, y_valid = map(
    torch.tensor,
    (images[:2000].reshape(-1, 784).astype(np.float32) / 255, labels[:2000].astype(np.int64),
     images[-1000:].reshape(-1, 784).astype(np.float32) / 255, labels[-1000:].astype(np.int64)))
n, c = x_train.shape
rng = np.random.default_rng(0)
W0 = rng.standard_normal((784, 10)).astype(np.float32) / math.sqrt(784)

loss_func = F.cross_entropy
bs, lr, epochs = 64, 0.5, 2


class Mnist_Logistic(nn.Module):
    def __init__(self):
        super().__init__()
        self.weights = nn.Parameter(torch.randn(784, 10) / math.sqrt(784))
        self.bias = nn.Parameter(torch.zeros(10))

    def forward(self, xb):
        return xb @ self.weights + self.bias


model = Mnist_Logistic()
model.load_state_dict({"weights": torch.from_numpy(W0), "bias": torch.zeros(10)})
xb, yb = x_train[0:bs], y_train[0:bs]
print(loss_func(model(xb), yb))


def fit():
    for epoch in range(epochs):
        for i in range((n - 1) // bs + 1):
            start_i = i * bs
            end_i = start_i + bs
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            pred = model(xb)
            loss = loss_func(pred, yb)

            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= p.grad * lr
                model.zero_grad()


fit()
print(loss_func(model(xb), yb))


class Mnist_Logistic(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(784, 10)

    def forward(self, xb):
        return self.lin(xb)


def get_model():
    model = Mnist_Logistic()
    model.load_state_dict({"lin.weight": torch.from_numpy(W0.T.copy()), "lin.bias": torch.zeros(10)})
    return model, optim.SGD(model.parameters(), lr=lr)


model, opt = get_model()
print(model)
print(loss_func(model(xb), yb))
for epoch in range(epochs):
    for i in range((n - 1) // bs + 1):
        xb = x_train[i * bs: i * bs + bs]
        yb = y_train[i * bs: i * bs + bs]
        loss = loss_func(model(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
print(loss_func(model(xb), yb))

train_ds = TensorDataset(x_train, y_train)
print(len(train_ds), [t.shape for t in train_ds[0]])


def get_data(train_ds, valid_ds, bs):
    return (
        DataLoader(train_ds, batch_size=bs, shuffle=False),
        DataLoader(valid_ds, batch_size=bs * 2),
    )


def loss_batch(model, loss_func, xb, yb, opt=None):
    loss = loss_func(model(xb), yb)
    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()
    return loss.item(), len(xb)


def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
    for epoch in range(epochs):
        model.train()
        for xb, yb in train_dl:
            loss_batch(model, loss_func, xb, yb, opt)

        model.eval()
        with torch.no_grad():
            losses, nums = zip(*[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl])
        val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)
        print(epoch, f"{val_loss:.6f}")


valid_ds = TensorDataset(x_valid, y_valid)
train_dl, valid_dl = get_data(train_ds, valid_ds, bs)
print(len(train_dl), len(valid_dl))
model, opt = get_model()
fit(epochs, model, loss_func, opt, train_dl, valid_dl)
