"""Each port program's comparison rule and closed-form checks (read by tests/test_ports.py).

Port(default, close=, shape=, exact=, rtol=, atol=, mnist=, checks=): `default` is the mode of every
line not selected otherwise; `close`/`shape`/`exact` select lines of torch's output by 1-based line
number (int or range) or by regex (str, searched in torch's line). Random values are `shape` lines;
computed floats are `close` lines (see compare.py). `checks` are closed forms asserted on the output
of every library that runs the program (fastnn's always, torch's when installed, which also proves
the check right); they are what holds when torch is absent.
"""
import math
import re
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Port:
    default: str = "exact"
    close: list = field(default_factory=list)
    shape: list = field(default_factory=list)
    exact: list = field(default_factory=list)
    rtol: float = 1e-5
    atol: float = 0.0
    mnist: bool = False
    checks: list = field(default_factory=list)

    def mode_of(self, ref_lines):
        def mode(no):
            line = ref_lines[no - 1] if no <= len(ref_lines) else ""
            for name in ("shape", "close", "exact"):
                for sel in getattr(self, name):
                    if (isinstance(sel, str) and re.search(sel, line)) or \
                            (isinstance(sel, int) and sel == no) or (isinstance(sel, range) and no in sel):
                        return name
            return self.default
        return mode


# ---- closed forms ------------------------------------------------------------------------------
def numbers(text):
    return [float(v) for v in re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?|-?\d+", text)]


def tensors(out):
    """The tensors printed in `out` (each `tensor(...)` block), as lists of numbers."""
    return [numbers(re.split(r", (?:grad_fn|dtype|requires_grad)=", m)[0])
            for m in re.findall(r"tensor\((.*?)\)", out, re.S)]


def check_products(out):      # 02: the values the notes print
    assert "tensor([ 4, 10, 18])" in out and "tensor(32)" in out
    assert "tensor([[19, 22],\n        [43, 50]])" in out
    assert "tensor([[ 2,  4,  6],\n        [ 6, 12, 18],\n        [10, 20, 30]])" in out


def check_activations(out):   # 04: sigmoid, relu and row-wise softmax of the printed inputs
    t = [np.array(v).reshape(2, 3) for v in tensors(out)]
    assert len(t) == 6
    np.testing.assert_allclose(t[1], 1 / (1 + np.exp(-t[0])), atol=2e-4)
    np.testing.assert_allclose(t[3], np.maximum(t[2], 0), atol=1e-4)
    e = np.exp(t[4])
    np.testing.assert_allclose(t[5], e / e.sum(1, keepdims=True), atol=2e-4)


def check_vector_matrix(out):  # 05: the corrected worked examples
    assert out.splitlines()[:2] == ["tensor([22, 28])", "tensor([ 5, 11, 17])"]
    assert "tensor([[22, 28],\n        [49, 64]])" in out


def check_mnist_softmax(out):  # 06: probabilities sum to one; softmax of the notes' 2x3 example
    sums = tensors(out)[0]
    assert len(sums) == 64 and max(abs(s - 1) for s in sums) < 1e-4
    x = np.array([[2.0, 1.0, 0.5], [0.5, 2.0, 1.0]])
    e = np.exp(x)
    np.testing.assert_allclose(np.array(tensors(out)[1]).reshape(2, 3), e / e.sum(1, keepdims=True), atol=1e-4)


def check_training_loop(out):  # 09: full-batch SGD at lr 0.01 lowers the loss every step, from ~ln 10
    rows = [numbers(line) for line in out.splitlines()]
    assert [int(r[0]) for r in rows] == list(range(10))
    losses = [r[1] for r in rows]
    assert 2.0 < losses[0] < 2.8 and all(b < a for a, b in zip(losses, losses[1:]))


def check_autograd(out):       # 11: dQ/da = 9a^2 and dQ/db = -2b; Jacobian-product accumulation
    assert out.count("tensor([True, True])") == 2
    assert "tensor([36., 81.]) tensor([-12.,  -8.])" in out
    first, second = out.split("First call\n")[1], out.split("Second call\n")[1]
    g1, g2 = numbers(first.split("\n\n")[0]), numbers(second.split("\n\n")[0])
    assert g1[:5] == [4.0, 2.0, 2.0, 2.0, 2.0] and g2 == [2 * v for v in g1]


def check_schedulers(out):     # 19: closed forms of StepLR, ExponentialLR, CosineAnnealingLR
    rows = {}
    for line in out.splitlines():
        rows.setdefault(line.split(" ", 1)[0], line)       # the first run of each scheduler
    np.testing.assert_allclose(numbers(rows["StepLR"]), [0.1 * 0.5 ** ((e + 1) // 3) for e in range(8)], rtol=1e-8)
    np.testing.assert_allclose(numbers(rows["ExponentialLR"]), [0.1 * 0.9 ** (e + 1) for e in range(8)], rtol=1e-8)
    cos = [0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * (e + 1) / 6)) / 2 for e in range(6)]
    np.testing.assert_allclose(numbers(rows["CosineAnnealingLR"])[:6], cos, rtol=1e-8)


def check_custom_function(out):  # 20: MyReLU's gradient is the upstream gradient where x > 0
    assert "tensor([0.0000, 0.0000, 0.5000, 3.0000]) tensor([0., 0., 3., 4.])" in out
    assert out.rstrip().endswith("tensor([3., 3.])")
    losses = [numbers(line)[1] for line in out.splitlines()[:5]]
    assert all(b < a for a, b in zip(losses, losses[1:]))


def check_losses(out):         # 25: MSE and L1 of the first pair by hand
    d = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]]) - np.array([[1.0, -1.0, 0.0], [0.0, 0.5, -0.5]])
    assert f"MSELoss() tensor({(d ** 2).mean():.4f}" in out and f"L1Loss() tensor({abs(d).sum():.4f}" in out


