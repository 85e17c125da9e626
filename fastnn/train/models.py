"""The model zoo of `fastnn train`: plain MLPs as nn.Sequential (torch's state_dict keys 0.weight, 0.bias,
2.weight...) on flattened images, and the CNNs of fastnn.vision.models on (N, C, H, W) images."""

# name -> (layer widths, hidden activation). Inputs are flattened 28x28 images (784 features).
MLPS = {
    "mlp": ((784, 128, 64, 10), "relu"),
    "sigmoid-mlp": ((784, 256, 10), "sigmoid"),
}
# name -> (fastnn.vision.models factory, its description); inputs (N, C, H, W)
CNNS = {
    "lenet5": ("lenet5", "LeNet-5: conv 6@5x5 p2, pool, conv 16@5x5, pool, FC 400-120-84-10"),
    "mnist-net": ("mnist_net", "pytorch/examples MNIST Net: conv 32, conv 64, pool, dropout, FC 9216-128-10"),
    "resnet18": ("resnet18", "torchvision's ResNet-18 layout, 10 classes"),
}
ZOO = {**MLPS, **CNNS}


def is_cnn(name):
    return name in CNNS


def image_shape(dataset):
    """(C, H, W) of one image of the dataset: CIFAR-10 (3, 32, 32), the MNIST family (1, 28, 28)."""
    return (3, 32, 32) if dataset == "cifar10" else (1, 28, 28)


def model_spec(name):
    """(dims, activation) of a zoo MLP; unknown names are refused with the list of known ones."""
    if name not in ZOO:
        raise ValueError(f"unknown model '{name}' (choose from: {', '.join(ZOO)})")
    if name not in MLPS:
        raise ValueError(f"model '{name}' is a CNN, not an MLP")
    return MLPS[name]


def build_model(name, device="cpu", in_channels=1):
    """The zoo model on device, initialised like torch's layers (CNNs: fastnn.vision.models)."""
    from .. import nn

    if is_cnn(name):
        from ..vision import models

        factory = getattr(models, CNNS[name][0])
        if name == "resnet18":
            return factory(num_classes=10, in_channels=in_channels).to(device)
        if in_channels != 1:
            raise ValueError(f"model '{name}' takes 1-channel 28x28 images; use --model resnet18 for cifar10")
        return factory().to(device)
    dims, act = model_spec(name)
    layers = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(nn.ReLU() if act == "relu" else nn.Sigmoid())
    return nn.Sequential(*layers).to(device)


def expected_shapes(name, in_channels=1):
    """{state_dict key: shape} of a zoo model (an MLP's without building it)."""
    if is_cnn(name):
        return {k: tuple(v.shape) for k, v in build_model(name, "cpu", in_channels).state_dict().items()}
    dims, _ = model_spec(name)
    out = {}
    for i in range(len(dims) - 1):
        out[f"{2 * i}.weight"] = (dims[i + 1], dims[i])
        out[f"{2 * i}.bias"] = (dims[i + 1],)
    return out


def linear_layers(model):
    """The nn.Linear layers of a Sequential, in order."""
    from .. import nn

    return [m for m in model if isinstance(m, nn.Linear)]
