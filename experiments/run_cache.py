"""Run files: every finished run stored at once, reused while still current.

:class:`RunCache` trains a run (alone, or with others of its method as one
population) and writes it to ``<out>/runs/<stream key>/<method>/<name>.json``
with its configuration, its fingerprint (:mod:`experiments.fingerprint`), its
device and its host; a rerun that finds the file with the same configuration
and the current fingerprint reuses it, so a sweep can be stopped and resumed.
A stale file (other code, packages or data) is verified by retraining, bit
for bit. :func:`retrain` retrains one stored run (``python -m experiments
verify``); :func:`sample_runs` draws the files it checks.
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
from experiments import fingerprint
from experiments import methods
from experiments import metrics
from experiments import population
from experiments import training
from experiments.protocol import Setup


def to_json(value: Any) -> Any:
  """``value`` with NumPy arrays and scalars as lists and Python numbers."""
  if isinstance(value, dict):
    return {str(k): to_json(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [to_json(v) for v in value]
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
        json.dumps(to_json(value), indent=1, sort_keys=True) + '\n')
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


@functools.cache
def xla_flags() -> str:
  """``XLA_FLAGS`` as run files record it; '' when unset.

  Flags such as ``--xla_cpu_max_isa`` change how XLA compiles, and so the
  bits a run computes (measured: README, "Reproducibility"). XLA reads the
  variable once, when its backend starts; this reads it once too, at the
  first call (when a run is recorded, after training started the backend).
  Other settings that can change the bits (e.g. ``JAX_ENABLE_X64``,
  ``JAX_DEFAULT_MATMUL_PRECISION``) are not recorded.
  """
  return os.environ.get('XLA_FLAGS', '').strip()


def trained_where(mesh: jax.sharding.Mesh) -> dict[str, str]:
  """Where a run trained, as its file records it.

  Returns:
    ``device`` (:func:`device_label`), ``host`` (:func:`host_label`) and
    ``xla_flags`` (:func:`xla_flags`).
  """
  return {'device': device_label(mesh), 'host': host_label(),
          'xla_flags': xla_flags()}


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
  return to_json(config)


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
  return to_json(dataclasses.asdict(result))


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
  return [to_json(dataclasses.asdict(result)) for result in results]


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
    """E.g. ``'cached; trained in 7 s on cpu (2 cores, x86_64), JAX ...'``.

    A cached run trained on another host, or under other ``XLA_FLAGS``,
    says so: the current process may compute other bits (see
    :func:`host_label`).
    """
    trained = f'trained in {self.record["wall_s"]:.0f} s'
    if not self.reused:
      return trained
    text = (f'cached; {trained} on '
            f'{self.record.get("device", "an unrecorded device")}')
    host = self.record.get('host')
    if host is not None and host != host_label():
      text += f', another host ({host})'
    flags = self.record.get('xla_flags')
    if flags is not None and flags != xla_flags():
      text += (f', XLA_FLAGS={flags!r}' if flags
               else ', trained without XLA_FLAGS')
    return text


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
      record = {'config': config, **trained_where(mesh),
                'fingerprint': code, 'population': members, **result,
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
    record = {'config': config, **trained_where(mesh), 'fingerprint': code,
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
    differences: the names of :data:`REPRODUCED` whose retrained value is
      not bit for bit the stored one, ``'config'`` if the current code would
      key the run differently (so a sweep would not reuse it), and
      ``'population'`` if its population cannot be rebuilt; empty when it
      reproduces.
    stored: the run file's record.
    fresh: the retrained run's result, or None when its population could not
      be rebuilt.
  """
  differences: list[str]
  stored: dict[str, Any]
  fresh: dict[str, Any] | None


def retrain(path: Path, data_dir: str | None) -> Retrained:
  """Retrains the run stored at ``path`` and compares it with the file.

  A run is retrained on a mesh of its own size when this process can build
  one; one trained in a population, with its population's members (from
  their files beside it).

  Args:
    path: a run file written by :class:`RunCache`.
    data_dir: the data folder.

  Returns:
    What differs (:class:`Retrained`), the stored record and the fresh one.
  """
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
