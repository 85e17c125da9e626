#!/usr/bin/env bash
# bench/gpu_check.sh — the one GPU check: on a machine with a CUDA GPU (and no network), install fastnn
# into a throwaway venv over the machine's own CuPy/NumPy/Numba, run the real-GPU tests, then
# bench/train_gpu.py for 3 epochs at batch 64 and 1024 (per-epoch seconds, samples/s, kernel launches,
# graph launches and host syncs). Everything inside 8 minutes (each step has its own timeout).
#
#   bash bench/gpu_check.sh [MNIST_DIR]
#
# MNIST_DIR (or $FASTNN_MNIST_DIR): a folder holding the four raw MNIST IDX files (they are checked
# against the pinned SHA-256s). Without one the training runs use the synthetic data set and say so.
# To carry MNIST to a machine without network: copy ~/.cache/fastnn/mnist into an ignored folder of the
# checkout (e.g. .mnist/) and pass it.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
PY=${PYTHON:-python3}
VENV=${TMPDIR:-/tmp}/fastnn-gpu-venv
section() { echo; echo "== $* ($(( $(date +%s) - start )) s)"; }

section "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || echo "nvidia-smi failed"
$PY -c "import cupy, numpy, numba; print('cupy', cupy.__version__, '| numpy', numpy.__version__, '| numba', numba.__version__); print('cupy sees', cupy.cuda.runtime.getDeviceCount(), 'device(s):', cupy.cuda.runtime.getDeviceProperties(0)['name'].decode())" \
    || { echo "gpu_check: CuPy cannot reach a GPU here"; exit 2; }

section "install (offline, no dependencies pulled)"
rm -rf "$VENV" && $PY -m venv --system-site-packages "$VENV" && . "$VENV/bin/activate" \
    && timeout 120 pip install -q --no-deps --no-index --no-build-isolation . \
    || { echo "gpu_check: install failed"; exit 2; }

section "real-GPU tests"
(cd "${TMPDIR:-/tmp}" && timeout 240 python -m pytest -q -p no:cacheprovider \
    "$OLDPWD/tests/test_gpu_real.py" "$OLDPWD/tests/test_train_cuda.py" "$OLDPWD/tests/test_cuda_fused_engine.py" \
    --rootdir "$OLDPWD" -c "$OLDPWD/pyproject.toml" 2>&1 | tail -25)

DATA=(--dataset synthetic --synthetic-size 60000,10000)
MNIST_DIR=${1:-${FASTNN_MNIST_DIR:-}}
if [ -n "$MNIST_DIR" ] && [ -d "$MNIST_DIR" ]; then
    DATA=(--data-dir "$MNIST_DIR")
    echo "training on MNIST from $MNIST_DIR"
else
    echo "no MNIST_DIR given: training on the synthetic data set (60000 x 784), not MNIST"
fi
for B in 64 1024; do
    section "bench/train_gpu.py, 3 epochs, batch $B"
    timeout 75 python bench/train_gpu.py --epochs 3 --batch-size "$B" --normalize --quiet "${DATA[@]}" 2>&1 | tail -12
done
section "done in $(( $(date +%s) - start )) s"