def check_nn_scratch(out):     # 12: two epochs of SGD on 2000 digits classify held-out digits well
    assert 0.8 < tensors(out.splitlines()[-1])[0][0] <= 1.0


def check_nn_refactor(out):    # 13: the validation loss falls below chance level (ln 10) and keeps falling
    val = [numbers(line)[1] for line in out.splitlines()[-2:]]
    assert val[1] < val[0] < 0.6


def check_optimization_loop(out):  # 17: the test accuracy beats chance (10%)
    acc = [numbers(line)[0] for line in out.splitlines() if "Accuracy:" in line]
    assert len(acc) == 3 and acc[-1] > 30


def check_synthetic_cnn(out):  # 23: bars are easy: well above chance (50%)
    assert numbers(out.splitlines()[-1])[-1] >= 75


def check_functional(out):     # 22: the pointwise activations of linspace(-3, 3, 7)
    x = np.linspace(-3, 3, 7)
    t = tensors(out)
    erf = np.vectorize(math.erf)
    expected = [np.maximum(x, 0), np.where(x > 0, x, 0.1 * x), x * (1 + erf(x / math.sqrt(2))) / 2,
                0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))), x / (1 + np.exp(-x)),
                np.where(x > 0, x, np.expm1(x)), np.log1p(np.exp(x)), np.clip(x, -1, 1), 1 / (1 + np.exp(-x)),
                np.tanh(x)]
    for got, want in zip(t, expected):
        np.testing.assert_allclose(got, want, atol=1.5e-4)


