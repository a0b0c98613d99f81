"""Tests of experiments.run_cache: storing, reusing and retraining runs."""

import json

import jax
import numpy as np
import pytest

from experiments import fingerprint
from experiments import metrics
from experiments import population
from experiments import run_cache
from experiments import training
from experiments.configs import presets
from experiments.protocol import Setup
from tests.experiments import fake_runs
from tests.experiments import test_training

# The run a population limit is measured on.
_SGD_RUN = {'seed': 0, 'method': 'sgd', 'hyperparams': {}}


def test_run_cache_reuses_the_same_run_and_reruns_a_changed_one(
    tmp_path, fake_training):
  cache = run_cache.RunCache(tmp_path, None, log=lambda line: None)
  first = cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1, 'seed-1')
  again = cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1, 'seed-1')
  assert first.record == again.record and len(fake_training) == 1
  assert not first.reused and again.reused
  assert first.provenance() == 'trained in 1 s'
  assert again.provenance() == (
      f'cached; trained in 1 s on {run_cache.device_label()}')
  stored = json.loads(
      cache.path(presets.QUICK, 'sgd', 'seed-1').read_text())
  assert stored['fingerprint'] == fake_runs.CODE
  assert stored['device'] == run_cache.device_label()  # 'cpu (2 cores, ...'
  assert 'JAX' in stored['device']
  cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.2}, 1, 'seed-1')
  assert len(fake_training) == 2  # another configuration: trained again


def test_a_cached_run_of_another_host_or_xla_flags_says_so(
    tmp_path, fake_training, monkeypatch):
  cache = run_cache.RunCache(tmp_path, None, log=lambda line: None)
  monkeypatch.setattr(run_cache, 'xla_flags', lambda: '')
  cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1, 'seed-1')
  path = cache.path(presets.QUICK, 'sgd', 'seed-1')
  record = json.loads(path.read_text())
  path.write_text(json.dumps({**record, 'host': 'Old CPU, flags 0',
                              'xla_flags': '--xla_cpu_max_isa=AVX'}))
  again = cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1, 'seed-1')
  assert again.reused and len(fake_training) == 1
  assert again.provenance() == (
      f'cached; trained in 1 s on {run_cache.device_label()}, another host '
      "(Old CPU, flags 0), XLA_FLAGS='--xla_cpu_max_isa=AVX'")
  path.write_text(json.dumps({**record, 'xla_flags': ''}))
  monkeypatch.setattr(run_cache, 'xla_flags', lambda: '--xla_cpu_max_isa=AVX')
  assert cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1,
                   'seed-1').provenance() == (
      f'cached; trained in 1 s on {run_cache.device_label()}, trained '
      'without XLA_FLAGS')


def _stale_runs(cache, monkeypatch, source):
  """Three stored sgd runs, then the compute source's hash changes."""
  for seed in (1, 2, 3):
    cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, seed,
              f'seed-{seed}')
  monkeypatch.setattr(fingerprint, 'current',
                      lambda *a: {**fake_runs.CODE, 'source': source})


def test_a_stale_run_group_that_reproduces_is_verified_once(
    tmp_path, fake_training, monkeypatch):
  logged = []
  _stale_runs(run_cache.RunCache(tmp_path, None, log=logged.append),
              monkeypatch, 'new')
  cache = run_cache.RunCache(tmp_path, None, log=logged.append)
  runs = [cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, seed,
                    f'seed-{seed}') for seed in (1, 2, 3)]
  # The first stale run is retrained and reproduces: the others are reused.
  assert len(fake_training) == 3 + 1
  assert [r.reused for r in runs] == [False, True, True]
  first = str(cache.path(presets.QUICK, 'sgd', 'seed-1'))
  for seed in (2, 3):
    stored = json.loads(
        cache.path(presets.QUICK, 'sgd', f'seed-{seed}').read_text())
    assert stored['fingerprint']['source'] == 'new'
    assert stored['verified_by'] == first
  assert cache.mismatches == [] and logged == []


