"""Float32 error of the Winograd conv kernels (F(2x2,3x3) winograd.py, F(4x4,3x3) winograd4.py) at the
pytorch/examples MNIST Net's conv2 (32->64, 26x26, no padding): forward, input gradient and weight gradient
against kernels/conv2d/ref.py in float64 on the same rounded data, N(0,1) inputs and output gradients,
Kaiming-scaled weights, 4 draws. Prints the worst error / max|exact| over the draws in float32 eps, max
and rms (DESIGN.md records them).

    python bench/winograd_accuracy.py
"""
import numpy as np

from fastnn.kernels.conv2d import ref, winograd, winograd4

I64 = np.int64
EPS = float(np.finfo(np.float32).eps)


def errors(mod, x, w, dout, want):
    # (max, rms) of |got - want| / max|want| for mod's forward, input gradient, weight gradient
    O, C = w.shape[:2]
    w2, geo = w.reshape(O, -1), (I64(0), I64(0), I64(1))
    work = np.zeros(mod.work_size(I64(C), I64(O), I64(dout.shape[1]), I64(dout.shape[2])), np.float32)
    out, dx, dw2 = np.empty(dout.shape, np.float32), np.empty_like(x), np.zeros(w2.shape, np.float32)
    mod.forward(out, x, w2, *geo, work)
    mod.backward_input(dx, dout, w2, *geo, work)
    mod.backward_weight(dw2, dout, x, *geo, work)
    return [(np.abs(g - e).max() / np.abs(e).max(), np.sqrt(((g - e) ** 2).mean()) / np.abs(e).max())
            for g, e in zip((out, dx, dw2.reshape(w.shape)), want)]


def main():
    C, O, H, W = 32, 64, 26, 26
    res = {"F(2x2,3x3)": [], "F(4x4,3x3)": []}
    for seed in range(4):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((C, H, W)).astype(np.float32)
        w = (rng.standard_normal((O, C, 3, 3)) * np.sqrt(2 / (C * 9))).astype(np.float32)
        dout = rng.standard_normal((O, H - 2, W - 2)).astype(np.float32)
        cfg = ((1, 1), (0, 0), (1, 1), 1)
        x64, w64, d64 = (a.astype(np.float64) for a in (x, w, dout))
        want = (ref.conv2d_forward(x64[None], w64, *cfg)[0],
                ref.conv2d_backward_input(d64[None], w64, (1,) + x.shape, *cfg)[0],
                ref.conv2d_backward_weight(d64[None], x64[None], w.shape, *cfg))
        for name, mod in (("F(2x2,3x3)", winograd), ("F(4x4,3x3)", winograd4)):
            res[name].append(errors(mod, x, w, dout, want))
    for name, r in res.items():
        r = np.array(r).max(axis=0) / EPS                     # (kernel, max | rms) in eps
        print(f"{name}: error / max|exact| in float32 eps, max (rms): forward {r[0, 0]:.1f} ({r[0, 1]:.2f}), "
              f"input grad {r[1, 0]:.1f} ({r[1, 1]:.2f}), weight grad {r[2, 0]:.1f} ({r[2, 1]:.2f}); "
              f"worst relative {r[:, 0].max() * EPS:.2e}")


if __name__ == "__main__":
    main()
