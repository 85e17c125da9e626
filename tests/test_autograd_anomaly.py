"""fastnn.autograd.detect_anomaly / set_detect_anomaly without torch: torch's documented wording for the op
whose backward returned NaN (and which output), nothing raised for finite or Inf gradients (torch checks
NaN only), the decorator form, and the mode restored on exit (tests/test_nn_utils_torch.py compares the
same programs against torch itself)."""
import math
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import autograd


@pytest.mark.parametrize("which", [0, 1])
def test_names_the_op_and_the_output(backend, which):
    # d(a*b)/da = g*b, d(a*b)/db = g*a with g = 0 (from * 0): 0 * inf = NaN in the output of the inf side's partner
    vals = [[1.0, 2.0], [math.inf, 1.0]] if which == 0 else [[math.inf, 1.0], [1.0, 2.0]]
    a = fastnn.tensor(vals[0], device=backend, requires_grad=True)
    b = fastnn.tensor(vals[1], device=backend, requires_grad=True)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")            # the mode's own warnings; tested below
        with autograd.detect_anomaly():
            y = ((a * b) * 0).sum()
            with pytest.raises(RuntimeError) as e:
                y.backward()
    assert str(e.value) == f"Function 'MulBackward0' returned nan values in its {which}th output."


def test_finite_and_inf_gradients_pass_and_the_mode_is_restored(backend):
    x = fastnn.tensor([0.0, 4.0], device=backend, requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        mode = autograd.detect_anomaly()
    with np.errstate(all="ignore"), mode:
        assert fastnn.is_anomaly_enabled()
        x.sqrt().sum().backward()                   # d sqrt(x)/dx at 0 is inf: not NaN, not an anomaly
    np.testing.assert_array_equal(x.grad.backend.to_numpy(x.grad._data), [np.inf, 0.25])
    assert not fastnn.is_anomaly_enabled()


def test_error_warning_carries_the_forward_traceback():
    a = fastnn.tensor([1.0], requires_grad=True)
    with np.errstate(all="ignore"), warnings.catch_warnings(record=True) as w, autograd.set_detect_anomaly(True):
        warnings.simplefilter("always")
        y = ((a * fastnn.tensor([math.inf])) * 0).sum()   # created here: this line is in the traceback
        with pytest.raises(RuntimeError, match="MulBackward0"):
            y.backward()
    msgs = [str(x.message) for x in w if "Error detected in" in str(x.message)]
    assert msgs and msgs[0].startswith("Error detected in MulBackward0. Traceback of forward call")
    assert "created here: this line is in the traceback" in msgs[0]
