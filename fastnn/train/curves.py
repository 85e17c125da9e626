"""curves.png of a run: train/test loss and test accuracy per epoch, two panels, drawn with Pillow.

matplotlib drew this file before; importing it and laying out its ticks and text took ~0.9 s at the end
of every `fastnn train` (a quarter of a warm default run), this ~0.1 s. The picture keeps the same
size (900x350, matplotlib's 9 x 3.5 in at 100 dpi), panels, labels, legend, markers and colours.
Drawn at SS times the size and box-filtered down, which antialiases lines, markers and text.
"""
import io
import math

W, H, SS = 900, 350, 2                                        # final size in pixels, supersampling factor
BLUE, ORANGE, GREEN = (31, 119, 180), (255, 127, 14), (44, 160, 44)   # matplotlib's tab:blue/orange/green
INK, GRID, WHITE = (0, 0, 0), (222, 222, 222), (255, 255, 255)
FONT_PX, TITLE_PX = 14, 17                                    # 10 pt and 12 pt at 100 dpi
MAX_TICKS = 6


def nice_ticks(lo, hi, integer=False):
    """Axis limits (lo - 5%, hi + 5% of the range, as matplotlib's margins) and the ticks inside them:
    multiples of a step 1, 2, 2.5 or 5 x 10^k (integers only when integer), about MAX_TICKS of them."""
    if not hi > lo:
        pad = abs(lo) * 0.05 if abs(lo) > 1e-6 and not integer else 0.5
        lo, hi = lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / MAX_TICKS
    base = 10.0 ** math.floor(math.log10(raw))
    steps = [m * base for m in (1, 2, 2.5, 5, 10) if not (integer and m * base % 1)]
    step = next((s for s in steps if s >= raw), None) or max(1.0, 10 * base)
    first = math.ceil(lo / step - 1e-9)
    ticks = [(first + i) * step for i in range(int((hi - lo) / step) + 2)]
    return lo, hi, step, [t for t in ticks if lo - 1e-9 * step <= t <= hi + 1e-9 * step]


def tick_label(value, step):
    """value with the decimals the step needs (step 0.25 -> 2, 0.5 -> 1, 2 -> 0); never "-0"."""
    exp = math.floor(math.log10(step))
    decimals = max(0, -exp) + (1 if exp < 1 and round(step / 10.0 ** exp, 6) == 2.5 else 0)
    return f"{0.0 if abs(value) < 1e-9 * step else value:.{decimals}f}"


class _Canvas:
    """An RGB image at SS x scale with text helpers; every coordinate given in final-image pixels."""

    def __init__(self):
        from PIL import Image, ImageDraw, ImageFont

        self.Image, self.ImageDraw = Image, ImageDraw
        self.img = Image.new("RGB", (W * SS, H * SS), WHITE)
        self.draw = ImageDraw.Draw(self.img)
        self.font = ImageFont.load_default(size=FONT_PX * SS)
        self.title_font = ImageFont.load_default(size=TITLE_PX * SS)

    def line(self, points, fill, width=1.0):
        self.draw.line([(x * SS, y * SS) for x, y in points], fill=fill, width=max(1, round(width * SS)),
                       joint="curve")

    def rect(self, box, outline=None, fill=None, width=1.0):
        self.draw.rectangle([c * SS for c in box], outline=outline, fill=fill, width=max(1, round(width * SS)))

    def marker(self, x, y, shape, fill, r=3.0):
        box = [(x - r) * SS, (y - r) * SS, (x + r) * SS, (y + r) * SS]
        (self.draw.ellipse if shape == "o" else self.draw.rectangle)(box, fill=fill)

    def text_size(self, s, font=None):
        left, top, right, bottom = self.draw.textbbox((0, 0), s, font=font or self.font)
        return (right - left) / SS, (bottom - top) / SS

    def text(self, x, y, s, anchor, font=None):
        """s at (x, y) with a Pillow anchor ('mm' centre, 'rm' right-middle, 'mt' middle-top...)."""
        self.draw.text((x * SS, y * SS), s, fill=INK, font=font or self.font, anchor=anchor)

    def vertical_text(self, x, y, s):
        """s rotated 90 degrees counter-clockwise, centred on (x, y)."""
        w, h = self.text_size(s)
        tile = self.Image.new("RGB", (int(w * SS) + 4, int(h * SS) + 8), WHITE)
        self.ImageDraw.Draw(tile).text((tile.width / 2, tile.height / 2), s, fill=INK, font=self.font, anchor="mm")
        tile = tile.rotate(90, expand=True)
        self.img.paste(tile, (int(x * SS - tile.width / 2), int(y * SS - tile.height / 2)))

    def png(self):
        buf = io.BytesIO()
        self.img.resize((W, H), self.Image.BOX).save(buf, format="PNG", compress_level=1)
        return buf.getvalue()


