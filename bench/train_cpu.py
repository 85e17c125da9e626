"""CPU training benchmark: `fastnn train` on the CPU (same options, same code: fastnn.train.run), then a
per-epoch table of seconds, samples/s and test accuracy.

    python bench/train_cpu.py --epochs 3 --threads 2 --normalize            # fused path where it applies
    python bench/train_cpu.py --path eager --batch-size 256
"""
import os
import sys


def summary(history):
    lines = ["| epoch | path | seconds | samples/s | train loss | test loss | test acc |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for h in history:
        lines.append(f"| {h['epoch']} | {h['path']} | {h['seconds']:.3f} | {h['samples_per_s']:,.0f} | "
                     f"{h['train_loss']:.4f} | {h['test_loss']:.4f} | {100 * h['test_acc']:.2f}% |")
    return "\n".join(lines)


def main(argv=None, device="cpu", on_epoch=None):
    from fastnn.cli import config_from_args, train_parser
    from fastnn.train import run

    p = train_parser(prog=os.path.basename(sys.argv[0]))
    ns = p.parse_args(sys.argv[1:] if argv is None else argv)
    if getattr(ns, "device", device) != device:
        p.error(f"this script trains on {device}; use bench/train_{'gpu' if device == 'cpu' else 'cpu'}.py")
    ns.device = device
    cfg = config_from_args(ns)
    res = run(cfg, on_epoch=on_epoch)
    print(summary(res["history"]))
    return res


if __name__ == "__main__":
    main()
