"""Tuning, per-method summaries and the result files.

:func:`tune` tries a method's configurations (screening, then tuning seeds),
:func:`evaluate` runs its choice on the reported seeds, and
:func:`sweep_stream` turns a stream's runs into ``<out>/<stream key>.json``;
:func:`run_methods` does the same for methods with fixed hyperparameters (the
presets of ``python -m experiments run``). Every run goes through
:class:`experiments.run_cache.RunCache`, so a sweep resumes where it
stopped. What runs where is configured in :mod:`experiments.configs`.
"""

from collections.abc import Mapping, Sequence
import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from experiments import errors
from experiments import methods
from experiments import metrics
from experiments import run_cache
from experiments import search as search_lib
from experiments import streams
from experiments.configs import presets
from experiments.protocol import MethodRun
from experiments.protocol import Preset
from experiments.protocol import Setup
from experiments.run_cache import RunCache
from experiments.run_cache import RunRequest


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


class Tuning(NamedTuple):
  """What tuning a method tried and chose.

  Attributes:
    best: the chosen configuration (the best mean validation ACC over the
      tuning seeds among configurations that finished on every seed; the
      first one when none did).
    candidates: every configuration tried, named points first.
    scores: per candidate, its mean validation ACC over the tuning seeds on
      the whole stream; None when it diverged or was screened out.
    screen_scores: per candidate, its screening validation ACC (None when
      it diverged); None without halving.
    runs: one entry per tuning run: candidate index, stage (``'screen'``
      or ``'full'``), seed, validation ACC, where it diverged and its wall
      time.
  """
  best: dict[str, Any]
  candidates: list[search_lib.Candidate]
  scores: list[float | None]
  screen_scores: list[float | None] | None
  runs: list[dict[str, Any]]

  def block(self) -> dict[str, Any]:
    """The tuning part of a method's block in a result file."""
    block = {
        'grid': [c.hyperparams for c in self.candidates],
        'named': {c.label: i for i, c in enumerate(self.candidates)
                  if c.label is not None},
        'val_avg_acc': self.scores, 'tuning_runs': self.runs}
    if self.screen_scores is not None:
      block['screen_val_avg_acc'] = self.screen_scores
    return block