def test_a_stale_run_that_no_longer_reproduces_is_reported_and_retrained(
    tmp_path, fake_training, monkeypatch):
  _stale_runs(run_cache.RunCache(tmp_path, None), monkeypatch, 'changed')
  # The changed code computes something else.
  monkeypatch.setattr(training, 'run', lambda *a, **k: (
      fake_training.append('new')
      or fake_runs.fake_result([[0.9, 0.1], [0.4, 0.6]])))
  logged = []
  cache = run_cache.RunCache(tmp_path, None, log=logged.append)
  runs = [cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, seed,
                    f'seed-{seed}') for seed in (1, 2, 3)]
  assert fake_training.count('new') == 3  # every stale run retrained
  assert not any(r.reused for r in runs)
  assert all(r.record['test_acc'][0][0] == 0.9 for r in runs)
  assert len(cache.mismatches) == 1
  assert 'no longer reproduces (test_acc, val_acc)' in cache.mismatches[0]
  assert any(line.startswith('  MISMATCH') for line in logged)


def test_retrain_names_what_no_longer_reproduces(
    tmp_path, fake_training):
  cache = run_cache.RunCache(tmp_path, None)
  cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1, 'seed-1')
  path = cache.path(presets.QUICK, 'sgd', 'seed-1')
  assert run_cache.retrain(path, None).differences == []
  stored = json.loads(path.read_text())
  stored['test_acc'][1][1] = 0.7
  stored['config']['obsolete'] = 1  # a key the current code does not write
  path.write_text(json.dumps(stored))
  assert run_cache.retrain(path, None).differences == ['config', 'test_acc']
  assert run_cache.sample_runs(tmp_path, per_protocol=3) == [path]


def test_runs_record_their_host_and_xla_flags(tmp_path, fake_training,
                                              monkeypatch):
  cache = run_cache.RunCache(tmp_path, None)
  monkeypatch.setattr(run_cache, 'xla_flags', lambda: '')
  cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1, 'seed-1')
  monkeypatch.setattr(run_cache, 'xla_flags',
                      lambda: '--xla_cpu_max_isa=AVX2')
  cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 2, 'seed-2')
  first, second = (
      json.loads(cache.path(presets.QUICK, 'sgd', name).read_text())
      for name in ('seed-1', 'seed-2'))
  assert first['host'] == second['host'] == run_cache.host_label()
  assert first['xla_flags'] == ''
  assert second['xla_flags'] == '--xla_cpu_max_isa=AVX2'


def test_xla_flags_are_read_once(monkeypatch):
  monkeypatch.setenv('XLA_FLAGS', ' --xla_cpu_max_isa=AVX2 ')
  run_cache.xla_flags.cache_clear()
  try:
    assert run_cache.xla_flags() == '--xla_cpu_max_isa=AVX2'
    monkeypatch.delenv('XLA_FLAGS')  # XLA has read them already
    assert run_cache.xla_flags() == '--xla_cpu_max_isa=AVX2'
  finally:
    run_cache.xla_flags.cache_clear()


def test_host_label_names_the_model_and_hashes_the_flags(tmp_path):
  cpuinfo = tmp_path / 'cpuinfo'
  cpuinfo.write_text('processor\t: 0\nmodel name\t: Some CPU\n'
                     'flags\t\t: fpu sse avx512f\n\nprocessor\t: 1\n'
                     'model name\t: Some CPU\nflags\t\t: fpu sse avx512f\n')
  other = tmp_path / 'other'
  other.write_text('model name\t: Some CPU\nflags\t\t: fpu sse avx2\n')
  label = run_cache.host_label(cpuinfo)
  assert label.startswith('Some CPU, flags ') and len(label) == 32
  assert run_cache.host_label(other) != label
  assert run_cache.host_label(tmp_path / 'missing') == 'unknown'


def test_a_legacy_code_version_does_not_change_the_key(tmp_path,
                                                       fake_training):
  cache = run_cache.RunCache(tmp_path, None)
  cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1, 'seed-1')
  path = cache.path(presets.QUICK, 'sgd', 'seed-1')
  stored = json.loads(path.read_text())
  stored['config']['code_version'] = 1  # as runs before the fingerprint
  path.write_text(json.dumps(stored))
  assert cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1,
                   'seed-1').reused


