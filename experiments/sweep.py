"""Protocols, resumable runs, tuning and the result files.

Every finished run (one method, one configuration or seed) is written at once
to ``<out>/runs/<stream key>/<method>/<tag>.json`` and skipped when a rerun
finds it with the same configuration (and :data:`CODE_VERSION`), so a sweep
can be stopped and resumed. :func:`sweep_stream` turns a stream's runs into
``<out>/<stream key>.json``.
"""

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import numpy as np

from experiments import methods
from experiments import metrics
from experiments import streams
from experiments import training


# Part of every cached run's key: bump it when a change to the library or the
# experiments changes what a run computes, so that no stale run is reused.
CODE_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Setup:
  """A stream and the protocol every method shares on it.

  Attributes:
    stream: a name of :data:`experiments.streams.STREAMS`.
    scenario: its scenario, or None.
    num_tasks: tasks (permuted MNIST only; None keeps the stream's).
    train_per_task: training examples per task (None: all).
    val_per_task: validation examples per task.
    test_per_task: test examples per task (None: all).
    protocol: model, epochs, batch size.
    notes: what a reader should know when comparing with the literature.
  """
  stream: str
  scenario: Optional[str]
  num_tasks: Optional[int]
  train_per_task: Optional[int]
  val_per_task: Optional[int]
  test_per_task: Optional[int]
  protocol: training.Protocol
  notes: tuple[str, ...] = ()

  @property
  def key(self) -> str:
    return self.stream + (f'_{self.scenario}' if self.scenario else '')

  def make_stream(self, seed: int, data_dir: Optional[str]) -> streams.Stream:
    return streams.make_stream(
        self.stream, self.scenario, data_dir=data_dir, num_tasks=self.num_tasks,
        train_per_task=self.train_per_task, val_per_task=self.val_per_task,
        test_per_task=self.test_per_task, seed=seed)

  def config(self) -> dict[str, Any]:
    """The protocol as recorded in the result files."""
    config = dataclasses.asdict(self)
    protocol = config.pop('protocol')
    del config['notes']
    return {**config, **protocol}


_MLP = training.Protocol(model='mlp', hidden=(256, 256), epochs=2,
                         batch_size=64)
_LITERATURE = (
    'van de Ven & Tolias (2019) train an MLP of 2x400 (split) or 2x1000 '
    '(permuted) units for 2000 (split) or 5000 (permuted) iterations of '
    'batch 128 per task on all training data, and test on the whole test '
    'set. This protocol, the same for every method, trains an MLP of 2x256 '
    'units for 2 epochs of 3,000 examples per task (94 steps of batch 64), '
    'about 20-50x less training, and tests on at most 2,000 examples per '
    'task, to fit the sweep into about 6 hours of a 2-core CPU.')

_ADAGRAD = (
    "`adagrad` starts its accumulator at 0 (optax's default is 0.1): it is "
    'then CLASSP with power 2 and threshold 0, up to where eps sits, so the '
    'two rows separate the threshold and the power from AdaGrad itself. '
    'Every method draws 8 configurations from its search space (balanced '
    'over the knob values); CLASSP searches learning rate, threshold and '
    'power, so it sees fewer learning rates than the one-knob optimizers.')

FULL = {
    setup.key: setup for setup in (
        Setup('permuted_mnist', None, num_tasks=10, train_per_task=3000,
              val_per_task=600, test_per_task=2000, protocol=_MLP,
              notes=(_LITERATURE, _ADAGRAD)),
        *(Setup('split_mnist', scenario, num_tasks=None, train_per_task=3000,
                val_per_task=600, test_per_task=None, protocol=_MLP,
                notes=(_LITERATURE, _ADAGRAD))
          for scenario in ('task', 'domain', 'class')),
        Setup('mnist_fashion', None, num_tasks=None, train_per_task=4000,
              val_per_task=600, test_per_task=2000,
              protocol=training.Protocol(model='cnn', epochs=1, batch_size=32),
              notes=('The paper trains 4 epochs of all 60,000 MNIST images, '
                     'then 1 of Fashion-MNIST; here 4,000 images per task and '
                     '1 epoch each (the paper preset keeps its 4 + 1 epochs '
                     'on these images), tested on 2,000 images per task, to '
                     'fit the CPU budget.', _ADAGRAD)),
    )
}