def check_batchnorm(out):      # 24: batch statistics, running estimates with momentum 0.1 (unbiased var)
    x = np.array([[1.0, 2.0, 3.0], [3.0, 6.0, -1.0], [5.0, 1.0, 0.0], [7.0, 3.0, 2.0]])
    t = tensors(out)
    np.testing.assert_allclose(np.reshape(t[0], (4, 3)), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), atol=1e-4)
    mean1, var1 = 0.1 * x.mean(0), 0.9 + 0.1 * x.var(0, ddof=1)
    np.testing.assert_allclose(t[1] + t[2], np.concatenate([mean1, var1]), atol=1e-4)
    assert t[3] == [1]
    np.testing.assert_allclose(t[4] + t[5], np.concatenate([0.9 * mean1 + 0.2 * x.mean(0),
                                                            0.9 * var1 + 0.1 * 4 * x.var(0, ddof=1)]), atol=1e-4)


def check_init(out):           # 26: the gains' closed forms; every range and moment check printed True
    lines = out.splitlines()
    np.testing.assert_allclose(numbers(lines[0]), [math.sqrt(2), 5 / 3, 1], rtol=1e-15)
    np.testing.assert_allclose(numbers(lines[1]), [math.sqrt(2 / (1 + 0.2 ** 2)), 0.75], rtol=1e-15)
    assert "False" not in out and out.count("True") >= 15


def check_vision_mnist(out):   # 33: the famous first digits and the dataset sizes
    lines = out.splitlines()
    assert lines[0] == "60000 10000" and " 5 <class 'int'>" in lines[1] and " 7 " in lines[3]


SEED = {
    "01_tensors.py": Port(shape=[35]),
    "02_products.py": Port(checks=[check_products]),
    "03_linear_layer.py": Port(shape=[2, 3, 5, 6]),
    "04_activations.py": Port(default="shape", checks=[check_activations]),
    "05_vector_matrix.py": Port(checks=[check_vector_matrix]),
    "06_mnist_network.py": Port(close=[range(2, 12)], rtol=1e-5, mnist=True, checks=[check_mnist_softmax]),
    "07_prediction_function.py": Port(),
    "08_layer_table.py": Port(),
    "09_training_loop.py": Port(default="shape", checks=[check_training_loop]),
}

OWN = {
    "10_tensors_tutorial.py": Port(shape=[range(9, 11), range(13, 15)]),
    "11_autograd_tutorial.py": Port(default="close", checks=[check_autograd]),
    "12_nn_really_scratch.py": Port(default="close", rtol=1e-4, mnist=True, checks=[check_nn_scratch]),
    "13_nn_really_refactor.py": Port(default="close", rtol=1e-4, mnist=True, checks=[check_nn_refactor]),
    "14_nn_really_cnn.py": Port(default="close", rtol=2e-3, mnist=True),
    "15_data_loading.py": Port(),
    "16_samplers.py": Port(),
    "17_optimization_loop.py": Port(default="close", rtol=1e-4, checks=[check_optimization_loop]),
    "18_save_load.py": Port(default="close", rtol=1e-4, atol=1e-6),
    "19_lr_schedulers.py": Port(default="close", rtol=1e-9, checks=[check_schedulers]),
    "20_custom_autograd_function.py": Port(default="close", rtol=1e-4, checks=[check_custom_function]),
    "21_hooks.py": Port(default="close"),
    "22_functional.py": Port(default="close", checks=[check_functional]),
    "23_cnn_synthetic.py": Port(default="close", rtol=1e-3, checks=[check_synthetic_cnn]),
    "24_batchnorm_dropout.py": Port(default="close", atol=1e-6, checks=[check_batchnorm]),
    "25_losses.py": Port(default="close", checks=[check_losses]),
    "26_init.py": Port(default="close", checks=[check_init]),
    "27_grad_clipping.py": Port(default="close"),
    "28_tensor_ops.py": Port(default="close"),
    "29_modules_containers.py": Port(),
    "30_autograd_advanced.py": Port(default="close"),
    "31_grad_fn_names.py": Port(),
    "32_detect_anomaly.py": Port(),
    "33_vision_mnist.py": Port(close=[3, 4, 8], mnist=True, checks=[check_vision_mnist]),
}

PORTS = {**SEED, **OWN}
