"""Resumable runs, tuning, summaries and the result files.

Every finished run (one method, one configuration or seed) is written at once
to ``<out>/runs/<stream key>/<method>/<tag>.json`` and skipped when a rerun
finds it with the same configuration (and :data:`CODE_VERSION`), so a sweep
can be stopped and resumed. :func:`sweep_stream` turns a stream's runs into
``<out>/<stream key>.json``; :func:`run_methods` does the same for methods
with fixed hyperparameters (the presets of ``python -m experiments run``).
What runs where is configured in :mod:`experiments.configs`.
"""

from collections.abc import Callable, Mapping, Sequence
import dataclasses
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from experiments import methods
from experiments import metrics
from experiments import training
from experiments.configs import presets
from experiments.protocol import MethodRun
from experiments.protocol import Preset
from experiments.protocol import Setup

# Part of every cached run's key: bump it when a change to the library or the
# experiments changes what a run computes, so that no stale run is reused.
CODE_VERSION = 1


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


def _run_config(
    setup: Setup, method: str, hyperparams: Mapping[str, Any], seed: int,
    task_hyperparams: Sequence[Mapping[str, Any]] | None,
) -> dict[str, Any]:
  """A run's key, as stored in its file."""
  return _to_json({'code_version': CODE_VERSION,
                   'setup': setup.config(), 'method': method,
                   'hyperparams': dict(hyperparams), 'seed': seed,
                   'task_hyperparams': task_hyperparams})


def _train(
    setup: Setup, method: str, hyperparams: Mapping[str, Any], seed: int,
    data_dir: str | None,
    task_hyperparams: Sequence[Mapping[str, Any]] | None,
    progress: bool,
) -> dict[str, Any]:
  """Trains one run; returns what its file holds besides config and device."""
  result = training.run(
      setup.make_stream(seed, data_dir), methods.parse_method(method),
      hyperparams, setup.protocol, seed, task_hyperparams=task_hyperparams,
      progress=progress)
  return _to_json(dataclasses.asdict(result))


class CachedRun(NamedTuple):
  """A run's record (its file's content) and whether it came from the file."""
  record: dict[str, Any]
  reused: bool

  def provenance(self) -> str:
    """E.g. ``'cached; trained in 7 s on cpu (2 cores, x86_64), JAX ...'``."""
    trained = f'trained in {self.record["wall_s"]:.0f} s'
    if not self.reused:
      return trained
    return (f'cached; {trained} on '
            f'{self.record.get("device", "an unrecorded device")}')


def cached_run(
    path: Path, setup: Setup, method: str, hyperparams: Mapping[str, Any],
    seed: int, data_dir: str | None, *, progress: bool = True,
    task_hyperparams: Sequence[Mapping[str, Any]] | None = None,
) -> CachedRun:
  """Runs one method once, or loads the run if ``path`` holds the same one."""
  config = _run_config(setup, method, hyperparams, seed, task_hyperparams)
  if path.exists():
    stored = json.loads(path.read_text())
    if stored.get('config') == config:
      return CachedRun(stored, reused=True)
  record = {'config': config, 'device': device_label(),
            **_train(setup, method, hyperparams, seed, data_dir,
                     task_hyperparams, progress)}
  write_json(path, record)
  return CachedRun(record, reused=False)


# What a retrained run must reproduce exactly (wall time and device apart).
REPRODUCED = ('test_acc', 'val_acc', 'state_bytes', 'param_bytes',
              'diagnostics', 'diverged')


def retrain_differences(path: Path, data_dir: str | None) -> list[str]:
  """Retrains the run stored at ``path``; names what differs from the file.

  Args:
    path: a run file written by :func:`cached_run`.
    data_dir: the data folder.

  Returns:
    The names of :data:`REPRODUCED` whose retrained value is not bit for bit
    the stored one, and ``'config'`` if the current code would key the run
    differently (so a sweep would not reuse it); empty when it reproduces.
  """
  stored = json.loads(path.read_text())
  config = stored['config']
  setup = Setup.from_config(config['setup'])
  differences = []
  if _run_config(setup, config['method'], config['hyperparams'],
                 config['seed'], config['task_hyperparams']) != config:
    differences.append('config')
  fresh = _train(setup, config['method'], config['hyperparams'],
                 config['seed'], data_dir, config['task_hyperparams'],
                 progress=False)
  # Runs stored before divergence was detected have no 'diverged': None.
  return differences + [key for key in REPRODUCED
                        if fresh[key] != stored.get(key)]


