"""fastnn.vision.models (torchvision.models' place): lenet5, mnist_net, resnet18."""
from .lenet import lenet5, mnist_net
from .resnet import BasicBlock, ResNet, resnet18

__all__ = ["BasicBlock", "ResNet", "lenet5", "mnist_net", "resnet18"]
