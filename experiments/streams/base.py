"""What every stream family shares: splits, tasks, streams and carving.

A stream family (one module of this package, e.g.
:mod:`experiments.streams.split_mnist`) declares a :class:`StreamFamily`;
:mod:`experiments.streams` registers it by name.
"""

from collections.abc import Callable
import dataclasses
import os
from typing import NamedTuple, Protocol

import numpy as np

# Second entry of the per-task seed sequence of the carving (the first is the
# stream's seed, the third the task's index), so that families can derive
# other per-task randomness from other second entries.
_CARVING_KEY = 1

# The share of each task's training data held out for validation.
DEFAULT_VAL_FRACTION = 0.1


class Split(NamedTuple):
  """Examples of a stream: inputs, labels and each example's task.

  Attributes:
    x: inputs ``[N, ...]`` (images ``[N, H, W, C]`` float32, or token ids).
    y: int32 labels ``[N]``.
    task: int32 ``[N]``, the index of each example's task in its stream
      (it selects the task's logits in the multi-head scenario).
  """
  x: np.ndarray
  y: np.ndarray
  task: np.ndarray


class Task(NamedTuple):
  """One task of a stream.

  Attributes:
    name: e.g. ``'permuted_mnist/3'`` or ``'split_mnist/0-1'``.
    train: the training examples (validation examples removed).
    val: validation examples, carved from the task's training data.
    test: test examples, from the dataset's test data.
    logit_mask: bool ``[num_classes]`` marking the task's logits in the
      multi-head (``'task'``) scenario; None otherwise.
  """
  name: str
  train: Split
  val: Split
  test: Split
  logit_mask: np.ndarray | None


class Stream(NamedTuple):
  """A sequence of tasks sharing one output head of ``num_classes`` logits.

  ``vocab_size`` is the range of token ids for streams of token inputs
  (None for images).
  """
  name: str
  scenario: str | None
  num_classes: int
  tasks: tuple[Task, ...]
  vocab_size: int | None = None

  @property
  def input_shape(self) -> tuple[int, ...]:
    """The shape of one input, e.g. ``(28, 28, 1)``."""
    return self.tasks[0].train.x.shape[1:]


class Examples(Protocol):
  """A dataset's arrays, from which a family carves its tasks.

  :class:`experiments.data.Dataset` is one.
  """
  train_x: np.ndarray
  train_y: np.ndarray
  test_x: np.ndarray
  test_y: np.ndarray


