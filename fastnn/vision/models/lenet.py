"""LeNet-5 (the padded-MNIST variant) and the pytorch/examples MNIST Net, as nn.Sequential models."""
from ... import nn


def lenet5(num_classes=10):
    """Conv(1,6,5,p2)-ReLU-MaxPool2-Conv(6,16,5)-ReLU-MaxPool2-Flatten-FC 400-120-84-num_classes."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes))


def mnist_net(num_classes=10):
    """pytorch/examples' MNIST Net: Conv(1,32,3)-ReLU-Conv(32,64,3)-ReLU-MaxPool2-Dropout(0.25)-Flatten-
    FC 9216-128-ReLU-Dropout(0.5)-FC 128-num_classes-LogSoftmax (train it with nll_loss)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, num_classes), nn.LogSoftmax(dim=1))
