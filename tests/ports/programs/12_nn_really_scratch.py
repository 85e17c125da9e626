# "What is torch.nn really?" (pytorch.org/tutorials/beginner/nn_tutorial), part 1: MNIST logistic
# regression from scratch with tensor operations only. The tutorial unpickles NumPy arrays of MNIST;
# here the same arrays come from the raw IDX files under data/MNIST/raw (the torchvision layout), and
# the initial weights come from a seeded NumPy generator so both libraries start from the same point.
import math

import numpy as np
import torch


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
print(x_train, y_train)
print(x_train.shape)
print(y_train.min(), y_train.max())

rng = np.random.default_rng(0)
weights = torch.from_numpy(rng.standard_normal((784, 10)).astype(np.float32)) / math.sqrt(784)
weights.requires_grad_()
bias = torch.zeros(10, requires_grad=True)


def log_softmax(x):
    return x - x.exp().sum(-1).log().unsqueeze(-1)


def model(xb):
    return log_softmax(xb @ weights + bias)


bs = 64  # batch size
xb = x_train[0:bs]  # a mini-batch from x
preds = model(xb)  # predictions
print(preds[0].detach(), preds.shape)


def nll(input, target):
    return -input[range(target.shape[0]), target].mean()


loss_func = nll
yb = y_train[0:bs]
print(loss_func(preds, yb).item())


def accuracy(out, yb):
    preds = torch.argmax(out, dim=1)
    return (preds == yb).float().mean()


print(accuracy(preds, yb))

lr = 0.5  # learning rate
epochs = 2  # how many epochs to train for

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
            weights -= weights.grad * lr
            bias -= bias.grad * lr
            weights.grad.zero_()
            bias.grad.zero_()
    print(epoch, loss.item())

print(loss_func(model(xb), yb).item(), accuracy(model(xb), yb).item())
with torch.no_grad():
    print(accuracy(model(x_valid), y_valid))
