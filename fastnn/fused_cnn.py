"""Fused training of a Sequential CNN (Conv2d / activation / MaxPool2d / Dropout per image, Flatten, a
plain-MLP head, cross-entropy): forward, loss, backward and the optimizer update in one compiled call per
step or per epoch, sharing weights and optimizer state with the eager model and optimizer, as FusedMLP
(fastnn/fused.py) does for MLPs. Device-agnostic: the backend's `fused_cnn(spec)` does the work (cpu:
kernels/fused_cnn; backends without one, cuda included, give a reason and training stays eager).

    fc = FusedCNN(model, loss_fn, optimizer, input_shape=(1, 28, 28))
    loss, acc = fc.epoch(X, Y, batch_size=64, perm=...)     # X (N, C, H, W) or flattened (N, C*H*W)

The head may end in LogSoftmax(dim=1) when the loss is CrossEntropyLoss or NLLLoss: log_softmax is
idempotent, so both equal cross-entropy on the logits before it, which is what the kernel computes.
"""
from . import nn
from .backends.base import FusedCNNSpec
from .fused import FusedMLP, _loss_name, mlp_layers, optimizer_reason

_PLAIN_ACTS = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}


def _conv_op(m):
    if m.padding_mode != "zeros":
        return f"Conv2d with padding_mode={m.padding_mode!r} (the fused CNN pads with zeros)"
    pad = m.padding
    if isinstance(pad, str):
        if pad != "valid":
            return f"Conv2d with padding={pad!r}"
        pad = (0, 0)
    return {"op": "conv", "C": m.in_channels, "O": m.out_channels, "KH": m.kernel_size[0],
            "KW": m.kernel_size[1], "stride": m.stride, "padding": pad, "dilation": m.dilation,
            "groups": m.groups, "bias": m.bias is not None}


def _op(m):
    """The program op of one per-image module, or a reason string."""
    if type(m) is nn.Conv2d:
        return _conv_op(m)
    if type(m) in _PLAIN_ACTS:
        return {"op": "act", "act": _PLAIN_ACTS[type(m)]}
    if type(m) is nn.MaxPool2d:
        if m.return_indices:
            return "MaxPool2d with return_indices=True"
        return {"op": "maxpool", "kernel": m.kernel_size, "stride": m.stride, "padding": m.padding,
                "dilation": m.dilation, "ceil_mode": bool(m.ceil_mode)}
    if type(m) is nn.Dropout:
        return {"op": "dropout", "p": float(m.p) if m.training else 0.0}
    return f"{type(m).__name__} (the fused CNN takes Conv2d, ReLU/Sigmoid/Tanh, MaxPool2d, Dropout, Flatten)"


def cnn_layers(model, loss_fn):
    """(ops, head layers as fused.mlp_layers gives them, loss name) of a fusable CNN, or a reason string."""
    if not isinstance(model, nn.Sequential):
        return f"the model is a {type(model).__name__}, not an nn.Sequential"
    mods = list(model)
    flat = [i for i, m in enumerate(mods) if isinstance(m, nn.Flatten)]
    if not flat or not any(type(m) is nn.Conv2d for m in mods[:flat[0]]):
        return "the model has no Conv2d layers before a Flatten"
    fl = mods[flat[0]]
    if fl.start_dim != 1 or fl.end_dim != -1:
        return f"Flatten(start_dim={fl.start_dim}, end_dim={fl.end_dim}) (the fused CNN flattens dims 1..-1)"
    ops = []
    for m in mods[:flat[0]]:
        op = _op(m)
        if isinstance(op, str):
            return op
        ops.append(op)
    head = mods[flat[0] + 1:]
    log_softmax = bool(head) and isinstance(head[-1], nn.LogSoftmax)
    if log_softmax:
        if head[-1].dim not in (1, -1):
            return f"LogSoftmax(dim={head[-1].dim}) (the fused CNN takes dim=1)"
        head = head[:-1]
    if log_softmax and isinstance(loss_fn, nn.NLLLoss):
        plain = loss_fn.weight is None and loss_fn.ignore_index == -100 and loss_fn.reduction == "mean"
        loss = "cross_entropy" if plain else "NLLLoss with weight/ignore_index/reduction"
    else:
        loss = _loss_name(loss_fn)
    if loss != "cross_entropy":
        return f"unsupported {loss} (the fused CNN trains cross-entropy, or LogSoftmax + NLLLoss)"
    layers = mlp_layers(head)
    if isinstance(layers, str):
        return f"head after Flatten: {layers}"
    return ops, layers, loss


def fused_cnn_unsupported_reason(model, loss_fn, optimizer, input_shape):
    """None when FusedCNN can train (model, loss_fn, optimizer) on images of input_shape (C, H, W)."""
    from fastnn.kernels.fused_cnn.program import Program

    parsed = cnn_layers(model, loss_fn)
    if isinstance(parsed, str):
        return parsed
    ops, (sizes, acts, bias, drops), loss = parsed
    conv_acts = [d["act"] for d in ops if d["op"] == "act"]
    conv_drops = [d["p"] for d in ops if d["op"] == "dropout"]
    reason = optimizer_reason(model, optimizer, "fused_cnn_features", "fused CNN", acts + conv_acts,
                              drops + conv_drops, loss)
    if reason is not None:
        return reason
    try:
        Program(input_shape, ops, sizes, bias)
    except ValueError as e:
        return str(e)
    return None


class FusedCNN(FusedMLP):
    """One compiled call per training step (`step`) or per epoch (`epoch`) for a Sequential CNN; the rest
    (seed, step count, clipping, on_step, perm) is FusedMLP's."""

    features_attr = "fused_cnn_features"

    def __init__(self, model, loss_fn, optimizer, input_shape):
        reason = fused_cnn_unsupported_reason(model, loss_fn, optimizer, input_shape)
        if reason is not None:
            raise ValueError(f"FusedCNN cannot train this model: {reason}")
        ops, (sizes, acts, bias, drops), loss = cnn_layers(model, loss_fn)
        self._bind(model, optimizer, drops + [d["p"] for d in ops if d["op"] == "dropout"])
        self.spec = FusedCNNSpec(sizes=sizes, activations=acts, bias=bias, dropout=drops, loss=loss,
                                 optimizer=self.name, hparams=self.group, params=self.buf.flat,
                                 state=self.buf.state, step=self.buf.steps[0],
                                 input_shape=tuple(int(v) for v in input_shape), ops=tuple(ops))
        self.impl = self.backend.fused_cnn(self.spec)
        self.clip_grad_norm = None
