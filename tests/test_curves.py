"""fastnn/train/curves.py: axis ticks (closed-form properties) and the curves.png picture (decoded with Pillow)."""
import io
import math

import numpy as np
from hypothesis import assume, given, settings, strategies as st
from PIL import Image

from fastnn.train import curves

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(finite, finite, st.booleans())
def test_ticks_cover_the_data_with_a_nice_step(a, b, integer):
    lo, hi = (round(min(a, b)), round(max(a, b))) if integer else (min(a, b), max(a, b))
    assume(hi == lo or hi - lo > 1e-6 * max(abs(lo), abs(hi), 1e-3))   # plotted ranges, not 1 ulp wide
    vlo, vhi, step, ticks = curves.nice_ticks(lo, hi, integer)
    assert vlo < lo <= hi < vhi                                   # margins: the data lies inside
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(abs(mantissa - m) < 1e-9 for m in (1, 2, 2.5, 5))
    assert (1 if integer else 3) <= len(ticks) <= curves.MAX_TICKS + 2   # a step <= 2x range/MAX_TICKS
    assert all(vlo - 1e-9 * step <= t <= vhi + 1e-9 * step for t in ticks)
    np.testing.assert_allclose(np.diff(ticks), step, rtol=1e-9)
    if integer:
        assert step >= 1 and all(t == int(t) for t in ticks)


def test_tick_labels_use_the_decimals_of_the_step():
    assert [curves.tick_label(v, 0.25) for v in (0.0, 0.5, 0.75)] == ["0.00", "0.50", "0.75"]
    assert [curves.tick_label(v, 0.5) for v in (-0.5, 1e-17, 97.5)] == ["-0.5", "0.0", "97.5"]
    assert [curves.tick_label(v, 2.0) for v in (2.0, 10.0)] == ["2", "10"]
    assert curves.tick_label(0.005, 0.005) == "0.005" and curves.tick_label(5.0, 2.5) == "5.0"


def _history(n, nan_test=False):
    return [{"epoch": e, "train_loss": 0.3 / e, "test_loss": float("nan") if nan_test else 0.25 / e + 0.05,
             "test_acc": 0.95 + 0.003 * e} for e in range(1, n + 1)]


def _colour_pixels(img, colour, box):
    a = np.asarray(img.crop(box), np.int64)
    return int((np.abs(a - np.array(colour)).sum(axis=2) < 30).sum())


def test_curves_png_shows_each_series_in_its_panel():
    img = Image.open(io.BytesIO(curves.render_png(_history(10), "mlp on mnist")))
    assert img.format == "PNG" and img.size == (curves.W, curves.H) and img.mode == "RGB"
    left, right = (0, 0, curves.W // 2, curves.H), (curves.W // 2, 0, curves.W, curves.H)
    assert _colour_pixels(img, curves.BLUE, left) > 200 and _colour_pixels(img, curves.ORANGE, left) > 200
    assert _colour_pixels(img, curves.GREEN, right) > 200
    assert _colour_pixels(img, curves.GREEN, left) == 0 and _colour_pixels(img, curves.BLUE, right) == 0


def test_curves_png_of_one_epoch_and_of_a_nan_loss():
    for hist in (_history(1), _history(3, nan_test=True)):
        img = Image.open(io.BytesIO(curves.render_png(hist)))
        assert img.size == (curves.W, curves.H)
        assert _colour_pixels(img, curves.BLUE, (0, 0, curves.W // 2, curves.H)) > 20   # the train markers
