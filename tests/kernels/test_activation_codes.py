"""kernels/activation/codes.py (the one table of activation codes): every kernel that switches on a
code computes the activation its name says (float64 closed forms), and the .cu files document the same
codes."""
import re

import numpy as np
import pytest

import cuda_emulator
from conftest_cuda import needs_emulator
from fastnn.kernels.activation import codes
from fastnn.kernels.cuda_build import cu_file
from fastnn.kernels.fused_mlp import ref as fused_ref

CLOSED = {"none": lambda v: v, "relu": lambda v: np.maximum(v, 0.0), "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
          "tanh": np.tanh}


def test_table_names_every_activation_once():
    assert sorted(codes.ACT) == sorted(CLOSED) and len(set(codes.ACT.values())) == len(codes.ACT)
    assert set(codes.MODULES.values()) == set(codes.ACT) - {"none"}
    with pytest.raises(ValueError, match="gelu"):
        codes.act_code("gelu")


@pytest.mark.parametrize("family", ["activation", "gemm"])
def test_cu_comments_spell_the_table(family):
    src = cu_file(family).read_text()
    line = re.search(r"// act codes: (.*)", src).group(1)
    found = {name: int(code) for code, name in re.findall(r"(\d+) (\w+)", line)}
    assert found == codes.ACT


@pytest.mark.parametrize("name", sorted(codes.ACT))
def test_fused_reference_computes_the_named_activation(name):
    """The fused MLP's reference (which the CPU fused kernel is tested against) switches on the codes."""
    x = np.random.default_rng(0).standard_normal((4, 6))
    np.testing.assert_allclose(fused_ref._act(x, codes.ACT[name]), CLOSED[name](x), rtol=1e-12, atol=1e-15)


@needs_emulator
@pytest.mark.parametrize("name", sorted(codes.ACT))
def test_cuda_kernel_computes_the_named_activation(name):
    x = np.random.default_rng(1).standard_normal(37).astype(np.float32)
    out = np.zeros_like(x)
    cuda_emulator.load(cu_file("activation")).launch("act_forward", grid=2, block=32,
                                                      args=(out, x, np.int32(x.size), np.int32(codes.ACT[name])))
    np.testing.assert_allclose(out, CLOSED[name](x.astype(np.float64)), rtol=4e-7, atol=1e-7)