def tune(cache: RunCache, setup: Setup, method: str,
         search: search_lib.Search) -> Tuning:
  """Tries a method's configurations (:mod:`experiments.search`).

  Raises:
    experiments.errors.ProtocolError: if screening would train every task
      of the stream (it would repeat the full runs).
  """
  num_tasks = (setup.num_tasks
               or streams.family(setup.stream).fixed_num_tasks)
  first_tasks = None if search.halving is None else search.halving.first_tasks
  if (first_tasks is not None and num_tasks is not None
      and first_tasks >= num_tasks):
    raise errors.ProtocolError(
        f'screening on the first {first_tasks} tasks of {setup.key}, which '
        f'has {num_tasks}: screen on fewer tasks, on the whole stream '
        '(Halving(first_tasks=None, ...)), or search without halving')
  candidates = search_lib.configurations(method, search, setup.key)
  runs = []

  def scored(stage, runs_asked, first_tasks=None):
    """Trains (or reuses) a stage's runs at once: ``(index, seed, name)``."""

    def log(position, run):
      index, seed, _ = runs_asked[position]
      cache.log(f'  tune {setup.key} {method} {stage} [{index + 1}/'
                f'{len(candidates)}] seed {seed} '
                f'{candidates[index].hyperparams}: val '
                f'{_outcome(run.record, "val_acc")} ({run.provenance()})')

    cached = cache.run_many(setup, method, [
        RunRequest(candidates[index].hyperparams, seed, name,
                   first_tasks=first_tasks)
        for index, seed, name in runs_asked], on_done=log)
    scores = []
    for (index, seed, _), run in zip(runs_asked, cached):
      scores.append(validation_score(run.record))
      runs.append({'index': index, 'stage': stage, 'seed': seed,
                   'val_avg_acc': scores[-1],
                   'diverged': run.record.get('diverged'),
                   'wall_s': run.record['wall_s']})
    return scores

  seeds = search.tuning_seeds

  def full_name(index, seed):
    return f'tune-{index}' if len(seeds) == 1 else f'tune-{index}-seed{seed}'

  finalists = range(len(candidates))
  screen_scores = None
  # (index, seed) -> validation ACC of the finalists' runs on every task.
  full_scores = {}
  if search.halving is not None:
    screen_scores = scored('screen', [
        (i, seeds[0],
         full_name(i, seeds[0]) if first_tasks is None else f'screen-{i}')
        for i in range(len(candidates))], first_tasks=first_tasks)
    finalists = search.halving.finalists(screen_scores)
    if first_tasks is None:  # Screened on every task: these are tuning runs.
      full_scores = {(i, seeds[0]): screen_scores[i] for i in finalists}
  full = [(i, seed, full_name(i, seed)) for i in finalists for seed in seeds
          if (i, seed) not in full_scores]
  full_scores.update(zip([(i, seed) for i, seed, _ in full],
                         scored('full', full)))
  scores: list[float | None] = [None] * len(candidates)
  for i in finalists:
    seed_scores = [full_scores[i, seed] for seed in seeds]
    if None not in seed_scores:
      scores[i] = float(np.mean(seed_scores))
  ranked = search_lib.ranked(scores)
  best = candidates[ranked[0] if ranked else 0].hyperparams
  return Tuning(best, candidates, scores, screen_scores, runs)


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
      'finished_seeds': [r['config']['seed'] for r in finished],
      'diverged': diverged,
      # The state a finished run carries (a diverged run stopped early).
      'state_bytes': finished[0]['state_bytes'] if finished else None,
      'param_bytes': runs[0]['param_bytes'],
      'wall_s': metrics.summarize([r['wall_s'] for r in runs]),
      'hyperparams': dict(hyperparams),
      'method': runs[0]['config']['method'],
      'devices': sorted({r['device'] for r in runs if 'device' in r}),
  }
  if runs[0]['diagnostics']:
    summary['diagnostics'] = {
        name: [r['diagnostics'][name] for r in runs]
        for name in runs[0]['diagnostics']}
  return run_cache.to_json(summary)


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


def evaluate(cache: RunCache, setup: Setup, run: MethodRun,
             seeds: Sequence[int]) -> dict[str, Any]:
  """Runs (or reuses) a method on each seed; returns its summary block."""

  def log(position, cached):
    cache.log(f'  {run.tag} {setup.key} {run.method} seed {seeds[position]}: '
              f'{_outcome(cached.record, "test_acc")} '
              f'({cached.provenance()})')

  runs = cache.run_many(setup, run.method, [
      RunRequest(run.hyperparams, seed, f'{run.tag}-{seed}',
                 run.task_hyperparams) for seed in seeds], on_done=log)
  return method_summary([cached.record for cached in runs], run.hyperparams)


def evaluate_all(cache: RunCache, setup: Setup, runs: Mapping[str, MethodRun],
                 seeds: Sequence[int]) -> dict[str, Any]:
  """:func:`evaluate` for each named run; returns their blocks by name."""
  blocks = {}
  for name, run in runs.items():
    cache.log(f'{name}: {dict(run.hyperparams)}')
    blocks[name] = evaluate(cache, setup, run, seeds)
  return blocks