def test_sample_runs_draws_per_stream_and_protocol(tmp_path):
  for key, setup_config, count in (('a', {'epochs': 1}, 5),
                                   ('a', {'epochs': 2}, 2),
                                   ('b', {'epochs': 1}, 4)):
    for i in range(count):
      run_cache.write_json(
          tmp_path / 'runs' / key / 'm' / f'{setup_config["epochs"]}-{i}.json',
          {'config': {'setup': {**setup_config, 'stream': key}}})
  drawn = run_cache.sample_runs(tmp_path, per_protocol=2, seed=0)
  assert len(drawn) == 6
  assert run_cache.sample_runs(tmp_path, per_protocol=2, seed=0) == drawn
  assert len(run_cache.sample_runs(tmp_path, per_protocol=1)) == 3


def test_a_diverged_run_vouches_for_nothing(tmp_path, fake_training,
                                            monkeypatch):
  _stale_runs(run_cache.RunCache(tmp_path, None), monkeypatch, 'new')
  cache = run_cache.RunCache(tmp_path, None, log=lambda line: None)
  # Stored runs that diverged: retraining one proves little.
  for seed in (1, 2, 3):
    path = cache.path(presets.QUICK, 'sgd', f'seed-{seed}')
    stored = json.loads(path.read_text())
    stored['diverged'] = {'task': 0, 'step': 1}
    stored['test_acc'] = stored['val_acc'] = [[0.5, 0.1]]
    path.write_text(json.dumps(stored))
  monkeypatch.setattr(training, 'run', lambda *a, **k: (
      fake_training.append('retrained') or training.RunResult(
          np.array([[0.5, 0.1]]), np.array([[0.5, 0.1]]), 8, 8, 1.0, {},
          diverged={'task': 0, 'step': 1})))
  runs = [cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, seed,
                    f'seed-{seed}') for seed in (1, 2, 3)]
  # Each reproduced, but diverged: none vouched for the next.
  assert fake_training.count('retrained') == 3
  assert not any(r.reused for r in runs) and cache.mismatches == []


def test_runs_of_other_code_paths_are_verified_apart():
  config = {'setup': {}, 'method': 'classp', 'task_hyperparams': None,
            'hyperparams': {'learning_rate': 0.1, 'power': 1.0,
                            'threshold': 0.0}}
  group = run_cache._verification_group(config, 'old')

  def changed(**hyperparams):
    return run_cache._verification_group(
        {**config, 'hyperparams': {**config['hyperparams'], **hyperparams}},
        'old')

  assert changed(learning_rate=0.3) == group  # the same code path
  assert changed(power=2.0) != group and changed(power=1.5) != group
  assert changed(power=1.5) == changed(power=1.7)
  assert changed(threshold=1e-6) != group
  assert changed(apply_scaling=False) != group
  assert run_cache._verification_group(config, 'older') != group


@pytest.fixture
def fake_populations(monkeypatch, fake_training):
  """population.run_population returns fixed results; records each size."""
  sizes = []

  def fake_run_population(member_streams, spec, hyperparams, protocol, seeds,
                          **kwargs):
    sizes.append(len(seeds))
    return [fake_runs.fake_result([[0.5, 0.1], [0.4, 0.6]]) for _ in seeds]

  monkeypatch.setattr(population, 'run_population', fake_run_population)
  return sizes


def _requests(hyperparams, seeds):
  return [run_cache.RunRequest(hyperparams, seed, f'seed-{seed}')
          for seed in seeds]


def test_run_many_trains_runs_that_share_shapes_as_populations(
    tmp_path, fake_training, fake_populations):
  cache = run_cache.RunCache(tmp_path, None, log=lambda line: None,
                             population=2)
  done = []
  runs = cache.run_many(presets.QUICK, 'sgd',
                        _requests({'learning_rate': 0.1}, [1, 2, 3]),
                        on_done=lambda i, run: done.append(i))
  # Seeds 1 and 2 as one population, seed 3 alone (the sequential run).
  assert fake_populations == [2] and len(fake_training) == 1
  assert sorted(done) == [0, 1, 2]
  first = runs[0].record
  assert first['population'] == {'size': 2, 'wall_s': 1.0,
                                 'runs': ['seed-1.json', 'seed-2.json']}
  assert first['wall_s'] == 0.5  # its share of the population's
  assert first['host'] == run_cache.host_label()
  assert first['xla_flags'] == run_cache.xla_flags()
  assert 'population' not in runs[2].record
  # Reused afterwards, as any run.
  again = cache.run_many(presets.QUICK, 'sgd',
                         _requests({'learning_rate': 0.1}, [1, 2, 3]))
  assert all(run.reused for run in again) and fake_populations == [2]


