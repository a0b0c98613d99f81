"""Resumable runs, tuning, summaries and the result files.

Every finished run (one method, one configuration or seed) is written at once
to ``<out>/runs/<stream key>/<method>/<name>.json`` and reused when a rerun
finds it with the same configuration and the current code's fingerprint
(:class:`RunCache`), so a sweep can be stopped and resumed.
:func:`sweep_stream` turns a stream's runs into ``<out>/<stream key>.json``;
:func:`run_methods` does the same for methods with fixed hyperparameters (the
presets of ``python -m experiments run``).
What runs where is configured in :mod:`experiments.configs`.
"""

from collections.abc import Callable, Mapping, Sequence
import dataclasses
import functools
import hashlib
import json
import os
from pathlib import Path
import shutil
from typing import Any, NamedTuple

import jax
from jax.experimental import multihost_utils
import numpy as np

from experiments import checkpoints
from experiments import devices
from experiments import errors
from experiments import fingerprint
from experiments import methods
from experiments import metrics
from experiments import population
from experiments import search as search_lib
from experiments import streams
from experiments import training
from experiments.configs import presets
from experiments.protocol import MethodRun
from experiments.protocol import Preset
from experiments.protocol import Setup


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
  """Writes ``value`` as JSON atomically (a partial file is never seen).

  In a multi-process run only process 0 writes, and every process waits
  until it has (so that all read the same files afterwards).
  """
  if devices.is_primary():
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix('.tmp')
    tmp.write_text(
        json.dumps(_to_json(value), indent=1, sort_keys=True) + '\n')
    os.replace(tmp, path)
  devices.barrier(f'wrote {path}')


def device_label(mesh: jax.sharding.Mesh | None = None) -> str:
  """The devices runs use, and the JAX version, as recorded in runs.

  E.g. ``'cpu (2 cores, x86_64), JAX 0.10.2'``, or with ``' x 8'`` after
  the device when the mesh splits batches over 8 of them.
  """
  count = '' if mesh is None or mesh.size == 1 else f' x {mesh.size}'
  return f'{training.device_name()}{count}, JAX {jax.__version__}'


@functools.cache
def host_label(cpuinfo: Path = Path('/proc/cpuinfo')) -> str:
  """The CPU model and a hash of its instruction-set flags, as run files
  record them (``"host"``).

  XLA compiles for the host's instruction set, so the same code and packages
  may round differently on hosts whose flags differ: this tells them apart.
  E.g. ``'Intel(R) Xeon(R) Processor, flags 3f2a9c1e05d7b864'``;
  ``'unknown'`` where ``cpuinfo`` is unreadable (not Linux).
  """
  try:
    lines = cpuinfo.read_text().splitlines()
  except OSError:
    return 'unknown'
  fields = {}
  for line in lines:
    key, _, value = line.partition(':')
    fields.setdefault(key.strip(), value.strip())
  flags = hashlib.blake2b(fields.get('flags', '').encode(),
                          digest_size=8).hexdigest()
  return f'{fields.get("model name", "unknown model")}, flags {flags}'


# Keys of run configurations written before the fingerprint replaced them.
_LEGACY_CONFIG_KEYS = ('code_version',)


def _run_config(
    setup: Setup, method: str, hyperparams: Mapping[str, Any], seed: int,
    task_hyperparams: Sequence[Mapping[str, Any]] | None,
    first_tasks: int | None = None,
) -> dict[str, Any]:
  """A run's key, as stored in its file."""
  config = {'setup': setup.config(), 'method': method,
            'hyperparams': dict(hyperparams), 'seed': seed,
            'task_hyperparams': task_hyperparams}
  if first_tasks is not None:
    config['first_tasks'] = first_tasks
  return _to_json(config)


