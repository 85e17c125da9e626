"""The model zoo of `fastnn train`: plain MLPs as nn.Sequential (torch's state_dict keys 0.weight, 0.bias, 2.weight...)."""

# name -> (layer widths, hidden activation). Inputs are flattened 28x28 images (784 features).
ZOO = {
    "mlp": ((784, 128, 64, 10), "relu"),
    "sigmoid-mlp": ((784, 256, 10), "sigmoid"),
}


def model_spec(name):
    """(dims, activation) of a zoo model; unknown names are refused with the list of known ones."""
    if name not in ZOO:
        raise ValueError(f"unknown model '{name}' (choose from: {', '.join(ZOO)})")
    return ZOO[name]


def build_model(name, device="cpu"):
    """nn.Sequential(Linear, act, Linear, act, ..., Linear) on device, initialised like torch's Linear."""
    from .. import nn

    dims, act = model_spec(name)
    layers = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(nn.ReLU() if act == "relu" else nn.Sigmoid())
    return nn.Sequential(*layers).to(device)


def expected_shapes(name):
    """{state_dict key: shape} of a zoo model, without building it."""
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