def test_runs_of_other_regularizer_strengths_never_share_a_population(
    tmp_path, fake_training, fake_populations):
  cache = run_cache.RunCache(tmp_path, None, log=lambda line: None,
                             population=8)
  cache.run_many(presets.QUICK, 'ewc', [
      run_cache.RunRequest(
          {'base': 'sgd', 'learning_rate': lr, 'strength': s}, 0, f'run-{i}')
      for i, (lr, s) in enumerate([(0.1, 1.0), (0.2, 1.0), (0.1, 5.0)])])
  assert fake_populations == [2] and len(fake_training) == 1


def _stale_populations(tmp_path, monkeypatch, seeds, size):
  """Runs of ``seeds`` trained as populations, then the code changes."""
  cache = run_cache.RunCache(tmp_path, None, log=lambda line: None,
                         population=size)
  cache.run_many(presets.QUICK, 'sgd', _requests({'learning_rate': 0.1}, seeds))
  monkeypatch.setattr(fingerprint, 'current',
                      lambda *a: {**fake_runs.CODE, 'source': 'new'})


def test_a_stale_population_group_that_reproduces_is_verified_once(
    tmp_path, fake_training, fake_populations, monkeypatch):
  _stale_populations(tmp_path, monkeypatch, [1, 2, 3, 4, 5], size=2)
  assert fake_populations == [2, 2] and len(fake_training) == 1
  logged = []
  cache = run_cache.RunCache(tmp_path, None, log=logged.append, population=2)
  runs = cache.run_many(presets.QUICK, 'sgd',
                        _requests({'learning_rate': 0.1}, [1, 2, 3, 4, 5]))
  # The first population is retrained as it was and reproduces, so it vouches
  # for the other population of its size; the run trained alone (another
  # program) is checked apart.
  assert fake_populations == [2, 2, 2] and len(fake_training) == 2
  # Seed 2 comes from the file its population's retraining wrote.
  assert [run.reused for run in runs] == [False, True, True, True, False]
  first = str(cache.path(presets.QUICK, 'sgd', 'seed-1'))
  for run in runs[2:4]:
    assert run.record['verified_by'] == first
    assert run.record['population']['runs'] == ['seed-3.json', 'seed-4.json']
  for seed in (1, 2):  # retrained: written under the current code
    stored = json.loads(
        cache.path(presets.QUICK, 'sgd', f'seed-{seed}').read_text())
    assert stored['fingerprint']['source'] == 'new'
    assert stored['population']['runs'] == ['seed-1.json', 'seed-2.json']
    assert 'verified_by' not in stored
  assert cache.mismatches == [] and logged == []


def test_a_stale_population_that_no_longer_reproduces_is_retrained(
    tmp_path, fake_training, fake_populations, monkeypatch):
  _stale_populations(tmp_path, monkeypatch, [1, 2, 3, 4], size=2)
  changed = []

  def changed_population(member_streams, spec, hyperparams, protocol, seeds,
                         **kwargs):
    changed.append(len(seeds))
    return [fake_runs.fake_result([[0.5, 0.1], [0.4, 0.7]]) for _ in seeds]

  monkeypatch.setattr(population, 'run_population', changed_population)
  cache = run_cache.RunCache(tmp_path, None, log=lambda line: None,
                             population=2)
  runs = cache.run_many(presets.QUICK, 'sgd',
                        _requests({'learning_rate': 0.1}, [1, 2, 3, 4]))
  # The checked population is kept as retrained; the other one is retrained.
  assert changed == [2, 2]
  # Seed 2 comes from the file its population's retraining wrote.
  assert [run.reused for run in runs] == [False, True, False, False]
  assert all(run.record['test_acc'][1][1] == 0.7 for run in runs)
  assert len(cache.mismatches) == 1
  assert 'seed-1.json' in cache.mismatches[0]
  assert 'no longer reproduces (test_acc, val_acc)' in cache.mismatches[0]