def _same_config(stored: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
  return {k: v for k, v in stored.items()
          if k not in _LEGACY_CONFIG_KEYS} == config


def _train(config: Mapping[str, Any], data_dir: str | None, progress: bool,
           checkpointer: checkpoints.RunCheckpointer | None = None,
           mesh: jax.sharding.Mesh | None = None) -> dict[str, Any]:
  """Trains the run ``config`` keys; returns its result as stored."""
  setup = Setup.from_config(config['setup'])
  result = training.run(
      setup.make_stream(config['seed'], data_dir, config.get('first_tasks')),
      methods.parse_method(config['method']), config['hyperparams'],
      setup.protocol, config['seed'],
      task_hyperparams=config['task_hyperparams'], progress=progress,
      checkpointer=checkpointer, mesh=mesh)
  return _to_json(dataclasses.asdict(result))


def _stored_mesh(stored: Mapping[str, Any],
                 default: jax.sharding.Mesh) -> jax.sharding.Mesh:
  """A mesh of the size a stored run trained on (files before: 1 device).

  Splitting a batch over other devices changes the order of sums, so a run
  is retrained on its own mesh size to reproduce bit for bit; ``default``
  when this process cannot build that mesh.
  """
  size = stored.get('devices', 1)
  if size == default.size:
    return default
  processes = jax.process_count()
  if size % processes or size // processes > jax.local_device_count():
    return default
  return devices.make_mesh(size // processes)


def _train_members(configs: Sequence[Mapping[str, Any]],
                   data_dir: str | None, progress: bool,
                   mesh: jax.sharding.Mesh | None = None,
                   ) -> list[dict[str, Any]]:
  """Trains the runs ``configs`` keys as one population; their results."""
  setup = Setup.from_config(configs[0]['setup'])
  member_streams = {}  # members of one seed share their stream
  for config in configs:
    if config['seed'] not in member_streams:
      member_streams[config['seed']] = setup.make_stream(
          config['seed'], data_dir, config.get('first_tasks'))
  results = population.run_population(
      [member_streams[c['seed']] for c in configs],
      methods.parse_method(configs[0]['method']),
      [c['hyperparams'] for c in configs], setup.protocol,
      [c['seed'] for c in configs],
      task_hyperparams=configs[0]['task_hyperparams'], progress=progress,
      mesh=mesh)
  return [_to_json(dataclasses.asdict(result)) for result in results]


# What a retrained run must reproduce exactly (wall time and device apart).
REPRODUCED = ('test_acc', 'val_acc', 'state_bytes', 'param_bytes',
              'diagnostics', 'diverged')


def _differences(fresh: Mapping[str, Any],
                 stored: Mapping[str, Any]) -> list[str]:
  # Runs stored before divergence was detected have no 'diverged': None.
  return [key for key in REPRODUCED if fresh[key] != stored.get(key)]


class RunRequest(NamedTuple):
  """A run asked of :meth:`RunCache.run_many` (see :meth:`RunCache.run`)."""
  hyperparams: Mapping[str, Any]
  seed: int
  name: str
  task_hyperparams: Sequence[Mapping[str, Any]] | None = None
  first_tasks: int | None = None


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


def _verification_group(config: Mapping[str, Any],
                        stored_fingerprint: Any,
                        population_size: int | None = None) -> str:
  """Stale runs one bit-for-bit retraining may vouch for.

  The same protocol, method, screening, stored fingerprint and code path:
  base optimizer, CLASSP's power (1, 2 or another: separate branches of the
  library), whether a threshold masks, whether scaling is off, whether a
  per-task schedule is set, and the size of the population it trained in
  (None: alone). A population member's numbers do not depend on its fellow
  members' seeds, hyperparameters or order (bit for bit on the tests'
  MLP with CLASSP and EWC: tests/experiments/test_population.py), but the
  compiled program depends on the population's size.
  """
  hyperparams = config['hyperparams']
  power = hyperparams.get('power')
  threshold = hyperparams.get('threshold')
  return json.dumps([
      config['setup'], config['method'], config.get('first_tasks'),
      stored_fingerprint, hyperparams.get('base'),
      power if power in (None, 1.0, 2.0) else 'other',
      None if threshold is None else threshold > 0,
      hyperparams.get('apply_scaling'),
      config['task_hyperparams'] is not None, population_size],
                    sort_keys=True)


def _population_members(
    path: Path, stored: Mapping[str, Any]) -> list[tuple[Path, Any]] | None:
  """The files and records of the population ``stored`` trained in.

  None when one of them was trained again since (its record names another
  population), so that the population can no longer be rebuilt.
  """
  members = []
  for name in stored['population']['runs']:
    member_path = path.parent / name
    member = (json.loads(member_path.read_text())
              if member_path.exists() else None)
    if member is None or member.get('population') != stored['population']:
      return None
    members.append((member_path, member))
  return members


# Models that train slower as populations than one by one on CPU: vmapped
# convolutions become grouped convolutions, which XLA's CPU backend runs far
# slower (measured on mnist_fashion_wide's first task, 125 steps of batch 32
# and its evaluation, 2-core CPU: one run 15 s, a population of 5 320 s,
# 4.2x slower per run).
ONE_BY_ONE_ON_CPU = frozenset({'cnn'})


class RunCache:
  """Trains runs, or reuses their files when the current code computes them.

  Every run is written at once to ``<out>/runs/<stream key>/<method>/
  <name>.json`` with its configuration and its fingerprint
  (:func:`experiments.fingerprint.current`: compute sources, package
  versions, data checksums), so that a sweep can be stopped and resumed.

  A file is reused as is when its configuration is the one asked for and its
  fingerprint is the current one. One with the same configuration and
  another fingerprint is *stale*: the first stale run of each group (the
  same method, protocol, stored fingerprint and code path, see
  :func:`_verification_group`) is retrained and compared bit for bit
  (:data:`REPRODUCED`). If it reproduces and finished, that group's stale
  runs are reused with the current fingerprint and ``verified_by`` naming the
  retrained run (a diverged one vouches for nothing: the next is checked);
  if not, the difference is logged and kept in :attr:`mismatches`, and every
  stale run of the group is retrained. A retraining that vouches uses a mesh
  of the stored run's size when it can. A stale run trained in a population
  is checked with its whole population, retrained as it was (the same
  members, from their files); every member must reproduce, and the retrained
  members' files are written under the current code.

  :meth:`run_many` trains the runs that can share a population as
  populations (:mod:`experiments.population`); every process of a
  multi-process run must see the same ``out`` folder (a shared file system),
  where only process 0 writes.

  A run it trains checkpoints into ``<checkpoint_dir>/<stream key>/<method>/
  <name>/<fingerprint hash>/`` when ``checkpoint_dir`` is given, resumes from
  there (see :func:`experiments.training.run`; a checkpoint of other code,
  packages or data is never resumed), and deletes that folder once its file
  is written.

  Args:
    out: the results folder.
    data_dir: the data folder.
    progress: show progress bars while training.
    log: where one line per event goes.
    checkpoint_dir: where runs keep checkpoints while they train; None:
      nowhere.
    checkpoint_every: also checkpoint every this many steps (None: after
      each task only).
    checkpoint_keep: how many of a run's newest checkpoints are kept.
    mesh: the devices runs split their batches over
      (:func:`experiments.devices.make_mesh`); default: all of them.
    population: the most runs trained as one population (see
      :meth:`run_many`); None: :meth:`population_limit` decides.
  """

  def __init__(self, out: Path, data_dir: str | None, *,
               progress: bool = True, log: Callable[[str], None] = print,
               checkpoint_dir: Path | None = None,
               checkpoint_every: int | None = None,
               checkpoint_keep: int = 2,
               mesh: jax.sharding.Mesh | None = None,
               population: int | None = None):
    if population is not None and population < 1:
      raise ValueError(f'population must be >= 1, got {population}')
    self.out = out
    self.data_dir = data_dir
    self.progress = progress
    self.log = log
    self.checkpoint_dir = checkpoint_dir
    self.checkpoint_every = checkpoint_every
    self.checkpoint_keep = checkpoint_keep
    self.mesh = devices.make_mesh() if mesh is None else mesh
    self.population = population
    self.mismatches: list[str] = []
    self._verified: dict[str, str | None] = {}  # group -> vouching run

  def path(self, setup: Setup, method: str, name: str) -> Path:
    """Where the run ``name`` of ``method`` on ``setup`` is stored."""
    return self.out / 'runs' / setup.key / method / f'{name}.json'

  def run(
      self, setup: Setup, method: str, hyperparams: Mapping[str, Any],
      seed: int, name: str, *,
      task_hyperparams: Sequence[Mapping[str, Any]] | None = None,
      first_tasks: int | None = None,
  ) -> CachedRun:
    """Runs one method once, or reuses its file (see the class doc).

    Args:
      setup: the stream and protocol.
      method: a method name.
      hyperparams: its hyperparameters.
      seed: the run's seed.
      name: the file's name, without ``.json``.
      task_hyperparams: per-task optimizer overrides
        (:func:`experiments.training.run`).
      first_tasks: train only the stream's first tasks (screening runs).

    Returns:
      The run's record and whether it came from the file.
    """
    (cached,) = self.run_many(setup, method, [RunRequest(
        hyperparams, seed, name, task_hyperparams, first_tasks)])
    return cached

  def run_many(
      self, setup: Setup, method: str, requests: Sequence['RunRequest'],
      on_done: Callable[[int, CachedRun], None] | None = None,
  ) -> list[CachedRun]:
    """Runs (or reuses) several runs of one method; see the class doc.

    The runs to train that can share a population
    (:func:`experiments.population.population_key`, the same screening and
    schedule) train as populations of at most :meth:`population_limit`
    members; the others one by one.

    Args:
      setup: the stream and protocol.
      method: a method name.
      requests: the runs.
      on_done: called with a run's index in ``requests`` and its record as
        soon as it is there (reused, or trained).

    Returns:
      Each run's record and whether it came from the file, in order.
    """
    code = fingerprint.current(setup.stream, self.data_dir)
    cached: list[CachedRun | None] = [None] * len(requests)

    def done(index, run):
      cached[index] = run
      if on_done is not None:
        on_done(index, run)

    pending = []
    repeated = {}  # index -> the earlier index of the same file
    for index, request in enumerate(requests):
      path = self.path(setup, method, request.name)
      config = _run_config(setup, method, request.hyperparams, request.seed,
                           request.task_hyperparams, request.first_tasks)
      earlier = [i for i, p, c in pending if p == path and c == config]
      if earlier:
        repeated[index] = earlier[0]
        continue
      run = self._lookup(path, config, code, setup, method)
      if run is None:
        pending.append((index, path, config))
      else:
        done(index, run)
    spec = methods.parse_method(method)
    groups: dict[str, list[tuple[int, Path, dict[str, Any]]]] = {}
    for item in pending:
      config = item[2]
      groups.setdefault(json.dumps([
          population.population_key(spec, config['hyperparams']),
          config.get('first_tasks'), config['task_hyperparams']],
                                   sort_keys=True), []).append(item)
    chunks = []
    for group in groups.values():
      limit = 1 if len(group) == 1 else self.population_limit(setup,
                                                              group[0][2])
      chunks += [group[i:i + limit] for i in range(0, len(group), limit)]
    for chunk in sorted(chunks, key=lambda c: c[0][0]):  # as requested
      if len(chunk) == 1:
        index, path, config = chunk[0]
        done(index, self._train(path, config, code))
      else:
        for (index, _, _), run in zip(chunk,
                                      self._train_population(chunk, code)):
          done(index, run)
    for index, earlier in repeated.items():
      done(index, CachedRun(cached[earlier].record, reused=True))
    return cached

  def population_limit(self, setup: Setup, config: Mapping[str, Any]) -> int:
    """The most runs that train as one population.

    1 with checkpoints (a run checkpoints alone); else ``population`` when
    given; else as many as fit :data:`experiments.population.MEMORY_SHARE`
    of a device's memory (the host's on CPU), measured on the run
    ``config`` (process 0's count for every process). Populations measured
    1.25-1.5x more runs per hour than the same runs one by one even on a
    2-core CPU (:mod:`experiments.throughput`).

    On CPU the host's copy of each member's stream shares the devices'
    memory and counts too (a permuted_full population of 5 seeds, 2.2 GB of
    data each, grew by 4.9 GB a member and ran out of 24 GB when it did
    not), and the models in :data:`ONE_BY_ONE_ON_CPU` train one by one.
    """
    if self.checkpoint_dir is not None:
      return 1
    if self.population is not None:
      return self.population
    on_cpu = self.mesh.devices.flat[0].platform == 'cpu'
    if on_cpu and setup.protocol.model in ONE_BY_ONE_ON_CPU:
      return 1
    stream = setup.make_stream(config['seed'], self.data_dir,
                               config.get('first_tasks'))
    member_bytes = population.run_bytes(
        stream, methods.parse_method(config['method']),
        config['hyperparams'], setup.protocol, config['seed'], self.mesh)
    if on_cpu:
      member_bytes += metrics.tree_bytes(
          [(task.train, task.val, task.test) for task in stream.tasks])
    limit = population.max_members(member_bytes)
    if jax.process_count() > 1:  # every process must chunk alike
      limit = int(multihost_utils.broadcast_one_to_all(np.int32(limit)))
    return limit

  def _lookup(self, path: Path, config: dict[str, Any],
              code: Mapping[str, Any], setup: Setup,
              method: str) -> CachedRun | None:
    """The run's file when reusable (verifying its group), else None."""
    stored = json.loads(path.read_text()) if path.exists() else None
    if stored is None or not _same_config(stored['config'], config):
      return None
    if stored.get('fingerprint') == code:
      return CachedRun(stored, reused=True)
    members = None
    if 'population' in stored:
      members = _population_members(path, stored)
      if members is None:  # it cannot be retrained as it was
        return None
    group = _verification_group(
        config, stored.get('fingerprint'),
        None if members is None else len(members))
    if group not in self._verified:
      mesh = _stored_mesh(stored, self.mesh)
      if members is None:
        members = [(path, stored)]
        fresh = [self._train(path, config, code, mesh)]
      else:
        fresh = self._train_population(
            [(i, p, m['config']) for i, (p, m) in enumerate(members)], code,
            mesh)
      differences = sorted({
          difference for (_, member), run in zip(members, fresh)
          for difference in _differences(run.record, member)})
      if differences:
        message = (f'{path}: stored under other code, it no longer '
                   f'reproduces ({", ".join(differences)}); every stale run '
                   f'of {method} on {setup.key} like it is retrained')
        self.mismatches.append(message)
        self.log(f'  MISMATCH {message}')
        self._verified[group] = None
      elif not all(run.record.get('diverged') for run in fresh):
        # A diverged run repeats only part of the computation: it vouches
        # for nothing, and the next stale run of the group is checked.
        self._verified[group] = str(path)
      return fresh[[p for p, _ in members].index(path)]
    if self._verified[group] is None:
      return None
    record = {**stored, 'fingerprint': code,
              'verified_by': self._verified[group]}
    write_json(path, record)
    return CachedRun(record, reused=True)

  def _train_population(
      self, chunk: Sequence[tuple[int, Path, dict[str, Any]]],
      code: Mapping[str, Any],
      mesh: jax.sharding.Mesh | None = None) -> list[CachedRun]:
    """Trains runs as one population (on ``mesh``, default the cache's).

    Writes each one's file. A member's ``wall_s`` is its share of the
    population's wall time (the whole is under ``population``).
    """
    mesh = self.mesh if mesh is None else mesh
    results = _train_members([config for _, _, config in chunk],
                             self.data_dir, self.progress, mesh)
    members = {'size': len(chunk),
               'runs': [path.name for _, path, _ in chunk],
               'wall_s': results[0]['wall_s']}
    cached = []
    for (_, path, config), result in zip(chunk, results):
      record = {'config': config, 'device': device_label(mesh),
                'host': host_label(), 'fingerprint': code,
                'population': members, **result,
                'wall_s': result['wall_s'] / len(chunk)}
      write_json(path, record)
      cached.append(CachedRun(record, reused=False))
    return cached

  def _train(self, path: Path, config: Mapping[str, Any],
             code: Mapping[str, Any],
             mesh: jax.sharding.Mesh | None = None) -> CachedRun:
    """Trains one run (on ``mesh``, default the cache's) and writes it."""
    mesh = self.mesh if mesh is None else mesh
    checkpointer = None
    if self.checkpoint_dir is not None:
      # One folder per fingerprint and mesh size: a run resumes only under
      # the code, the packages, the data and the devices that began it.
      code_id = hashlib.blake2b(json.dumps(code, sort_keys=True).encode(),
                                digest_size=8).hexdigest()
      checkpointer = checkpoints.RunCheckpointer(
          self.checkpoint_dir
          / path.relative_to(self.out / 'runs').with_suffix('')
          / f'{code_id}-devices{mesh.size}',
          every_steps=self.checkpoint_every, keep=self.checkpoint_keep)
    record = {'config': config, 'device': device_label(mesh),
              'host': host_label(), 'fingerprint': code,
              **_train(config, self.data_dir, self.progress, checkpointer,
                       mesh)}
    write_json(path, record)
    if checkpointer is not None:  # the run's file is its record now
      checkpointer.close()
      devices.barrier(f'closed {checkpointer.directory}')
      if devices.is_primary():
        shutil.rmtree(checkpointer.directory)
    return CachedRun(record, reused=False)


class Retrained(NamedTuple):
  """A stored run retrained (:func:`retrain`).

  Attributes:
    differences: what :func:`retrain_differences` names.
    stored: the run file's record.
    fresh: the retrained run's result, or None when its population could not
      be rebuilt.
  """
  differences: list[str]
  stored: dict[str, Any]
  fresh: dict[str, Any] | None


def retrain(path: Path, data_dir: str | None) -> Retrained:
  """Retrains the run stored at ``path``; see :func:`retrain_differences`."""
  stored = json.loads(path.read_text())
  config = stored['config']
  setup = Setup.from_config(config['setup'])
  differences = []
  if not _same_config(config, _run_config(
      setup, config['method'], config['hyperparams'], config['seed'],
      config['task_hyperparams'], config.get('first_tasks'))):
    differences.append('config')
  mesh = _stored_mesh(stored, devices.make_mesh())
  if 'population' in stored:  # retrained with its population's members
    members = _population_members(path, stored)
    if members is None:  # a member was trained again
      return Retrained(differences + ['population'], stored, None)
    fresh = _train_members([m['config'] for _, m in members], data_dir,
                           progress=False, mesh=mesh)[
                               [p for p, _ in members].index(path)]
  else:
    fresh = _train(config, data_dir, progress=False, mesh=mesh)
  return Retrained(differences + _differences(fresh, stored), stored, fresh)


def retrain_differences(path: Path, data_dir: str | None) -> list[str]:
  """Retrains the run stored at ``path``; names what differs from the file.

  Args:
    path: a run file written by :class:`RunCache`.
    data_dir: the data folder.

  Returns:
    The names of :data:`REPRODUCED` whose retrained value is not bit for bit
    the stored one, and ``'config'`` if the current code would key the run
    differently (so a sweep would not reuse it); empty when it reproduces.
    A run is retrained on a mesh of its own size when this process can
    build one; one trained in a population, with its population's members
    (from their files beside it; ``'population'`` when one of them was
    trained again since).
  """
  return retrain(path, data_dir).differences


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


def _ranked(scores: Sequence[float | None]) -> list[int]:
  """Indices of the finished scores, best first (ties: lower index)."""
  finished = [i for i, s in enumerate(scores) if s is not None]
  return sorted(finished, key=lambda i: -scores[i])


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
    finalists = sorted(_ranked(screen_scores)[:search.halving.keep])
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
  ranked = _ranked(scores)
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
    document['search'] = dataclasses.asdict(search)
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
  (from their cached runs, each checked as :class:`RunCache` checks any
  run), so a finished sweep never keeps a block the current code would not
  compute; until then the file keeps its blocks. A file of another protocol,
  search or seeds is never overwritten.

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
    write_json(path, result_document(setup, seeds, search, blocks))
  preset_blocks = None
  if paper:
    paper_setup = presets.paper_setup(setup)
    preset_blocks = {'paper': {
        'description': presets.PAPER_DESCRIPTION,
        'protocol': paper_setup.config(),
        'methods': evaluate_all(cache, paper_setup, presets.PAPER_METHODS,
                                seeds)}}
  document = result_document(setup, seeds, search, blocks, preset_blocks)
  write_json(path, document)
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
  write_json(cache.out / f'{setup.key}.json', document)
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
