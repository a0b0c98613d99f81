"""Permuted MNIST: MNIST under a fixed random pixel permutation per task.

Task 0 keeps the original pixel order; one shared 10-way head.
"""

import os

import numpy as np

from experiments import data
from experiments.streams import base

DEFAULT_NUM_TASKS = 10

_NUM_PIXELS = 28 * 28
_NUM_DIGITS = 10
# Second entry of the permutations' seed sequences (the carving uses 1).
_PERMUTATION_KEY = 0


def pixel_permutation(task_index: int, seed: int = 0) -> np.ndarray:
  """Returns the pixel permutation of a permuted-MNIST task.

  Args:
    task_index: the task's position in the stream; task 0 keeps the original
      pixel order.
    seed: a non-negative integer; each task's permutation depends only on
      ``seed`` and ``task_index``, not on the number of tasks.

  Returns:
    An int array [784] of indices into the flattened 28x28 image.
  """
  if task_index == 0:
    return np.arange(_NUM_PIXELS)
  rng = np.random.default_rng((seed, _PERMUTATION_KEY, task_index))
  return rng.permutation(_NUM_PIXELS)


def _permuted(permutation: np.ndarray):
  """``(images, indices) -> images[indices]`` with permuted pixels."""

  def select(images, indices):
    flat = images.reshape(len(images), _NUM_PIXELS)
    return flat[np.ix_(indices, permutation)].reshape(
        len(indices), *images.shape[1:])

  return select


def build(scenario: None, num_tasks: int | None, carving: base.Carving,
          data_dir: str | os.PathLike[str] | None) -> base.Stream:
  """The stream; see :data:`FAMILY`."""
  num_tasks = DEFAULT_NUM_TASKS if num_tasks is None else num_tasks
  mnist = data.load_dataset('mnist', data_dir)
  train_pool = np.arange(len(mnist.train_y))
  test_pool = np.arange(len(mnist.test_y))
  tasks = tuple(
      base.make_task(
          t, f'{FAMILY.name}/{t}', mnist,
          carving.indices(t, train_pool, test_pool),
          select=None if t == 0 else _permuted(
              pixel_permutation(t, carving.seed)))
      for t in range(num_tasks))
  return base.Stream(FAMILY.name, scenario, _NUM_DIGITS, tasks)


FAMILY = base.StreamFamily(
    name='permuted_mnist', scenarios=(None,), build=build,
    datasets=('mnist',),
    description=f'MNIST, a new pixel permutation per task (default '
                f'{DEFAULT_NUM_TASKS} tasks)')