def validation_score(run_record: Mapping[str, Any]) -> float | None:
  """Validation ACC of a run (mean of its validation matrix's last row).

  None for a diverged run: it is never selected.
  """
  if run_record.get('diverged'):
    return None
  return metrics.average_accuracy(run_record['val_acc'])


def _outcome(record: Mapping[str, Any], split: str) -> str:
  """``'ACC 0.8123'`` on a split, or where the run diverged."""
  if record.get('diverged'):
    where = record['diverged']
    return f'diverged at task {where["task"]}, step {where["step"]}'
  return f'ACC {metrics.average_accuracy(record[split]):.4f}'


def tune(
    out: Path, setup: Setup, method: str, grid_size: int, tuning_seed: int,
    data_dir: str | None, *, progress: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[float | None]]:
  """Runs a method's tuning grid; returns (best, grid, validation scores).

  A diverged configuration scores None.
  """
  grid = methods.tuning_grid(methods.parse_method(method), grid_size)
  scores = []
  for index, hyperparams in enumerate(grid):
    run = cached_run(
        out / 'runs' / setup.key / method / f'tune-{index}.json', setup,
        method, hyperparams, tuning_seed, data_dir, progress=progress)
    scores.append(validation_score(run.record))
    log(f'  tune {setup.key} {method} [{index + 1}/{len(grid)}] '
        f'{hyperparams}: val {_outcome(run.record, "val_acc")} '
        f'({run.provenance()})')
  # A diverged configuration is never chosen (unless every one diverged).
  best = int(np.argmax([-np.inf if s is None else s for s in scores]))
  return grid[best], grid, scores


