"""The one table from fastnn's autograd Functions to torch's backward-node names (`grad_fn.name()`).

A fastnn op class may stand for several torch nodes (Activation is relu, sigmoid or tanh; MatMul is
mm, mv, dot or bmm), so an entry is either the torch name or a rule `(fn, kw) -> name` reading the
node's forward keywords `kw` and its tensor inputs `fn.inputs`. A class missing from the table is
named `<Class>Backward0`. Where torch decomposes an op into several nodes (std, var, norm,
masked_fill, einsum, ...) the name is fastnn's own node's: the last node torch records differs.
"""


class NodeName(str):
    """A backward node's name: a str (f"{fn.name}" in messages) that is also callable like torch's
    `grad_fn.name()`."""

    def __call__(self):
        return str(self)


def _scalar(t):
    """A Python number wrapped by the arithmetic operators (0-d, outside autograd)."""
    return t.ndim == 0 and not t.requires_grad


def _by_reduction(names):
    return lambda fn, kw: names[kw.get("reduction", "mean")]


def _sub(fn, kw):
    a, b = fn.inputs
    return "RsubBackward1" if _scalar(a) and not _scalar(b) else "SubBackward0"


def _pow(fn, kw):
    a, b = fn.inputs
    if _scalar(b):
        return "PowBackward0"
    return "PowBackward2" if _scalar(a) else "PowBackward1"


def _matmul(fn, kw):
    nd = tuple(t.ndim for t in fn.inputs)
    return {(2, 2): "MmBackward0", (2, 1): "MvBackward0", (1, 1): "DotBackward0", (3, 3): "BmmBackward0",
            (1, 2): "SqueezeBackward4"}.get(nd, "UnsafeViewBackward0")


def _linear(fn, kw):
    """torch's F.linear: addmm for 2-D input, else a flattened addmm viewed back (contiguous input) or
    matmul then add; without bias mm, or matmul's own node."""
    x, bias = fn.inputs[0], len(fn.inputs) == 3
    if x.ndim == 2:
        return "AddmmBackward0" if bias else "MmBackward0"
    if bias:
        return "ViewBackward0" if x.is_contiguous() else "AddBackward0"
    return "SqueezeBackward4" if x.ndim == 1 else "UnsafeViewBackward0"


def _reshape(fn, kw):
    """view/reshape/flatten ViewBackward0 (UnsafeViewBackward0 when a copy is needed); squeeze and
    unsqueeze are told apart by the shapes: only size-1 dims dropped or one inserted."""
    x = fn.inputs[0]
    old, new = tuple(x.shape), tuple(n for n in kw["shape"])
    if -1 not in new and len(new) == len(old) + 1 and 1 in new:
        k = new.index(1)
        if new[:k] + new[k + 1:] == old:
            return "UnsqueezeBackward0"
    if -1 not in new and len(new) < len(old) and tuple(n for n in old if n != 1) == tuple(n for n in new if n != 1):
        return "SqueezeBackward0" if 1 not in new else "SqueezeBackward1"
    return "ViewBackward0" if x.is_contiguous() else "UnsafeViewBackward0"


def _permute(fn, kw):
    dims = tuple(kw["dims"])
    moved = [i for i, d in enumerate(dims) if i != d]
    if len(moved) == 2:
        return "TBackward0" if len(dims) == 2 else "TransposeBackward0"
    return "PermuteBackward0"


def _getitem(fn, kw):
    index = kw["index"]
    parts = index if isinstance(index, tuple) else (index,)
    if any(hasattr(p, "shape") or isinstance(p, (list, bool)) for p in parts):
        return "IndexBackward0"
    if any(isinstance(p, slice) for p in parts):
        return "SliceBackward0"
    return "SelectBackward0" if any(isinstance(p, int) for p in parts) else "AliasBackward0"


_UNARY = {"log1p": "Log1PBackward0", "square": "PowBackward0"}
_POINTWISE = {"leaky_relu": "LeakyReluBackward0", "elu": "EluBackward0", "gelu": "GeluBackward0",
              "silu": "SiluBackward0", "mish": "MishBackward0", "softplus": "SoftplusBackward0",
              "hardtanh": "HardtanhBackward0"}

