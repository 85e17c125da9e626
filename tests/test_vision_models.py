"""fastnn.vision.models: LeNet-5, the pytorch/examples MNIST Net and ResNet-18 against the same
architectures written in torch (torchvision's ResNet written out here: torchvision is not installed),
state_dict keys and shapes identical, a torch state_dict loads unchanged and gives the same outputs."""
import numpy as np
import pytest

import fastnn
from fastnn.vision import models

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
tnn = torch.nn


class TorchBasicBlock(tnn.Module):          # torchvision.models.resnet.BasicBlock, written out
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.relu = tnn.ReLU(inplace=True)
        self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class TorchResNet18(tnn.Module):            # torchvision.models.resnet18's layout
    def __init__(self, num_classes):
        super().__init__()
        self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1, self.relu = tnn.BatchNorm2d(64), tnn.ReLU(inplace=True)
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        planes_in, layers = 64, []
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            down = None
            if stride != 1 or planes_in != planes:
                down = tnn.Sequential(tnn.Conv2d(planes_in, planes, 1, stride, bias=False), tnn.BatchNorm2d(planes))
            layers.append(tnn.Sequential(TorchBasicBlock(planes_in, planes, stride, down),
                                         TorchBasicBlock(planes, planes)))
            planes_in = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool, self.fc = tnn.AdaptiveAvgPool2d((1, 1)), tnn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _lenet5_torch():
    return tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5),
                          tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(),
                          tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10))


def _mnist_net_torch():
    return tnn.Sequential(tnn.Conv2d(1, 32, 3, 1), tnn.ReLU(), tnn.Conv2d(32, 64, 3, 1), tnn.ReLU(),
                          tnn.MaxPool2d(2), tnn.Dropout(0.25), tnn.Flatten(), tnn.Linear(9216, 128), tnn.ReLU(),
                          tnn.Dropout(0.5), tnn.Linear(128, 10), tnn.LogSoftmax(dim=1))


def _load_and_compare(f, t, x, rtol=1e-9):
    f, t = f.double(), t.double()
    ts, fs = t.state_dict(), f.state_dict()
    assert [(k, tuple(v.shape)) for k, v in fs.items()] == [(k, tuple(v.shape)) for k, v in ts.items()]
    f.load_state_dict({k: fastnn.tensor(v.detach().numpy()) for k, v in ts.items()})
    f.eval(), t.eval()
    got = f(fastnn.tensor(x)).detach().numpy()
    want = t(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())


@pytest.mark.parametrize("name,make_torch,shape", [("lenet5", _lenet5_torch, (3, 1, 28, 28)),
                                                   ("mnist_net", _mnist_net_torch, (2, 1, 28, 28))])
def test_mnist_models_match_torch(name, make_torch, shape):
    t = make_torch()
    f = getattr(models, name)()
    assert repr(f) == repr(t)
    _load_and_compare(f, t, np.random.default_rng(0).standard_normal(shape))


def test_resnet18_loads_a_torchvision_layout_state_dict():
    torch.manual_seed(0)
    t = TorchResNet18(num_classes=10)
    with torch.no_grad():           # non-trivial running statistics, so eval-mode BN matters
        for m in t.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    f = models.resnet18(num_classes=10)
    assert sum(p.numel() for p in f.parameters()) == sum(p.numel() for p in t.parameters())
    _load_and_compare(f, t, np.random.default_rng(1).standard_normal((2, 3, 32, 32)))
