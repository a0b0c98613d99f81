"""Split MNIST: five tasks of two digits each, in three scenarios.

Scenario ``'task'``: labels are the digits, 10 logits and a ``logit_mask`` per
task (multi-head); ``'domain'``: labels are ``digit % 2`` (first or second
digit of the pair), 2 logits; ``'class'``: labels are the digits, 10 logits.
"""

import os

import numpy as np

from experiments import data
from experiments.streams import base

DIGITS = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))

_NUM_DIGITS = 10


def _parity(labels: np.ndarray) -> np.ndarray:
  return labels % 2


def build(scenario: str, num_tasks: int | None, carving: base.Carving,
          data_dir: str | os.PathLike[str] | None) -> base.Stream:
  """The stream; see :data:`FAMILY`."""
  del num_tasks  # Fixed, checked by the registry.
  mnist = data.load_dataset('mnist', data_dir)
  tasks = []
  for t, digits in enumerate(DIGITS):
    indices = carving.indices(
        t, np.flatnonzero(np.isin(mnist.train_y, digits)),
        np.flatnonzero(np.isin(mnist.test_y, digits)))
    tasks.append(base.make_task(
        t, f'{FAMILY.name}/{digits[0]}-{digits[1]}', mnist, indices,
        relabel=_parity if scenario == 'domain' else None,
        logit_mask=(np.isin(np.arange(_NUM_DIGITS), digits)
                    if scenario == 'task' else None)))
  num_classes = 2 if scenario == 'domain' else _NUM_DIGITS
  return base.Stream(FAMILY.name, scenario, num_classes, tuple(tasks))


FAMILY = base.StreamFamily(
    name='split_mnist', scenarios=('task', 'domain', 'class'), build=build,
    datasets=('mnist',),
    fixed_num_tasks=len(DIGITS),
    description='MNIST digit pairs 0-1, ..., 8-9: task (multi-head), domain '
                '(shared 2-way head) or class (shared 10-way head)')
