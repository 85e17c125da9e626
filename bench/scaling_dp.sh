#!/bin/bash
# bench/scaling_dp.sh [DIR]: the MNIST MLP on one machine, eager 1 rank x 2 threads, eager 2 ranks x 1 thread
# (DDP over MPI: needs fastnn[dist]), fused 1 x 2, fused 2 ranks x 1 thread (FusedMLP(data_parallel=True):
# a compiled step per batch + one MPI allreduce) and fused 1 x 1; 4 epochs each, global batch 64, three
# alternating rounds; prints the median s/epoch without each run's first epoch (DESIGN.md, data-parallel).
mkdir -p "${1:-/tmp/scal}" && cd "${1:-/tmp/scal}"
for r in 1 2 3; do
  fastnn train --epochs 4 --quiet --normalize --path eager --threads 2 --out e12_$r > /dev/null 2>&1
  fastnn train --epochs 4 --quiet --normalize --path eager --nproc 2 --out e21_$r > /dev/null 2>&1
  fastnn train --epochs 4 --quiet --normalize --path fused --threads 2 --out f12_$r > /dev/null 2>&1
  fastnn train --epochs 4 --quiet --normalize --path fused --nproc 2 --out f21_$r > /dev/null 2>&1
  fastnn train --epochs 4 --quiet --normalize --path fused --threads 1 --out f11_$r > /dev/null 2>&1
done
python - <<'PY'
import json, glob, statistics as st
for k in ("e12", "e21", "f12", "f21", "f11"):
    secs = []
    for f in sorted(glob.glob(f"{k}_*/metrics.json")):
        m = json.load(open(f))
        ep = m.get("epochs") or m.get("history")
        secs += [e["seconds"] for e in ep[1:]]   # epoch 1 of each run excluded (warm-up)
    print(k, "median s/epoch %.3f" % st.median(secs), "min %.3f max %.3f" % (min(secs), max(secs)), "n", len(secs))
PY
