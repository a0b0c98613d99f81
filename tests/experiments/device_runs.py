"""A run of test_checkpoints' synthetic stream in a process of its own.

The tests of experiments.devices start it with a number of host devices (set
before JAX starts) and, for several processes, the coordinator's address::

  python -m tests.experiments.device_runs OUT.npz --method ewc \
      --host-devices 8 --devices 8 [--checkpoint-dir DIR --stop-after 1] \
      [--coordinator 127.0.0.1:PORT --num-processes 2 --process-id 0]

It writes ``OUT.npz`` (process 0 only): the accuracy matrices and the final
params (flat). With ``--stop-after K`` it crashes right after the run's
K-th checkpoint (exit code 3).
"""

import argparse
import sys

import jax
import numpy as np

from experiments import checkpoints
from experiments import devices
from tests.experiments import test_checkpoints


def main() -> int:
  parser = argparse.ArgumentParser()
  parser.add_argument('out')
  parser.add_argument('--method', default='ewc')
  parser.add_argument('--host-devices', type=int, default=1)
  parser.add_argument('--devices', type=int, default=None)
  parser.add_argument('--checkpoint-dir', default=None)
  parser.add_argument('--stop-after', type=int, default=None)
  parser.add_argument('--coordinator', default=None)
  parser.add_argument('--num-processes', type=int, default=None)
  parser.add_argument('--process-id', type=int, default=None)
  args = parser.parse_args()
  # Before JAX starts its backend (importing it does not).
  jax.config.update('jax_num_cpu_devices', args.host_devices)
  if args.coordinator is not None:
    devices.initialize(args.coordinator, args.num_processes, args.process_id)
  checkpointer = None
  if args.checkpoint_dir is not None:
    checkpointer = (
        checkpoints.RunCheckpointer(args.checkpoint_dir)
        if args.stop_after is None else test_checkpoints._StopAfterSaves(
            args.checkpoint_dir, args.stop_after))
  states = []
  try:
    result = test_checkpoints._run(
        args.method, checkpointer, lambda index, state: states.append(state),
        mesh=devices.make_mesh(args.devices))
  except test_checkpoints._Stop:
    return 3
  params = np.concatenate([np.asarray(leaf).ravel() for leaf in
                           jax.tree.leaves(states[-1].params)])
  if devices.is_primary():
    np.savez(args.out, test_acc=result.test_acc, val_acc=result.val_acc,
             params=params, devices=result.devices)
  return 0


if __name__ == '__main__':
  sys.exit(main())
