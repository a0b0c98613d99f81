"""What every method shares on a stream: :class:`Setup` and :class:`Protocol`.

The presets of :mod:`experiments.configs.presets` are instances; a run
records :meth:`Setup.config` as part of its key.
"""

from collections.abc import Mapping
import dataclasses
import os
from typing import Any

from experiments import search as search_lib
from experiments import streams


@dataclasses.dataclass(frozen=True)
class Protocol:
  """How every method of a stream trains: model, epochs, batches.

  Attributes:
    model: a key of :data:`experiments.models.MODELS`.
    hidden: hidden widths of the MLP.
    epochs: epochs per task (one int, or one per task).
    batch_size: examples per step.
    shuffle: shuffle each epoch (False: dataset order, as the paper's runs).
    fisher_samples: examples given to a regularizer at the end of a task.
    steps_per_task: train exactly this many steps per task (passes of fresh
      orders, the last one cut short) instead of ``epochs``; None: epochs.
  """
  model: str = 'mlp'
  hidden: tuple[int, ...] = (256, 256)
  epochs: int | tuple[int, ...] = 1
  batch_size: int = 64
  shuffle: bool = True
  fisher_samples: int = 1024
  steps_per_task: int | None = None

  def epochs_of(self, task: int) -> int:
    """The epochs of task ``task``."""
    return self.epochs if isinstance(self.epochs, int) else self.epochs[task]


# Protocol fields recorded only when set (None is their default).
_ADDED_FIELDS = ('steps_per_task',)


@dataclasses.dataclass(frozen=True)
class Setup:
  """A stream and the protocol every method shares on it.

  Attributes:
    stream: a name of :data:`experiments.streams.STREAMS`.
    scenario: its scenario, or None.
    num_tasks: tasks (for streams of any length; None keeps the stream's).
    train_per_task: training examples per task (None: all).
    val_per_task: validation examples per task.
    test_per_task: test examples per task (None: all).
    protocol: model, epochs, batch size.
    notes: what a reader should know when comparing with the literature.
  """
  stream: str
  scenario: str | None
  num_tasks: int | None
  train_per_task: int | None
  val_per_task: int | None
  test_per_task: int | None
  protocol: Protocol
  notes: tuple[str, ...] = ()

  @property
  def key(self) -> str:
    """The stream's key in result files, e.g. ``'split_mnist_task'``."""
    return streams.stream_key(self.stream, self.scenario)

  def make_stream(self, seed: int,
                  data_dir: str | os.PathLike[str] | None,
                  first_tasks: int | None = None) -> streams.Stream:
    """The stream's tasks for ``seed``; only the first ``first_tasks``."""
    stream = streams.make_stream(
        self.stream, self.scenario, data_dir=data_dir,
        num_tasks=self.num_tasks, train_per_task=self.train_per_task,
        val_per_task=self.val_per_task, test_per_task=self.test_per_task,
        seed=seed)
    if first_tasks is None:
      return stream
    if not 1 <= first_tasks <= len(stream.tasks):
      raise ValueError(f'first_tasks must be in [1, {len(stream.tasks)}], '
                       f'got {first_tasks}.')
    return stream._replace(tasks=stream.tasks[:first_tasks])

  def config(self) -> dict[str, Any]:
    """The protocol as recorded in the result files (notes apart).

    Fields added after runs were recorded are left out while they keep
    their default (:data:`_ADDED_FIELDS`), so those runs' keys stay valid.
    """
    config = dataclasses.asdict(self)
    protocol = config.pop('protocol')
    del config['notes']
    return {**config, **{k: v for k, v in protocol.items()
                         if k not in _ADDED_FIELDS or v is not None}}

  @classmethod
  def from_config(cls, config: Mapping[str, Any],
                  notes: tuple[str, ...] = ()) -> 'Setup':
    """The setup whose :meth:`config` is ``config`` (e.g. read from JSON)."""
    protocol_fields = {f.name for f in dataclasses.fields(Protocol)}
    protocol = {k: tuple(v) if isinstance(v, list) else v
                for k, v in config.items() if k in protocol_fields}
    return cls(**{k: v for k, v in config.items() if k not in protocol_fields},
               protocol=Protocol(**protocol), notes=notes)

  def replace(self, **changes: Any) -> 'Setup':
    """A copy with setup fields and :class:`Protocol` fields replaced.

    Example::

      smaller = setup.replace(train_per_task=500, epochs=1)
    """
    protocol_fields = {f.name for f in dataclasses.fields(Protocol)}
    protocol_changes = {k: v for k, v in changes.items()
                        if k in protocol_fields}
    setup_changes: Mapping[str, Any] = {
        k: v for k, v in changes.items() if k not in protocol_fields}
    return dataclasses.replace(
        self, **setup_changes,
        protocol=dataclasses.replace(self.protocol, **protocol_changes))


@dataclasses.dataclass(frozen=True)
class MethodRun:
  """A method with fixed hyperparameters, as a preset runs it.

  Attributes:
    method: a method name (:func:`experiments.methods.parse_method`).
    hyperparams: its hyperparameters.
    task_hyperparams: optional per-task overrides of the optimizer's
      hyperparameters (see :func:`experiments.training.run`).
    tag: the run files' name, ``<tag>-<seed>.json``.
  """
  method: str
  hyperparams: Mapping[str, Any]
  task_hyperparams: tuple[Mapping[str, Any], ...] | None = None
  tag: str = 'seed'


@dataclasses.dataclass(frozen=True)
class Preset:
  """A named protocol of ``python -m experiments run``.

  Attributes:
    name: e.g. ``'quick'``.
    setups: the setups it can run, by stream key.
    stream: the stream it runs when none is named.
    methods: the methods it runs when none are named.
    fixed: methods it runs with fixed hyperparameters, by the name they get
      in the result file (others take a sweep's choices, else defaults).
    description: one line, for the command line's help.
    search: how ``python -m experiments sweep`` tunes its methods; None for
      a preset that is only run.
    sweep_methods: the methods a sweep tunes by default (None: ``methods``;
      ``fixed`` ones are evaluated too).
    sweep_seeds: the seeds a sweep reports (never tuning seeds).
    results: its results' folder under ``experiments/results`` ('' for
      that folder itself).
  """
  name: str
  setups: Mapping[str, Setup]
  stream: str
  methods: tuple[str, ...]
  fixed: Mapping[str, MethodRun] = dataclasses.field(default_factory=dict)
  description: str = ''
  search: search_lib.Search | None = None
  sweep_methods: tuple[str, ...] | None = None
  sweep_seeds: tuple[int, ...] = (1, 2, 3, 4, 5)
  results: str = ''