def _panel(cv, box, xs, series, xlabel, ylabel, legend):
    """One axes in box (left, top, right, bottom): grid, frame, ticks, labels, then each series
    (label, ys, marker, colour) as a line with markers; non-finite points are left out."""
    left, top, right, bottom = box
    xlo, xhi, xstep, xticks = nice_ticks(min(xs), max(xs), integer=True)
    finite = [y for _, ys, _, _ in series for y in ys if math.isfinite(y)] or [0.0]
    ylo, yhi, ystep, yticks = nice_ticks(min(finite), max(finite))
    px = lambda x: left + (x - xlo) / (xhi - xlo) * (right - left)    # noqa: E731
    py = lambda y: bottom - (y - ylo) / (yhi - ylo) * (bottom - top)  # noqa: E731
    for t in xticks:
        cv.line([(px(t), top), (px(t), bottom)], GRID)
        cv.line([(px(t), bottom), (px(t), bottom + 3.5)], INK, 0.8)
        cv.text(px(t), bottom + 5, tick_label(t, xstep), "mt")
    for t in yticks:
        cv.line([(left, py(t)), (right, py(t))], GRID)
        cv.line([(left - 3.5, py(t)), (left, py(t))], INK, 0.8)
        cv.text(left - 6, py(t), tick_label(t, ystep), "rm")
    for _, ys, shape, colour in series:
        pts = [(px(x), py(y)) for x, y in zip(xs, ys) if math.isfinite(y)]
        if len(pts) > 1:
            cv.line(pts, colour, 1.5)
        for x, y in pts:
            cv.marker(x, y, shape, colour)
    cv.rect(box, outline=INK, width=0.8)
    cv.text((left + right) / 2, bottom + 24, xlabel, "mt")
    ylabel_x = left - 12 - max(cv.text_size(tick_label(t, ystep))[0] for t in yticks) - 10
    cv.vertical_text(ylabel_x, (top + bottom) / 2, ylabel)
    if legend:
        _legend(cv, right - 8, top + 8, series)


def _legend(cv, right, top, series):
    """A framed legend box whose top-right corner is (right, top): a line + marker and the label per series."""
    rows = [(label, shape, colour) for label, _, shape, colour in series]
    w = 34 + max(cv.text_size(label)[0] for label, _, _ in rows)
    h = 8 + 18 * len(rows)
    cv.rect((right - w, top, right, top + h), outline=(204, 204, 204), fill=WHITE)
    for i, (label, shape, colour) in enumerate(rows):
        y = top + 13 + 18 * i
        cv.line([(right - w + 6, y), (right - w + 26, y)], colour, 1.5)
        cv.marker(right - w + 16, y, shape, colour)
        cv.text(right - w + 31, y, label, "lm")


def render_png(history, title=""):
    """PNG bytes of the two panels for history (dicts with epoch, train_loss, test_loss, test_acc)."""
    cv = _Canvas()
    ep = [h["epoch"] for h in history]
    top = 14 + (cv.text_size(title, cv.title_font)[1] + 12 if title else 0)
    if title:
        cv.text(W / 2, 12, title, "mt", cv.title_font)
    loss = [("train", [h["train_loss"] for h in history], "o", BLUE),
            ("test", [h["test_loss"] for h in history], "s", ORANGE)]
    acc = [("test accuracy", [100 * h["test_acc"] for h in history], "o", GREEN)]
    _panel(cv, (78, top, 438, H - 50), ep, loss, "epoch", "cross-entropy loss", legend=True)
    _panel(cv, (530, top, W - 12, H - 50), ep, acc, "epoch", "test accuracy (%)", legend=False)
    return cv.png()