QUICK = Setup('permuted_mnist', None, num_tasks=5, train_per_task=2000,
              val_per_task=300, test_per_task=1000,
              protocol=dataclasses.replace(_MLP, epochs=1),
              notes=('The quick default run: 5 tasks, 2,000 examples each, '
                     'one epoch, no tuning.',))

QUICK_METHODS = ('classp', 'ewc', 'online_ewc', 'sgd', 'adam')

# Used when no sweep result exists for the stream (else `run` takes the
# sweep's choices): the sweep's choices on permuted MNIST
# (experiments/results/permuted_mnist.json).
DEFAULT_HYPERPARAMS = {
    'classp': {'learning_rate': 0.03, 'threshold': 1e-4, 'power': 1.0},
    'sgd': {'learning_rate': 0.05},
    'adam': {'learning_rate': 1e-4},
    'adagrad': {'learning_rate': 0.01, 'initial_accumulator_value': 0.0},
    'ewc': {'base': 'sgd', 'learning_rate': 0.03, 'strength': 10.0},
    'online_ewc': {'base': 'adam', 'learning_rate': 3e-4, 'strength': 100.0,
                   'decay': 1.0},
    'si': {'base': 'sgd', 'learning_rate': 0.1, 'strength': 0.1},
    'mas': {'base': 'adam', 'learning_rate': 1e-3, 'strength': 0.01},
    'l2': {'base': 'sgd', 'learning_rate': 0.1, 'strength': 0.1},
    'joint': {'learning_rate': 1e-3},
}

# The CLASSP author's protocol on MNIST -> Fashion-MNIST (../shared/CLASSP.md):
# CLASSP with scaling off and threshold 0.5 on task 1, scaling on and
# threshold 0 on task 2, on one optimizer state; EWC with SGD 0.25, lambda 5000.
def paper_setup(setup: Setup) -> Setup:
  """``setup`` with the paper's schedule: 4 + 1 epochs in dataset order."""
  return dataclasses.replace(setup, protocol=dataclasses.replace(
      setup.protocol, epochs=(4, 1), shuffle=False))


PAPER = paper_setup(FULL['mnist_fashion'])
PAPER_METHODS = {
    'classp': dict(
        hyperparams={'learning_rate': 0.2, 'eps': 1e-5, 'power': 1.0,
                     'threshold': 0.5, 'apply_scaling': False},
        task_hyperparams=({'threshold': 0.5, 'apply_scaling': False},
                          {'threshold': 0.0, 'apply_scaling': True})),
    # What the author's class actually ran: its test (grad ** 2).any() > 0.5
    # is True > 0.5, so every element passes; per element, threshold 0.
    'classp_author_code': dict(
        method='classp', tag='paper-author-code-seed',
        hyperparams={'learning_rate': 0.2, 'eps': 1e-5, 'power': 1.0,
                     'threshold': 0.0, 'apply_scaling': False},
        task_hyperparams=({'threshold': 0.0, 'apply_scaling': False},
                          {'threshold': 0.0, 'apply_scaling': True})),
    'ewc': dict(hyperparams={'base': 'sgd', 'learning_rate': 0.25,
                             'strength': 5000.0}),
    # ../shared/CLASSP.md gives only 'diagonal empirical Fisher'. Scripts
    # that square mini-batch-mean gradients get about F / batch_size of the
    # per-example Fisher F used here (the mean gradient is near 0 after
    # training), and many omit the 1/2: lambda 5000 there is about
    # strength = 2 * 5000 / 32 = 312.5 here.
    'ewc_author_scale': dict(
        method='ewc', tag='paper-author-scale-seed',
        hyperparams={'base': 'sgd', 'learning_rate': 0.25,
                     'strength': 2 * 5000.0 / 32}),
}
PAPER_DESCRIPTION = (
    "The CLASSP author's hyperparameters and schedule (4 epochs of MNIST, 1 of "
    'Fashion-MNIST, dataset order, batch 32, lr 0.2, eps 1e-5, p=1; threshold '
    '0.5 with scaling off on task 1, threshold 0 with scaling on on task 2; '
    'EWC with SGD 0.25, lambda 5000) on the 4,000 training images per task '
    'of the tuned protocol, scored on the test split in eval mode. '
    "This project's EWC uses the per-example empirical Fisher and "
    'strength/2. The paper does not say how its Fisher was estimated; '
    'scripts that square mini-batch-mean gradients get values smaller by '
    'about the batch size, often with no 1/2, so `ewc` keeps lambda 5000 as '
    'written and `ewc_author_scale` uses 2 * 5000 / 32 = 312.5, that '
    'convention translated. '
    "`classp_author_code` is what the author's class computed with these "
    'settings: its threshold test collapses a tensor to one boolean, so a '
    'threshold of 0.5 let every element through (threshold 0 per element).')