def method_summary(
    runs: Sequence[Mapping[str, Any]], hyperparams: Mapping[str, Any],
) -> dict[str, Any]:
  """The per-method block of a result file, from its seeds' runs.

  Diverged runs are counted (``diverged``: seed, task and step of each), not
  scored: the accuracy metrics summarize the finished runs (their seeds in
  ``finished_seeds``) and are None when every run diverged.
  """
  finished = [r for r in runs if not r.get('diverged')]
  diverged = [{'seed': r['config']['seed'], **r['diverged']}
              for r in runs if r.get('diverged')]
  summary = {
      **_accuracy_summary([r['test_acc'] for r in finished]),
      'finished_seeds': [r['config']['seed'] for r in finished
                         if 'config' in r],
      'diverged': diverged,
      # The state a finished run carries (a diverged run stopped early).
      'state_bytes': finished[0]['state_bytes'] if finished else None,
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


def _accuracy_summary(matrices: Sequence[Any]) -> dict[str, Any]:
  """ACC, BWT and forgetting of finished runs' test matrices (None if none)."""
  if not matrices:
    return {'acc_matrix': None, 'avg_acc': None, 'bwt': None,
            'forgetting': None}
  matrices = np.array(matrices)
  joint = matrices.shape[1] == 1
  return {
      'acc_matrix': {'mean': matrices.mean(axis=0), 'per_seed': matrices},
      'avg_acc': metrics.summarize(
          [metrics.average_accuracy(m) for m in matrices]),
      'bwt': None if joint else metrics.summarize(
          [metrics.backward_transfer(m) for m in matrices]),
      'forgetting': None if joint else metrics.summarize(
          [metrics.forgetting(m) for m in matrices]),
  }


def evaluate(
    out: Path, setup: Setup, run: MethodRun, seeds: Sequence[int],
    data_dir: str | None, *, progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
  """Runs (or loads) a method on each seed; returns its summary block."""
  records = []
  for seed in seeds:
    cached = cached_run(
        out / 'runs' / setup.key / run.method / f'{run.tag}-{seed}.json',
        setup, run.method, run.hyperparams, seed, data_dir, progress=progress,
        task_hyperparams=run.task_hyperparams)
    records.append(cached.record)
    log(f'  {run.tag} {setup.key} {run.method} seed {seed}: '
        f'{_outcome(cached.record, "test_acc")} ({cached.provenance()})')
  return method_summary(records, run.hyperparams)


def evaluate_all(
    out: Path, setup: Setup, runs: Mapping[str, MethodRun],
    seeds: Sequence[int], data_dir: str | None, *, progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
  """:func:`evaluate` for each named run; returns their blocks by name."""
  blocks = {}
  for name, run in runs.items():
    log(f'{name}: {dict(run.hyperparams)}')
    blocks[name] = evaluate(out, setup, run, seeds, data_dir,
                            progress=progress, log=log)
  return blocks


def result_document(
    setup: Setup, seeds: Sequence[int], tuning_seed: int | None,
    method_blocks: Mapping[str, Any], grid_size: int | None,
    preset_blocks: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
  """A whole result file (the schema experiments.report reads)."""
  document = {
      'stream': setup.stream, 'scenario': setup.scenario,
      'seeds': list(seeds), 'tuning_seed': tuning_seed,
      'protocol': {**setup.config(), 'grid_size': grid_size},
      'notes': list(setup.notes), 'methods': dict(method_blocks),
  }
  if preset_blocks:
    document['presets'] = dict(preset_blocks)
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
    grid_size: int, tuning_seed: int, data_dir: str | None, *,
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
    block = evaluate(out, setup, MethodRun(method, best), seeds, data_dir,
                     progress=progress, log=log)
    blocks[method] = {**block, 'grid': grid, 'val_avg_acc': scores}
    # Write after each method: a partial sweep already leaves a result file.
    write_json(out / f'{setup.key}.json', result_document(
        setup, seeds, tuning_seed, blocks, grid_size))
  preset_blocks = None
  if paper:
    paper_setup = presets.paper_setup(setup)
    preset_blocks = {'paper': {
        'description': presets.PAPER_DESCRIPTION,
        'protocol': paper_setup.config(),
        'methods': evaluate_all(out, paper_setup, presets.PAPER_METHODS,
                                seeds, data_dir, progress=progress, log=log)}}
  document = result_document(setup, seeds, tuning_seed, blocks, grid_size,
                             preset_blocks)
  write_json(out / f'{setup.key}.json', document)
  return document


def method_run(preset: Preset, name: str,
               tuned: Mapping[str, Mapping[str, Any]]) -> MethodRun:
  """How ``preset`` runs method ``name``.

  Args:
    preset: the preset.
    name: a method name, or a name of ``preset.fixed``.
    tuned: hyperparameters a finished sweep chose, by method name
      (:func:`tuned_hyperparams`).

  Returns:
    The preset's fixed run of ``name`` if it has one; else ``name`` with the
    sweep's choice, else with its defaults
    (:func:`experiments.methods.default_hyperparams`).

  Raises:
    ValueError: for an unknown name, saying which preset has it if any.
  """
  if name in preset.fixed:
    return preset.fixed[name]
  try:
    methods.parse_method(name)
  except ValueError as error:
    owners = [p.name for p in presets.PRESETS.values() if name in p.fixed]
    if owners:
      raise ValueError(
          f'{error} ({name!r} belongs to --preset {owners[0]})') from None
    raise
  return MethodRun(name, tuned.get(name) or methods.default_hyperparams(name),
                   tag=f'{preset.name}-seed')


def run_methods(
    out: Path, setup: Setup, runs: Mapping[str, MethodRun],
    seeds: Sequence[int], data_dir: str | None, *, progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
  """Evaluates fixed runs on a stream; writes and returns its result file."""
  document = result_document(
      setup, seeds, None, evaluate_all(out, setup, runs, seeds, data_dir,
                                       progress=progress, log=log), None)
  write_json(out / f'{setup.key}.json', document)
  return document


def sample_runs(out: Path, per_protocol: int, seed: int = 0) -> list[Path]:
  """A seeded sample of the run files under ``out/runs``.

  Args:
    out: a results folder.
    per_protocol: run files drawn per stream and protocol (all when fewer).
    seed: the draw's seed.

  Returns:
    The drawn paths, sorted.
  """
  groups: dict[str, list[Path]] = {}
  for path in sorted((out / 'runs').glob('*/*/*.json')):
    setup_config = json.loads(path.read_text())['config']['setup']
    groups.setdefault(json.dumps(setup_config, sort_keys=True), []).append(
        path)
  rng = np.random.default_rng(seed)
  drawn = []
  for paths in groups.values():
    chosen = rng.choice(len(paths), min(per_protocol, len(paths)),
                        replace=False)
    drawn += [paths[i] for i in chosen]
  return sorted(drawn)
