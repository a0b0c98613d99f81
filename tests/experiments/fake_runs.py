"""Fixed training results for the tests of the run files and sweeps."""

import numpy as np

from experiments import streams
from experiments import training

# A stream with no tasks: what Setup.make_stream returns under fake training.
NO_TASKS = streams.Stream('no_tasks', None, 2, ())

# The fingerprint runs get under fake training.
CODE = {'source': 'abc', 'packages': {'jax': '1'}, 'data': {'mnist': 'd'}}


def fake_result(acc):
  """A run's result whose test and validation matrices are ``acc``."""
  return training.RunResult(
      test_acc=np.array(acc), val_acc=np.array(acc), state_bytes=8,
      param_bytes=8, wall_s=1.0, diagnostics={})
