"""repr(fastnn.tensor(x)) == repr(torch.tensor(x)): number formats, widths, summaries, extras."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import fastnn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

def _torch_repr(x, dtype=None):
    return repr(torch.tensor(x, dtype=dtype)).replace("torch.", "fastnn.")


_SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=9)
_SCALES = st.sampled_from([1.0, 1e-6, 1e-3, 1e3, 1e9])


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(np.float32, _SHAPES, elements=st.floats(-1e3, 1e3, width=32)), _SCALES,
       st.booleans(), st.booleans())
def test_float_repr_matches_torch(x, scale, integral, specials):
    x = (np.round(x) if integral else x) * np.float32(scale)
    if specials and x.size >= 2:
        x.reshape(-1)[:2] = [np.nan, -np.inf]
    assert repr(fastnn.tensor(x)) == _torch_repr(x)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.int64, _SHAPES, elements=st.integers(-10**6, 10**6)))
def test_int_repr_matches_torch(x):
    assert repr(fastnn.tensor(x)) == _torch_repr(x)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.bool_, _SHAPES))
def test_bool_repr_matches_torch(x):
    assert repr(fastnn.tensor(x)) == _torch_repr(x)


@pytest.mark.parametrize("shape", [(2000,), (40, 50), (2, 3, 400), (1001, 1)])
def test_summarized_repr_matches_torch(shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    assert repr(fastnn.tensor(x)) == _torch_repr(x)
    assert repr(fastnn.tensor(x, dtype=fastnn.float64)) == _torch_repr(x, torch.float64)


def test_negative_zero_is_wider_than_the_format_width_like_torch():
    # torch sizes elements by the nonzero values ("0.0010"); a "-0.0000" overflows that width, and the
    # line wrapping still counts the width, not the longer string
    x = np.full((2, 8), -0.0, np.float32)
    x[0, 0] = 0.001
    assert repr(fastnn.tensor(x)) == _torch_repr(x)


def test_extras_match_torch():
    x = np.array([[0.5, -2.0], [3.25, 4.0]], np.float32)
    t, f = torch.tensor(x, requires_grad=True), fastnn.tensor(x, requires_grad=True)
    assert repr(f) == repr(t)
    assert repr(fastnn.tensor(x, dtype=fastnn.float64)) == _torch_repr(x, torch.float64)
    assert repr(fastnn.zeros(2, 0)) == repr(torch.zeros(2, 0))