def test_a_population_that_cannot_be_rebuilt_is_retrained(
    tmp_path, fake_training, fake_populations, monkeypatch):
  _stale_populations(tmp_path, monkeypatch, [1, 2], size=2)
  cache = run_cache.RunCache(tmp_path, None, log=lambda line: None,
                             population=2)
  # Seed 2 was trained again since, alone: seed 1's population is gone.
  second = cache.path(presets.QUICK, 'sgd', 'seed-2')
  stored = json.loads(second.read_text())
  del stored['population']
  run_cache.write_json(second, stored)
  run = cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1, 'seed-1')
  assert not run.reused and len(fake_training) == 1  # retrained, alone
  assert fake_populations == [2] and cache.mismatches == []


def test_population_limit_counts_the_host_s_copy_of_the_data_on_cpu(
    tmp_path, monkeypatch):
  config = _SGD_RUN
  stream = test_training._stream(num_tasks=2)
  data = metrics.tree_bytes(
      [(task.train, task.val, task.test) for task in stream.tasks])
  monkeypatch.setattr(Setup, 'make_stream', lambda self, *a: stream)
  monkeypatch.setattr(population, 'run_bytes', lambda *a: 10 ** 6)
  asked = []
  monkeypatch.setattr(population, 'max_members',
                      lambda member_bytes: asked.append(member_bytes) or 3)
  assert run_cache.RunCache(tmp_path, None).population_limit(
      presets.QUICK, config) == 3
  assert jax.devices()[0].platform == 'cpu'
  assert asked == [10 ** 6 + data]


def test_convolutional_models_train_one_by_one_on_cpu(tmp_path, monkeypatch):
  config = _SGD_RUN
  measured = []
  monkeypatch.setattr(population, 'run_bytes',
                      lambda *a: measured.append(a) or 1)
  cnn = presets.FULL['mnist_fashion']
  assert cnn.protocol.model in run_cache.ONE_BY_ONE_ON_CPU
  assert run_cache.RunCache(tmp_path, None).population_limit(cnn, config) == 1
  assert measured == []  # decided without building the stream
  # Asked for, a population still trains.
  assert run_cache.RunCache(tmp_path, None, population=5).population_limit(
      cnn, config) == 5


def test_population_limit(tmp_path, monkeypatch):
  config = _SGD_RUN
  monkeypatch.setattr(Setup, 'make_stream', lambda self, *a: fake_runs.NO_TASKS)
  measured = []

  def run_bytes(stream, spec, hyperparams, protocol, seed, mesh):
    measured.append(spec.name)
    return 10 ** 6

  monkeypatch.setattr(population, 'run_bytes', run_bytes)
  assert run_cache.RunCache(tmp_path, None).population_limit(
      presets.QUICK, config) == population.max_members(10 ** 6)
  assert measured == ['sgd']
  assert run_cache.RunCache(tmp_path, None, population=4).population_limit(
      presets.QUICK, config) == 4
  assert run_cache.RunCache(tmp_path, None, population=4,
                        checkpoint_dir=tmp_path).population_limit(
                            presets.QUICK, config) == 1
  with pytest.raises(ValueError, match='population must be >= 1'):
    run_cache.RunCache(tmp_path, None, population=0)


def test_retrain_retrains_a_population_run_with_its_members(
    tmp_path, fake_training, fake_populations):
  cache = run_cache.RunCache(tmp_path, None, log=lambda line: None,
                             population=2)
  cache.run_many(presets.QUICK, 'sgd',
                 _requests({'learning_rate': 0.1}, [1, 2]))
  path = cache.path(presets.QUICK, 'sgd', 'seed-2')
  assert run_cache.retrain(path, None).differences == []
  assert fake_populations == [2, 2] and not fake_training
