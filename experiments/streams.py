"""Task streams for continual learning: permuted, split and mixed MNIST.

Every task carries a training split, a validation split carved from the
task's training data and a test split from the dataset's test data. All
randomness (pixel permutations, validation carving, subsampling) derives from
one ``seed``, so every method trained on a stream sees the same examples.
"""

import os
from typing import Callable, NamedTuple

import numpy as np

from experiments import data

# Valid scenarios of each stream; None means the stream takes no scenario.
STREAMS: dict[str, tuple[str | None, ...]] = {
    'permuted_mnist': (None,),
    'split_mnist': ('task', 'domain', 'class'),
    'mnist_fashion': (None,),
}

SPLIT_MNIST_DIGITS = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))
MNIST_FASHION_DATASETS = ('mnist', 'fashion_mnist')
DEFAULT_PERMUTED_TASKS = 10

_NUM_PIXELS = 28 * 28
_NUM_DIGITS = 10
# Second entries of the seed sequences, so permutations and splits differ.
_PERMUTATION_KEY = 0
_SPLIT_KEY = 1


class Task(NamedTuple):
  """One task of a stream; images float32 [N, 28, 28, 1], labels int32 [N].

  Attributes:
    name: e.g. ``'permuted_mnist/3'`` or ``'split_mnist/0-1'``.
    train_x: training images (validation examples removed).
    train_y: training labels.
    val_x: validation images, carved from the task's training data.
    val_y: validation labels.
    test_x: test images, from the dataset's test split.
    test_y: test labels.
    logit_mask: bool [num_classes] marking the task's logits in the
      multi-head (``'task'``) scenario; None otherwise.
  """
  name: str
  train_x: np.ndarray
  train_y: np.ndarray
  val_x: np.ndarray
  val_y: np.ndarray
  test_x: np.ndarray
  test_y: np.ndarray
  logit_mask: np.ndarray | None


class Stream(NamedTuple):
  """A sequence of tasks sharing one output head of ``num_classes`` logits."""
  name: str
  scenario: str | None
  num_classes: int
  tasks: tuple[Task, ...]


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