# fastnn Function class name -> torch's node name, or a rule (fn, forward keywords) -> name
GRAD_FN_NAMES = {
    "Sub": _sub,
    "Pow": _pow,
    "Clamp": lambda fn, kw: "ClampBackward0" if len(fn.inputs) > 1 else "ClampBackward1",
    "Unary": lambda fn, kw: _UNARY.get(kw["op"], kw["op"].capitalize() + "Backward0"),
    "Activation": lambda fn, kw: kw["act"].capitalize() + "Backward0",
    "Pointwise": lambda fn, kw: _POINTWISE[kw["op"]],
    "PReLU": "PreluKernelBackward0",
    "Softmax": lambda fn, kw: "LogSoftmaxBackward0" if kw.get("log") else "SoftmaxBackward0",
    "Sum": lambda fn, kw: "SumBackward0" if kw.get("dim") is None else "SumBackward1",
    "Mean": lambda fn, kw: "MeanBackward0" if kw.get("dim") is None else "MeanBackward1",
    "Prod": lambda fn, kw: "ProdBackward0" if kw.get("dim") is None else "ProdBackward1",
    "MaxAll": lambda fn, kw: "MinBackward1" if kw.get("minimum") else "MaxBackward1",
    "MaxDim": lambda fn, kw: "MinBackward0" if kw.get("minimum") else "MaxBackward0",
    "Maximum": lambda fn, kw: "MinimumBackward0" if kw.get("minimum") else "MaximumBackward0",
    "TopK": "TopkBackward0",
    "MatMul": _matmul,
    "Linear": _linear,
    "Reshape": _reshape,
    "Permute": _permute,
    "GetItem": _getitem,
    "Copy": "CloneBackward0",
    "Cast": "ToCopyBackward0",
    "ToDevice": "ToCopyBackward0",
    "Diag": lambda fn, kw: "DiagEmbedBackward0" if fn.inputs[0].ndim == 1 else "DiagonalBackward0",
    "Pad": lambda fn, kw: "ConstantPadNdBackward0" if kw.get("mode", "constant") == "constant" else "PadBackward0",
    "Normalize": "DivBackward0",
    "CrossEntropyLoss": lambda fn, kw: "AddBackward0" if kw.get("label_smoothing") else "NllLossBackward0",
    "SoftCrossEntropyLoss": lambda fn, kw: "DivBackward1" if kw.get("reduction", "mean") == "mean" else "NegBackward0",
    "NLLLoss": "NllLossBackward0",
    "MSELoss": "MseLossBackward0",
    "L1Loss": _by_reduction({"mean": "MeanBackward0", "sum": "SumBackward0", "none": "AbsBackward0"}),
    "BCELoss": "BinaryCrossEntropyBackward0",
    "BCEWithLogitsLoss": "BinaryCrossEntropyWithLogitsBackward0",
    "SmoothL1Loss": lambda fn, kw: "HuberLossBackward0" if kw.get("huber") else "SmoothL1LossBackward0",
    "KLDivLoss": lambda fn, kw: {"batchmean": "DivBackward0", "mean": "MeanBackward0", "sum": "SumBackward0"}.get(
        kw.get("reduction", "mean"), "MulBackward0" if kw.get("log_target") else "SubBackward0"),
    "CosineEmbeddingLoss": _by_reduction({"mean": "MeanBackward0", "sum": "SumBackward0", "none": "WhereBackward0"}),
    "MarginRankingLoss": _by_reduction({"mean": "MeanBackward0", "sum": "SumBackward0", "none": "ClampMinBackward0"}),
    "Dropout": "MulBackward0",
    "ChannelDropout": "MulBackward0",
    "BatchNorm": "NativeBatchNormBackward0",
    "GroupNorm": "NativeGroupNormBackward0",
    "LayerNorm": "NativeLayerNormBackward0",
    "Conv2d": "ConvolutionBackward0",
    "MaxPool": "MaxPool2DWithIndicesBackward0",
    "AvgPool": "AvgPool2DBackward0",
}


def node_name(fn):
    """torch's name for backward node `fn` (an autograd.Function instance)."""
    rule = GRAD_FN_NAMES.get(type(fn).__name__)
    if rule is None:
        return NodeName(type(fn).__name__ + "Backward0")
    return NodeName(rule if isinstance(rule, str) else rule(fn, getattr(fn, "forward_kwargs", {})))


class AccumulateGrad:
    """The node torch lists in `next_functions` for a leaf that requires grad (`.variable` is the leaf)."""

    def __init__(self, variable):
        self.variable = variable
        self.next_functions = ()

    def name(self):
        return "torch::autograd::AccumulateGrad"

    def __repr__(self):
        return f"<AccumulateGrad object at {id(self):#x}>"


def next_functions(fn):
    """((node, 0), ...) per tensor input: its grad_fn, an AccumulateGrad for a leaf requiring grad,
    else None (fastnn's graph: one node per fastnn op, not torch's decomposition)."""
    out = []
    for t in fn.inputs:
        if t.grad_fn is not None:
            out.append((t.grad_fn, 0))
        elif t.requires_grad:
            node = t.__dict__.get("_accumulate_grad")
            if node is None:
                node = t.__dict__["_accumulate_grad"] = AccumulateGrad(t)
            out.append((node, 0))
        else:
            out.append((None, 0))
    return tuple(out)