def _to_json(value: Any) -> Any:
  if isinstance(value, dict):
    return {str(k): _to_json(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_to_json(v) for v in value]
  if isinstance(value, np.ndarray):
    return value.tolist()
  if isinstance(value, (np.floating, np.integer, np.bool_)):
    return value.item()
  return value


def write_json(path: Path, value: Any) -> None:
  """Writes ``value`` as JSON atomically (a partial file is never seen)."""
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix('.tmp')
  tmp.write_text(json.dumps(_to_json(value), indent=1, sort_keys=True) + '\n')
  os.replace(tmp, path)


def device_label() -> str:
  """The device runs use, and the JAX version, as recorded in runs."""
  return f'{training.device_name()}, JAX {jax.__version__}'


def cached_run(
    path: Path, setup: Setup, method: str, hyperparams: Mapping[str, Any],
    seed: int, data_dir: Optional[str], *, progress: bool = True,
    task_hyperparams: Optional[Sequence[Mapping[str, Any]]] = None,
) -> dict[str, Any]:
  """Runs one method once, or loads the run if ``path`` holds the same one."""
  config = _to_json({'code_version': CODE_VERSION,
                     'setup': setup.config(), 'method': method,
                     'hyperparams': dict(hyperparams), 'seed': seed,
                     'task_hyperparams': task_hyperparams})
  if path.exists():
    stored = json.loads(path.read_text())
    if stored.get('config') == config:
      return stored
  result = training.run(
      setup.make_stream(seed, data_dir), methods.parse_method(method),
      hyperparams, setup.protocol, seed, task_hyperparams=task_hyperparams,
      progress=progress)
  record = {'config': config, 'device': device_label(),
            **_to_json(dataclasses.asdict(result))}
  write_json(path, record)
  return record


def validation_score(run_record: Mapping[str, Any]) -> float:
  """Validation ACC of a run: mean of the last row of its validation matrix."""
  return metrics.average_accuracy(run_record['val_acc'])


def tune(
    out: Path, setup: Setup, method: str, grid_size: int, tuning_seed: int,
    data_dir: Optional[str], *, progress: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[float]]:
  """Runs a method's tuning grid; returns (best, grid, validation scores)."""
  grid = methods.tuning_grid(methods.parse_method(method), grid_size)
  scores = []
  for index, hyperparams in enumerate(grid):
    record = cached_run(
        out / 'runs' / setup.key / method / f'tune-{index}.json', setup,
        method, hyperparams, tuning_seed, data_dir, progress=progress)
    scores.append(validation_score(record))
    log(f'  tune {setup.key} {method} [{index + 1}/{len(grid)}] '
        f'{hyperparams}: val ACC {scores[-1]:.4f}')
  return grid[int(np.argmax(scores))], grid, scores


def method_summary(
    runs: Sequence[Mapping[str, Any]], hyperparams: Mapping[str, Any],
) -> dict[str, Any]:
  """The per-method block of a result file, from its seeds' runs."""
  matrices = np.array([r['test_acc'] for r in runs])
  joint = matrices.shape[1] == 1
  summary = {
      'acc_matrix': {'mean': matrices.mean(axis=0), 'per_seed': matrices},
      'avg_acc': metrics.summarize(
          [metrics.average_accuracy(m) for m in matrices]),
      'bwt': None if joint else metrics.summarize(
          [metrics.backward_transfer(m) for m in matrices]),
      'forgetting': None if joint else metrics.summarize(
          [metrics.forgetting(m) for m in matrices]),
      'state_bytes': runs[0]['state_bytes'],
      'param_bytes': runs[0]['param_bytes'],
      'wall_s': metrics.summarize([r['wall_s'] for r in runs]),
      'hyperparams': dict(hyperparams),
      'devices': sorted({r['device'] for r in runs if 'device' in r}),
  }
  if runs[0]['diagnostics']:
    summary['diagnostics'] = {
        name: [r['diagnostics'][name] for r in runs]
        for name in runs[0]['diagnostics']}
  return _to_json(summary)


def _is_joint(method: str) -> bool:
  return methods.parse_method(method).joint


def evaluate(
    out: Path, setup: Setup, method: str, hyperparams: Mapping[str, Any],
    seeds: Sequence[int], data_dir: Optional[str], *, tag: str = 'seed',
    task_hyperparams: Optional[Sequence[Mapping[str, Any]]] = None,
    progress: bool = True, log: Callable[[str], None] = print,
) -> dict[str, Any]:
  """Runs (or loads) a method on each seed; returns its summary block."""
  runs = []
  for seed in seeds:
    runs.append(cached_run(
        out / 'runs' / setup.key / method / f'{tag}-{seed}.json', setup,
        method, hyperparams, seed, data_dir, progress=progress,
        task_hyperparams=task_hyperparams))
    log(f'  {tag} {setup.key} {method} seed {seed}: ACC '
        f'{metrics.average_accuracy(runs[-1]["test_acc"]):.4f} '
        f'({runs[-1]["wall_s"]:.0f} s)')
  return method_summary(runs, hyperparams)


def result_document(
    setup: Setup, seeds: Sequence[int], tuning_seed: Optional[int],
    method_blocks: Mapping[str, Any], grid_size: Optional[int],
    presets: Optional[Mapping[str, Any]] = None,
) -> dict[str, Any]:
  """A whole result file (the schema experiments.report reads)."""
  document = {
      'stream': setup.stream, 'scenario': setup.scenario,
      'seeds': list(seeds), 'tuning_seed': tuning_seed,
      'protocol': {**setup.config(), 'grid_size': grid_size},
      'notes': list(setup.notes), 'methods': dict(method_blocks),
  }
  if presets:
    document['presets'] = dict(presets)
  return _to_json(document)


def tuned_hyperparams(out: Path, setup_key: str) -> dict[str, dict[str, Any]]:
  """Hyperparameters chosen by a finished sweep, by method ({} if none)."""
  path = out / f'{setup_key}.json'
  if not path.exists():
    return {}
  document = json.loads(path.read_text())
  return {name: block['hyperparams']
          for name, block in document['methods'].items()}


def sweep_stream(
    out: Path, setup: Setup, method_names: Sequence[str], seeds: Sequence[int],
    grid_size: int, tuning_seed: int, data_dir: Optional[str], *,
    paper: bool = False, progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
  """Tunes and evaluates every method on a stream; writes its result file.

  Methods already in the result file and not swept now are kept when that
  file has the same protocol and seeds.
  """
  path = out / f'{setup.key}.json'
  blocks = {}
  if path.exists():
    existing = json.loads(path.read_text())
    fresh = result_document(setup, seeds, tuning_seed, {}, grid_size)
    if all(existing.get(k) == fresh[k] for k in ('protocol', 'seeds',
                                                  'tuning_seed')):
      blocks = existing['methods']
  for method in method_names:
    best, grid, scores = tune(out, setup, method, grid_size, tuning_seed,
                              data_dir, progress=progress, log=log)
    block = evaluate(out, setup, method, best, seeds, data_dir,
                     progress=progress, log=log)
    blocks[method] = {**block, 'grid': grid, 'val_avg_acc': scores}
    # Write after each method: a partial sweep already leaves a result file.
    write_json(out / f'{setup.key}.json', result_document(
        setup, seeds, tuning_seed, blocks, grid_size))
  presets = None
  if paper:
    paper = paper_setup(setup)
    presets = {'paper': {
        'description': PAPER_DESCRIPTION,
        'protocol': paper.config(),
        'methods': {
            name: evaluate(out, paper, spec.get('method', name),
                           spec['hyperparams'], seeds, data_dir,
                           tag=spec.get('tag', 'paper-seed'),
                           task_hyperparams=spec.get('task_hyperparams'),
                           progress=progress, log=log)
            for name, spec in PAPER_METHODS.items()}}}
  document = result_document(setup, seeds, tuning_seed, blocks, grid_size,
                             presets)
  write_json(out / f'{setup.key}.json', document)
  return document
