#!/bin/bash
# The CPU sweep queue of the literature protocols, most important first.
#
# Every command is resumable: finished runs are reused from
# experiments/results/<preset>/runs (after one bit-for-bit check per group
# when the code changed), so rerunning this script continues where it
# stopped. Run it in the background and commit results as they grow:
#
#   . .venv/bin/activate  # the environment the README installs
#   nohup bash tools/sweep_queue.sh > sweep.log 2>&1 &
#
# Cost on a 2-core CPU (measured): hsu2018 about 6 min per method and
# scenario (16 tuned methods x 3 scenarios, plus joint: about 5 h);
# permuted_full about 10 min per method; text_wide 11-32 min per method
# (about 30 for CLASSP and EWC, 15-20 for online EWC, SI, MAS and the
# pairings, 11-12 for the rest; 4.3 h for all 17); mnist_fashion_wide 3-7
# min per method, about 20 for CLASSP and EWC (1.7 h for all 17).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR="${CLASSP_DATA_DIR:-../shared/data}"

sweep() {  # sweep PRESET METHODS [more flags]
  local preset=$1 methods=$2
  shift 2
  python -m experiments sweep --preset "$preset" --methods "$methods" \
    --data-dir "$DATA_DIR" --no-progress "$@"
}

# Split MNIST as Hsu et al. 2018: CLASSP and EWC first, then the baselines
# their Table 2 calibrates, CLASSP's ablations and joint training; then the
# text stream's headline (CLASSP, EWC, the author's sentiment settings) and
# the pairings.
sweep hsu2018 classp,ewc
sweep hsu2018 sgd,adam,adagrad,l2,online_ewc,si,mas
sweep hsu2018 classp_adagrad,classp_mask_only,classp_accumulator_only,classp_author_schedule
sweep hsu2018 joint
sweep text_wide classp,ewc
python -m experiments run --preset paper_text --seeds 1-5 \
  --data-dir "$DATA_DIR" --no-progress
sweep hsu2018 classp+ewc,classp+si,classp+mas
# Permuted MNIST over all training data, one pass per task, and the paper's
# MNIST -> Fashion-MNIST under the wide search: CLASSP and EWC first.
sweep permuted_full classp,ewc
sweep mnist_fashion_wide classp,ewc
sweep permuted_full sgd,adam,adagrad,online_ewc,si,mas,l2
sweep permuted_full classp_adagrad,classp_mask_only,classp_accumulator_only,classp_author_schedule,joint
sweep permuted_full classp+ewc,classp+si,classp+mas
sweep mnist_fashion_wide sgd,adam,adagrad,online_ewc,si,mas,l2
sweep mnist_fashion_wide classp_adagrad,classp_mask_only,classp_accumulator_only,classp_author_schedule,joint
sweep mnist_fashion_wide classp+ewc,classp+si,classp+mas
# The text stream's other methods last: the vision streams' evidence first.
sweep text_wide sgd,adam,adagrad,online_ewc,si,mas,l2
sweep text_wide classp_adagrad,classp_mask_only,classp_accumulator_only,classp_author_schedule,joint
sweep text_wide classp+ewc,classp+si,classp+mas
