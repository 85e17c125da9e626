"""Repeat bench/bench_kernels.py in fresh processes and summarize its ours-vs-NumPy ratios over the runs.

One pytest-benchmark run is one sample of a drifting machine; a target (issue #2: GEMM at least 0.9x
OpenBLAS at the MLP shapes, small bmm at least 3x np.matmul) is judged on the median ratio over runs,
with the worst and best run shown beside it.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/kernel_runs.py --runs 5 [--json out.json]

Each run is `python -m pytest bench/bench_kernels.py --benchmark-only --benchmark-json=...`; a
case's time is pytest-benchmark's minimum over its rounds, ratio = NumPy time / ours (>1: ours faster).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = {"gemm": 0.9, "bmm": 3.0}  # issue #2 point 7: minimum NumPy/ours ratio per case family


def one_run(path):
    """{case: {"fastnn": seconds, "numpy": seconds}} and the BLAS line from one pytest-benchmark run."""
    cmd = [sys.executable, "-m", "pytest", os.path.join(HERE, "bench_kernels.py"), "-q", "-p", "no:cacheprovider",
           "-o", "python_files=bench_*.py", "--benchmark-only", f"--benchmark-json={path}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=os.path.dirname(HERE))
    if proc.returncode != 0:
        sys.exit(f"benchmark run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    blas = next((ln for ln in proc.stdout.splitlines() if ln.startswith("NumPy BLAS:")), "NumPy BLAS: ?")
    with open(path) as f:
        data = json.load(f)
    cases = {}
    for b in data["benchmarks"]:
        impl = "fastnn" if b["name"].startswith("test_fastnn") else "numpy"
        cases.setdefault(b["extra_info"]["case"], {})[impl] = b["stats"]["min"]
    return cases, blas


def summarize(runs):
    """Rows (case, ours median us, numpy median us, ratio median, ratio min, ratio max, target)."""
    rows = []
    for case in sorted(runs[0]):
        ours = [r[case]["fastnn"] for r in runs]
        ref = [r[case]["numpy"] for r in runs]
        ratios = [n / o for n, o in zip(ref, ours)]
        target = TARGETS.get(case.split()[0])
        rows.append((case, statistics.median(ours) * 1e6, statistics.median(ref) * 1e6,
                     statistics.median(ratios), min(ratios), max(ratios), target))
    return rows


def table(rows, nruns, blas):
    out = [f"{blas}; {nruns} runs, each case's minimum time per run; ratio = NumPy time / ours", "",
           "| case | ours us (median) | NumPy us (median) | ratio median | ratio min-max | target |",
           "|---|---:|---:|---:|---:|---:|"]
    for case, o, n, med, lo, hi, target in rows:
        mark = "" if target is None else f"{target}x " + ("met" if med >= target else "**not met**")
        out.append(f"| {case} | {o:.1f} | {n:.1f} | {med:.2f} | {lo:.2f}-{hi:.2f} | {mark} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", help="also write every run's times and the summary here")
    args = ap.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            cases, blas = one_run(os.path.join(tmp, f"run{i}.json"))
            runs.append(cases)
            print(f"run {i + 1}/{args.runs} done", file=sys.stderr)
    rows = summarize(runs)
    print(table(rows, args.runs, blas))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"blas": blas, "runs": runs, "summary": rows}, f, indent=1)


if __name__ == "__main__":
    main()
