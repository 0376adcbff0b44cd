#!/usr/bin/env bash
# The GPU checks of issues 3, 4 and 6, prepared to fit the device machine's budget
# (one GPU, 15 minutes a session, 10 minutes a command, nothing reachable from it).
#
# Here, once per session (downloads wheels the device image lacks, builds gendsl's
# own wheel, copies the benchmark data; all into the ignored folder .device/):
#     bash scripts/device-checks.sh prepare
# Then with the device tool, carrying that folder:
#     run(command="bash scripts/device-checks.sh checks", carry=[".device"], timeout_s=590)
#         GPU tests (device="cuda" under Pyro, JAX's GPU under NumPyro), the VAE
#         step timings side by side on the GPU (eager and torch.compile pairs), and a 2-epoch IWAE-50 probe that
#         says how long an epoch takes there
#     run(command="bash scripts/device-checks.sh iwae50 EPOCHS", carry=[".device"], timeout_s=590)
#         IWAE k=50 on binarised MNIST for EPOCHS epochs (cosine schedule), test NLL
#         with k=5000 over all 10,000 test images; pick EPOCHS from the probe
# Everything worth keeping is written under $OUT (logs, result.json, loss curve).
set -uo pipefail
cd "$(dirname "$0")/.."
DEV=.device

prepare() {
    mkdir -p "$DEV/wheels"  # .gitignore lists /.device/
    # pure-Python packages the device image lacks, or has in other versions than constraints.txt
    local pins
    pins=$(grep -E '^(pyro-ppl|pyro-api|numpyro|graphviz)==' constraints.txt)
    .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux2014_x86_64 -d "$DEV/wheels" $pins
    .venv/bin/python -m pip wheel -q --no-deps -w "$DEV/wheels" .
    cp ../shared/data/binarized_mnist.npz "$DEV/"
    ls -la "$DEV" "$DEV/wheels"
}

install() {
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$DEV"/wheels/*.whl || exit 1
    export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 JAX_PLATFORMS=cuda
    mkdir -p "$OUT"
    { nvidia-smi -L; python3 -c "import torch, jax, numpyro, pyro; print(torch.__version__, jax.__version__,
numpyro.__version__, pyro.__version__, jax.devices())"; } 2>&1 | tee "$OUT/machine.txt"
}

checks() {
    install
    timeout 160 python3 -m pytest -q -p no:cacheprovider -o addopts="" -m gpu -rs \
        tests/inference/test_devices.py 2>&1 | tee "$OUT/gpu-tests.txt"
    timeout 250 python3 bench/vae_speed.py --data "$DEV/binarized_mnist.npz" --device cuda --rounds 5 \
        --steps 50 2>&1 | tee "$OUT/vae-speed.txt"
    timeout 150 python3 bench/vae_mnist.py --data "$DEV/binarized_mnist.npz" --objective iwae --k 50 \
        --epochs 2 --backend numpyro --test-rows 500 --eval-k 1000 --out /tmp/probe 2>&1 | tee "$OUT/iwae50-probe.txt"
}

iwae50() {
    install
    local epochs=${1:?give the number of epochs}
    timeout 570 python3 bench/vae_mnist.py --data "$DEV/binarized_mnist.npz" --objective iwae --k 50 \
        --epochs "$epochs" --lr-schedule cosine --backend numpyro --out /tmp/iwae50 2>&1 | tee "$OUT/iwae50.txt"
    cp /tmp/iwae50/result.json /tmp/iwae50/loss.png "$OUT/" 2>/dev/null
}

case "${1:-}" in
    prepare) prepare ;;
    checks) checks ;;
    iwae50) shift; iwae50 "$@" ;;
    *) echo "usage: bash scripts/device-checks.sh prepare | checks | iwae50 EPOCHS" >&2; exit 2 ;;
esac