def result_document(
    setup: Setup, seeds: Sequence[int], search: search_lib.Search | None,
    method_blocks: Mapping[str, Any],
    preset_blocks: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
  """A whole result file (the schema experiments.report reads).

  ``search`` is None for methods run with fixed hyperparameters. A grid
  search is recorded as the small-budget protocol always was
  (``tuning_seed``, ``protocol.grid_size``); any other in ``search``.
  """
  protocol = setup.config()
  document = {
      'stream': setup.stream, 'scenario': setup.scenario,
      'seeds': list(seeds),
      'tuning_seed': None if search is None else search.tuning_seeds[0],
      'protocol': protocol,
      'notes': list(setup.notes), 'methods': dict(method_blocks),
  }
  if search is None or search.draw == 'grid':
    protocol['grid_size'] = None if search is None else search.budget
  else:
    document['search'] = search_lib.record(search)
  if preset_blocks:
    document['presets'] = dict(preset_blocks)
  return run_cache.to_json(document)


def tuned_hyperparams(out: Path, setup_key: str) -> dict[str, dict[str, Any]]:
  """Hyperparameters chosen by a finished sweep, by method ({} if none)."""
  path = out / f'{setup_key}.json'
  if not path.exists():
    return {}
  document = json.loads(path.read_text())
  return {name: block['hyperparams']
          for name, block in document['methods'].items()}


def sweep_method(cache: RunCache, setup: Setup, method: str,
                 search: search_lib.Search,
                 seeds: Sequence[int]) -> dict[str, Any]:
  """Tunes a method, then evaluates its choice on ``seeds``; its block."""
  tuning = tune(cache, setup, method, search)
  return {**evaluate(cache, setup, MethodRun(method, tuning.best), seeds),
          **tuning.block(),
          'search_space': search_lib.space_record(method, search)}


def sweep_stream(
    cache: RunCache, setup: Setup, method_names: Sequence[str],
    seeds: Sequence[int], search: search_lib.Search, *,
    fixed: Mapping[str, MethodRun] | None = None, paper: bool = False,
) -> dict[str, Any]:
  """Tunes and evaluates methods on a stream; writes its result file.

  Methods of the existing result file not named now are swept again too
  (from their cached runs, each checked as
  :class:`experiments.run_cache.RunCache` checks any run), so a finished
  sweep never keeps a block the current code would not compute; until then
  the file keeps its blocks. A file of another protocol, search or seeds is
  never overwritten.

  Args:
    cache: where runs are stored.
    setup: the stream and protocol.
    method_names: methods to tune (names of ``fixed`` are evaluated as
      fixed there).
    seeds: the reported seeds.
    search: how every tuned method is tuned.
    fixed: methods run with fixed hyperparameters (e.g. joint training), by
      name.
    paper: also run the paper preset (mnist_fashion).

  Returns:
    The result document written to ``<out>/<stream key>.json``.

  Raises:
    experiments.errors.ProtocolError: if a reported seed is a tuning seed,
      or ``<out>/<stream key>.json`` holds another protocol's results.
  """
  fixed = dict(fixed or {})
  overlap = sorted(set(seeds) & set(search.tuning_seeds))
  if overlap:
    raise errors.ProtocolError(
        f'seeds {overlap} are tuning seeds too; report on other seeds '
        f'(tuning seeds: {list(search.tuning_seeds)})')
  path = cache.out / f'{setup.key}.json'
  names = list(method_names)
  blocks = {}
  if path.exists():
    existing = json.loads(path.read_text())
    fresh = result_document(setup, seeds, search, {})
    differ = [k for k in ('protocol', 'seeds', 'tuning_seed', 'search')
              if existing.get(k) != fresh.get(k)]
    if differ:
      raise errors.ProtocolError(
          f'{path} holds results of another {", ".join(differ)}; pass '
          'another --out, or move that file away to replace it')
    # Kept until swept again below, so a stopped sweep loses no block.
    blocks = dict(existing['methods'])
    names += [name for name in blocks if name not in names]
  for method in names:
    if method in fixed:
      cache.log(f'{method}: {dict(fixed[method].hyperparams)}')
      blocks[method] = evaluate(cache, setup, fixed[method], seeds)
    else:
      blocks[method] = sweep_method(cache, setup, method, search, seeds)
    # Write after each method: a partial sweep already leaves a result file.
    run_cache.write_json(path, result_document(setup, seeds, search, blocks))
  preset_blocks = None
  if paper:
    paper_setup = presets.paper_setup(setup)
    preset_blocks = {'paper': {
        'description': presets.PAPER_DESCRIPTION,
        'protocol': paper_setup.config(),
        'methods': evaluate_all(cache, paper_setup, presets.PAPER_METHODS,
                                seeds)}}
  document = result_document(setup, seeds, search, blocks, preset_blocks)
  run_cache.write_json(path, document)
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


def run_methods(cache: RunCache, setup: Setup, runs: Mapping[str, MethodRun],
                seeds: Sequence[int]) -> dict[str, Any]:
  """Evaluates fixed runs on a stream; writes and returns its result file."""
  document = result_document(setup, seeds, None,
                             evaluate_all(cache, setup, runs, seeds))
  run_cache.write_json(cache.out / f'{setup.key}.json', document)
  return document
