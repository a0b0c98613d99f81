"""Task streams for continual learning, registered by family.

Every task carries a training split, a validation split carved from the
task's training data and a test split from the dataset's test data (held out
from its data when it has no test split). All
randomness (permutations, validation carving, subsampling) derives from one
``seed``, so every method trained on a stream sees the same examples.

A family is a module of this package that declares a
:class:`~experiments.streams.base.StreamFamily` named ``FAMILY``; listing the
module in ``_FAMILY_MODULES`` registers it.
"""

import os

from experiments.streams import base
from experiments.streams import mnist_fashion
from experiments.streams import permuted_mnist
from experiments.streams import split_mnist
from experiments.streams import sst2_imdb
from experiments.streams import tweet_domains

Split = base.Split
Stream = base.Stream
Task = base.Task

_FAMILY_MODULES = (permuted_mnist, split_mnist, mnist_fashion,
                   tweet_domains, sst2_imdb)
FAMILIES: dict[str, base.StreamFamily] = {
    module.FAMILY.name: module.FAMILY for module in _FAMILY_MODULES}

# Valid scenarios of each stream; (None,) when the stream takes none.
STREAMS: dict[str, tuple[str | None, ...]] = {
    name: family.scenarios for name, family in FAMILIES.items()}


def stream_key(name: str, scenario: str | None) -> str:
  """A stream's key in result files: ``'<name>'`` or ``'<name>_<scenario>'``."""
  return f'{name}_{scenario}' if scenario else name


def family(name: str) -> base.StreamFamily:
  """The registered family ``name``; raises ValueError naming the valid ones."""
  if name not in FAMILIES:
    raise ValueError(
        f'Unknown stream {name!r}; valid streams: {", ".join(FAMILIES)}.')
  return FAMILIES[name]


def make_stream(
    name: str,
    scenario: str | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    num_tasks: int | None = None,
    train_per_task: int | None = None,
    test_per_task: int | None = None,
    val_per_task: int | None = None,
    val_fraction: float = base.DEFAULT_VAL_FRACTION,
    seed: int = 0,
) -> Stream:
  """Builds a continual-learning stream of tasks.

  Args:
    name: a registered stream (:data:`STREAMS`).
    scenario: one of ``STREAMS[name]``.
    data_dir: the data folder, passed to the family's loader.
    num_tasks: the number of tasks, for families that take any (default:
      the family's); for the others it must match their fixed count.
    train_per_task: if given, at most this many training (and validation)
      examples per task.
    test_per_task: if given, at most this many test examples per task.
    val_per_task: if given, at most this many validation examples per task.
    val_fraction: the fraction of each task's training data used for
      validation, in [0, 1).
    seed: a non-negative integer from which permutations and splits derive.

  Returns:
    The stream, with arrays in host memory. See
    :class:`~experiments.streams.base.Carving` for how examples are split.

  Raises:
    ValueError: if a name, scenario or size is invalid.

  Example::

    stream = make_stream('split_mnist', 'task', data_dir='data',
                         train_per_task=1000)
    [task.name for task in stream.tasks]  # ['split_mnist/0-1', ...]
  """
  stream_family = family(name)
  stream_family.check(scenario, num_tasks)
  carving = base.Carving(
      seed=seed, val_fraction=val_fraction, train_per_task=train_per_task,
      val_per_task=val_per_task, test_per_task=test_per_task)
  return stream_family.build(scenario, num_tasks, carving, data_dir)