def make_stream(
    name: str,
    scenario: str | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    num_tasks: int | None = None,
    train_per_task: int | None = None,
    test_per_task: int | None = None,
    val_per_task: int | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> Stream:
  """Builds a continual-learning stream of tasks.

  Streams (see ``STREAMS``):

  * ``permuted_mnist``: MNIST under a fixed random pixel permutation per task
    (task 0 unpermuted); one 10-way head.
  * ``split_mnist``: five tasks of two digits each, ``SPLIT_MNIST_DIGITS``.
    Scenario ``'task'``: labels are the digits, 10 logits and a
    ``logit_mask`` per task (multi-head); ``'domain'``: labels are
    ``digit % 2`` (first or second digit of the pair), 2 logits; ``'class'``:
    labels are the digits, 10 logits.
  * ``mnist_fashion``: MNIST, then Fashion-MNIST; one 10-way head.

  Validation and subsampling: each task's training examples are shuffled
  (seeded per task); the first ``round(val_fraction * n)`` become the
  validation pool and the rest the training pool. ``train_per_task`` then
  keeps the first ``train_per_task`` examples of each pool, so validation
  never exceeds the training size, and smaller subsamples are subsets of
  larger ones; ``val_per_task`` caps the validation pool on its own. ``test_per_task`` likewise keeps a seeded subset of the test
  examples. Only the kept examples are copied.

  Args:
    name: one of ``STREAMS``.
    scenario: one of ``STREAMS[name]``.
    data_dir: the data folder, passed to ``data.load_dataset``.
    num_tasks: the number of ``permuted_mnist`` tasks (default
      ``DEFAULT_PERMUTED_TASKS``); the other streams have a fixed number of
      tasks, which ``num_tasks`` must match when given.
    train_per_task: if given, at most this many training (and validation)
      examples per task.
    test_per_task: if given, at most this many test examples per task.
    val_per_task: if given, at most this many validation examples per task.
    val_fraction: the fraction of each task's training data used for
      validation, in [0, 1).
    seed: a non-negative integer from which permutations and splits derive.

  Returns:
    The stream, with arrays in host memory.

  Raises:
    ValueError: if a name, scenario or size is invalid.
  """
  if name not in STREAMS:
    raise ValueError(
        f'Unknown stream {name!r}; valid streams: {", ".join(STREAMS)}.')
  if scenario not in STREAMS[name]:
    valid = ', '.join(repr(s) for s in STREAMS[name])
    raise ValueError(
        f'Invalid scenario {scenario!r} for stream {name!r}; valid'
        f' scenarios: {valid}.')
  if not 0 <= val_fraction < 1:
    raise ValueError(f'val_fraction must be in [0, 1), got {val_fraction}.')
  for arg, value in (('num_tasks', num_tasks),
                     ('train_per_task', train_per_task),
                     ('test_per_task', test_per_task),
                     ('val_per_task', val_per_task)):
    if value is not None and value < 1:
      raise ValueError(f'{arg} must be positive, got {value}.')

  def split(task_index, train_pool, test_pool):
    return _split_indices(
        np.random.default_rng((seed, _SPLIT_KEY, task_index)), train_pool,
        test_pool, val_fraction, train_per_task, test_per_task, val_per_task)

  if name == 'permuted_mnist':
    num_tasks = DEFAULT_PERMUTED_TASKS if num_tasks is None else num_tasks
    mnist = data.load_dataset('mnist', data_dir)
    train_pool = np.arange(len(mnist.train_y))
    test_pool = np.arange(len(mnist.test_y))
    tasks = tuple(
        _make_task(f'{name}/{t}', mnist, split(t, train_pool, test_pool),
                   permutation=None if t == 0 else pixel_permutation(t, seed))
        for t in range(num_tasks))
    return Stream(name, scenario, _NUM_DIGITS, tasks)

  fixed_tasks = (len(SPLIT_MNIST_DIGITS) if name == 'split_mnist'
                 else len(MNIST_FASHION_DATASETS))
  if num_tasks is not None and num_tasks != fixed_tasks:
    raise ValueError(
        f'Stream {name!r} has {fixed_tasks} tasks; got num_tasks={num_tasks}.')

  if name == 'split_mnist':
    mnist = data.load_dataset('mnist', data_dir)
    tasks = []
    for t, digits in enumerate(SPLIT_MNIST_DIGITS):
      logit_mask = None
      if scenario == 'task':
        logit_mask = np.isin(np.arange(_NUM_DIGITS), digits)
      indices = split(t, np.flatnonzero(np.isin(mnist.train_y, digits)),
                      np.flatnonzero(np.isin(mnist.test_y, digits)))
      tasks.append(_make_task(
          f'{name}/{digits[0]}-{digits[1]}', mnist, indices,
          relabel=(lambda y: y % 2) if scenario == 'domain' else None,
          logit_mask=logit_mask))
    num_classes = 2 if scenario == 'domain' else _NUM_DIGITS
    return Stream(name, scenario, num_classes, tuple(tasks))

  tasks = []
  for t, dataset_name in enumerate(MNIST_FASHION_DATASETS):
    dataset = data.load_dataset(dataset_name, data_dir)
    indices = split(t, np.arange(len(dataset.train_y)),
                    np.arange(len(dataset.test_y)))
    tasks.append(_make_task(f'{name}/{dataset_name}', dataset, indices))
  return Stream(name, scenario, _NUM_DIGITS, tuple(tasks))


def _split_indices(
    rng: np.random.Generator,
    train_pool: np.ndarray,
    test_pool: np.ndarray,
    val_fraction: float,
    train_per_task: int | None,
    test_per_task: int | None,
    val_per_task: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Returns sorted (train, validation, test) indices; see ``make_stream``."""
  shuffled = rng.permutation(train_pool)
  num_val = round(val_fraction * len(shuffled))
  val, train = shuffled[:num_val], shuffled[num_val:]
  test = rng.permutation(test_pool)
  if train_per_task is not None:
    val, train = val[:train_per_task], train[:train_per_task]
  if test_per_task is not None:
    test = test[:test_per_task]
  if val_per_task is not None:
    val = val[:val_per_task]
  return np.sort(train), np.sort(val), np.sort(test)


def _make_task(
    name: str,
    dataset: data.Dataset,
    indices: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    permutation: np.ndarray | None = None,
    relabel: Callable[[np.ndarray], np.ndarray] | None = None,
    logit_mask: np.ndarray | None = None,
) -> Task:
  """Copies the indexed examples, permuting pixels and relabelling."""
  train, val, test = indices

  def images(x, idx):
    if permutation is None:
      return x[idx]
    flat = x.reshape(len(x), _NUM_PIXELS)
    return flat[np.ix_(idx, permutation)].reshape(len(idx), *x.shape[1:])

  def labels(y, idx):
    return y[idx] if relabel is None else relabel(y[idx])

  return Task(
      name,
      images(dataset.train_x, train), labels(dataset.train_y, train),
      images(dataset.train_x, val), labels(dataset.train_y, val),
      images(dataset.test_x, test), labels(dataset.test_y, test),
      logit_mask)