@dataclasses.dataclass(frozen=True)
class Carving:
  """How each task's examples are split and subsampled.

  Each task's training examples are shuffled (seeded by ``seed`` and the
  task's index); the first ``round(val_fraction * n)`` become the validation
  pool and the rest the training pool. ``train_per_task`` then keeps the
  first ``train_per_task`` examples of each pool, so validation never exceeds
  the training size, and smaller subsamples are subsets of larger ones;
  ``val_per_task`` caps the validation pool on its own. ``test_per_task``
  likewise keeps a seeded subset of the test examples.

  Attributes:
    seed: a non-negative integer from which every split derives.
    val_fraction: the fraction of each task's training data used for
      validation, in [0, 1).
    train_per_task: at most this many training (and validation) examples per
      task; None for all.
    val_per_task: at most this many validation examples per task.
    test_per_task: at most this many test examples per task.
  """
  seed: int = 0
  val_fraction: float = DEFAULT_VAL_FRACTION
  train_per_task: int | None = None
  val_per_task: int | None = None
  test_per_task: int | None = None

  def __post_init__(self):
    if not 0 <= self.val_fraction < 1:
      raise ValueError(
          f'val_fraction must be in [0, 1), got {self.val_fraction}.')
    for name in ('train_per_task', 'test_per_task', 'val_per_task'):
      value = getattr(self, name)
      if value is not None and value < 1:
        raise ValueError(f'{name} must be positive, got {value}.')

  def indices(
      self, task_index: int, train_pool: np.ndarray, test_pool: np.ndarray,
  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted (train, validation, test) indices of one task.

    Args:
      task_index: the task's position in its stream.
      train_pool: indices of the task's examples in the training data.
      test_pool: indices of the task's examples in the test data.

    Returns:
      Three sorted index arrays, into the training, training and test data.
    """
    rng = np.random.default_rng((self.seed, _CARVING_KEY, task_index))
    shuffled = rng.permutation(train_pool)
    num_val = round(self.val_fraction * len(shuffled))
    val, train = shuffled[:num_val], shuffled[num_val:]
    test = rng.permutation(test_pool)
    if self.train_per_task is not None:
      val, train = val[:self.train_per_task], train[:self.train_per_task]
    if self.test_per_task is not None:
      test = test[:self.test_per_task]
    if self.val_per_task is not None:
      val = val[:self.val_per_task]
    return np.sort(train), np.sort(val), np.sort(test)


def make_task(
    task_index: int,
    name: str,
    examples: Examples,
    indices: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    select: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    relabel: Callable[[np.ndarray], np.ndarray] | None = None,
    logit_mask: np.ndarray | None = None,
) -> Task:
  """Copies the indexed examples of a task (only those).

  Args:
    task_index: the task's position in its stream.
    name: the task's name.
    examples: the dataset.
    indices: (train, validation, test) indices, e.g. from
      :meth:`Carving.indices`.
    select: ``(inputs, indices) -> inputs``, e.g. to permute pixels while
      copying; default ``inputs[indices]``.
    relabel: maps the selected labels, e.g. to a shared head.
    logit_mask: see :class:`Task`.

  Returns:
    The :class:`Task`.
  """
  train, val, test = indices

  def split(x, y, index):
    labels = y[index] if relabel is None else relabel(y[index])
    return Split(x[index] if select is None else select(x, index), labels,
                 np.full(len(index), task_index, np.int32))

  return Task(name,
              split(examples.train_x, examples.train_y, train),
              split(examples.train_x, examples.train_y, val),
              split(examples.test_x, examples.test_y, test),
              logit_mask)


@dataclasses.dataclass(frozen=True)
class StreamFamily:
  """A family of task streams, registered by name in :mod:`experiments.streams`.

  Attributes:
    name: the stream's name, e.g. ``'split_mnist'``.
    scenarios: its valid scenarios; ``(None,)`` when it takes none.
    build: ``(scenario, num_tasks, carving, data_dir) -> Stream``;
      ``num_tasks`` is None for the family's default.
    datasets: the datasets its tasks are carved from (names of
      :func:`experiments.data.checksum`).
    fixed_num_tasks: the number of tasks, when the family has a fixed one
      (a different ``num_tasks`` is refused); None when any number works.
    description: one line, for the command line's help.
  """
  name: str
  scenarios: tuple[str | None, ...]
  build: Callable[[str | None, int | None, Carving,
                   str | os.PathLike[str] | None], Stream]
  datasets: tuple[str, ...]
  fixed_num_tasks: int | None = None
  description: str = ''

  def check(self, scenario: str | None, num_tasks: int | None) -> None:
    """Raises ValueError, naming the valid values, for a bad request."""
    if scenario not in self.scenarios:
      valid = ', '.join(repr(s) for s in self.scenarios)
      raise ValueError(
          f'Invalid scenario {scenario!r} for stream {self.name!r}; valid'
          f' scenarios: {valid}.')
    if num_tasks is not None and num_tasks < 1:
      raise ValueError(f'num_tasks must be positive, got {num_tasks}.')
    if (num_tasks is not None and self.fixed_num_tasks is not None
        and num_tasks != self.fixed_num_tasks):
      raise ValueError(
          f'Stream {self.name!r} has {self.fixed_num_tasks} tasks; got '
          f'num_tasks={num_tasks}.')

