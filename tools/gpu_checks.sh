#!/bin/bash
# The GPU checks of the scale issue, as one command of under 10 minutes, for
# a session lent a GPU machine (about 15 minutes of device time in all).
#
# Here, once per checkout (the data does not travel otherwise):
#
#   mkdir -p .device_data && cp -r ../shared/data/mnist .device_data/
#   echo /.device_data/ >> .git/info/exclude
#
# Then the device tool's run, with carry [".device_data"] and timeout_s 600:
#
#   bash tools/gpu_checks.sh
#
# It writes under $OUT (at most 8 files come back):
# 1. benchmark/: the optimizer step on flat vectors, the 110M-parameter tree
#    and that tree's leaves at one element each, timed one step per call and
#    10 steps per call (is the tree's low bandwidth the per-call dispatch of
#    its buffers?), and SGD, AdaGrad and CLASSP behind optax.flatten (one
#    vector of state: does that recover the flat vector's bandwidth?):
#    <device>.json and .md.
# 2. benchmark/: runs per hour one by one and as populations of 1, 8 and 64,
#    training steps per second: <device>-throughput.json and .md.
# 3. vandeven2019.tgz: the vandeven2019 sweep (CLASSP and EWC on split MNIST,
#    class-incremental, first) for the time left. Untar it at the project's
#    root and commit its runs: they travel with the tree, so the next GPU
#    session's run of this script continues the sweep where it stopped.
#
# Copy 1 and 2 into experiments/results/benchmark/ and commit them with 3.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH=.
OUT="${OUT:-/tmp/gpu_checks}"
DATA_DIR="${CLASSP_DATA_DIR:-.device_data}"
mkdir -p "$OUT/benchmark"
start=$SECONDS
left() { echo $((540 - (SECONDS - start))); }  # of 9 minutes

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c 'import jax, optax, flax; print(jax.devices(), jax.__version__,
            optax.__version__, flax.__version__)'

timeout 150 python3 -m experiments.benchmark --skip-training \
  --sizes 'flat 1e6,flat 1e7,flat 3e7,transformer 110M,transformer leaves' \
  --steps-per-call 10 --out "$OUT/benchmark" > "$OUT/benchmark.log" 2>&1
echo "benchmark: rc=$? after $((SECONDS - start)) s"
tail -n 40 "$OUT/benchmark.log"

timeout 150 python3 -m experiments.benchmark --throughput --members 1,8,64 \
  --data-dir "$DATA_DIR" --out "$OUT/benchmark" >> "$OUT/benchmark.log" 2>&1
echo "throughput: rc=$? after $((SECONDS - start)) s"
tail -n 15 "$OUT/benchmark.log"

for methods in classp,ewc sgd,adam,adagrad,online_ewc,si,mas,l2; do
  [ "$(left)" -gt 30 ] || break
  timeout "$(left)" python3 -m experiments sweep --preset vandeven2019 \
    --stream split_mnist --scenario class --methods "$methods" \
    --data-dir "$DATA_DIR" --no-progress >> "$OUT/sweep.log" 2>&1
  echo "sweep $methods: rc=$? after $((SECONDS - start)) s"
done
tail -n 5 "$OUT/sweep.log"
tar czf "$OUT/vandeven2019.tgz" experiments/results/vandeven2019 2>/dev/null
ls -la "$OUT" "$OUT/benchmark"
