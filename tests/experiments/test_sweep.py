"""Tests of experiments.sweep (caching, summaries) and the tuning grids."""

import json
from typing import NamedTuple

import jax
import numpy as np
import pytest

from experiments import errors
from experiments import fingerprint
from experiments import methods
from experiments import metrics
from experiments import population
from experiments import streams
from experiments import sweep
from experiments import training
from experiments.configs import presets
from experiments.protocol import MethodRun
from experiments.protocol import Setup
from experiments.search import Halving
from experiments.search import Search
from tests.experiments import test_training

_NO_TASKS = streams.Stream('no_tasks', None, 2, ())
# The run a population limit is measured on.
_SGD_RUN = {'seed': 0, 'method': 'sgd', 'hyperparams': {}}


def _fake_result(acc):
  return training.RunResult(
      test_acc=np.array(acc), val_acc=np.array(acc), state_bytes=8,
      param_bytes=8, wall_s=1.0, diagnostics={})


_CODE = {'source': 'abc', 'packages': {'jax': '1'}, 'data': {'mnist': 'd'}}


@pytest.fixture
def fake_training(monkeypatch):
  """training.run returns a fixed result; records each call's hyperparams.

  A population trains its members with that training.run, one by one.
  """
  calls = []

  def fake_run(stream, spec, hyperparams, protocol, seed, **kwargs):
    calls.append(dict(hyperparams))
    return _fake_result([[0.5, 0.1], [0.4, 0.6]])

  def fake_run_population(member_streams, spec, hyperparams, protocol, seeds,
                          **kwargs):
    return [training.run(stream, spec, h, protocol, seed)
            for stream, h, seed in zip(member_streams, hyperparams, seeds)]

  monkeypatch.setattr(training, 'run', fake_run)
  monkeypatch.setattr(population, 'run_population', fake_run_population)
  monkeypatch.setattr(population, 'run_bytes', lambda *a: 1)
  monkeypatch.setattr(Setup, 'make_stream', lambda self, *a: _NO_TASKS)
  monkeypatch.setattr(fingerprint, 'current', lambda *a: _CODE)
  return calls


def test_run_cache_reuses_the_same_run_and_reruns_a_changed_one(
    tmp_path, fake_training):
  cache = sweep.RunCache(tmp_path, None, log=lambda line: None)
  first = cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1, 'seed-1')
  again = cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1, 'seed-1')
  assert first.record == again.record and len(fake_training) == 1
  assert not first.reused and again.reused
  assert first.provenance() == 'trained in 1 s'
  assert again.provenance() == (
      f'cached; trained in 1 s on {sweep.device_label()}')
  stored = json.loads(
      cache.path(presets.QUICK, 'sgd', 'seed-1').read_text())
  assert stored['fingerprint'] == _CODE
  assert stored['device'] == sweep.device_label()  # 'cpu (2 cores, ...'
  assert 'JAX' in stored['device']
  cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.2}, 1, 'seed-1')
  assert len(fake_training) == 2  # another configuration: trained again


def _stale_runs(cache, monkeypatch, source):
  """Three stored sgd runs, then the compute source's hash changes."""
  for seed in (1, 2, 3):
    cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, seed,
              f'seed-{seed}')
  monkeypatch.setattr(fingerprint, 'current',
                      lambda *a: {**_CODE, 'source': source})


def test_a_stale_run_group_that_reproduces_is_verified_once(
    tmp_path, fake_training, monkeypatch):
  logged = []
  _stale_runs(sweep.RunCache(tmp_path, None, log=logged.append), monkeypatch,
              'new')
  cache = sweep.RunCache(tmp_path, None, log=logged.append)
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
  _stale_runs(sweep.RunCache(tmp_path, None), monkeypatch, 'changed')
  # The changed code computes something else.
  monkeypatch.setattr(training, 'run', lambda *a, **k: (
      fake_training.append('new') or _fake_result([[0.9, 0.1], [0.4, 0.6]])))
  logged = []
  cache = sweep.RunCache(tmp_path, None, log=logged.append)
  runs = [cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, seed,
                    f'seed-{seed}') for seed in (1, 2, 3)]
  assert fake_training.count('new') == 3  # every stale run retrained
  assert not any(r.reused for r in runs)
  assert all(r.record['test_acc'][0][0] == 0.9 for r in runs)
  assert len(cache.mismatches) == 1
  assert 'no longer reproduces (test_acc, val_acc)' in cache.mismatches[0]
  assert any(line.startswith('  MISMATCH') for line in logged)


def test_a_changed_compute_source_changes_the_fingerprint(tmp_path):
  (tmp_path / 'lib').mkdir()
  (tmp_path / 'lib' / 'a.py').write_text('x = 1\n')
  (tmp_path / 'b.py').write_text('y = 2\n')
  sources = ('lib', 'b.py')
  before = fingerprint.source_hash(tmp_path, sources)
  assert fingerprint.source_hash(tmp_path, sources) == before
  (tmp_path / 'lib' / 'a.py').write_text('x = 2\n')
  edited = fingerprint.source_hash(tmp_path, sources)
  (tmp_path / 'lib' / 'c.py').write_text('')
  added = fingerprint.source_hash(tmp_path, sources)
  assert len({before, edited, added}) == 3
  (tmp_path / 'notes.md').write_text('not a source')
  assert fingerprint.source_hash(tmp_path, sources) == added


def test_the_fingerprint_covers_the_library_and_the_compute_modules():
  sources = fingerprint.compute_sources('split_mnist')
  covered = set()
  for source in sources:
    path = fingerprint.ROOT / source
    assert path.exists()
    covered |= ({p.relative_to(fingerprint.ROOT).as_posix()
                 for p in path.rglob('*.py')} if path.is_dir() else {source})
  for module in ('classp_optax/transforms.py', 'experiments/training.py',
                 'experiments/regularizers.py', 'experiments/streams/base.py',
                 'experiments/streams/split_mnist.py',
                 'experiments/population.py', 'experiments/devices.py'):
    assert module in covered
  # Not the bookkeeping, nor other stream families or their registry.
  for module in ('experiments/cli.py', 'experiments/report.py',
                 'experiments/sweep.py', 'experiments/streams/__init__.py',
                 'experiments/streams/permuted_mnist.py',
                 'experiments/streams/tweet_domains.py'):
    assert module not in covered
  assert 'experiments/streams/tweet_domains.py' in (
      fingerprint.compute_sources('tweet_domains'))


def test_method_summary_by_hand():
  runs = [{'test_acc': [[0.9, 0.1], [0.7, 0.8]], 'state_bytes': 4,
           'param_bytes': 4, 'wall_s': 1.0, 'diagnostics': {},
           'config': {'seed': 1, 'method': 'sgd'}},
          {'test_acc': [[0.8, 0.2], [0.6, 0.9]], 'state_bytes': 4,
           'param_bytes': 4, 'wall_s': 3.0, 'diagnostics': {},
           'config': {'seed': 2, 'method': 'sgd'}}]
  summary = sweep.method_summary(runs, {'learning_rate': 0.1})
  np.testing.assert_allclose(summary['acc_matrix']['mean'],
                             [[0.85, 0.15], [0.65, 0.85]])
  # ACC per seed: 0.75 and 0.75; BWT: -0.2 and -0.2.
  assert summary['avg_acc'] == pytest.approx({'mean': 0.75, 'std': 0.0})
  assert summary['bwt']['mean'] == pytest.approx(-0.2)
  assert summary['wall_s'] == pytest.approx({'mean': 2.0, 'std': 1.0})
  assert summary['devices'] == []  # runs from before devices were recorded
  runs[0]['device'], runs[1]['device'] = 'gpu (H100)', 'cpu (2 cores)'
  assert sweep.method_summary(runs, {})['devices'] == ['cpu (2 cores)',
                                                       'gpu (H100)']
  joint = sweep.method_summary(
      [{**runs[0], 'test_acc': [[0.9, 0.8]]}], {'learning_rate': 0.1})
  assert joint['bwt'] is None and joint['forgetting'] is None
  assert joint['avg_acc']['mean'] == pytest.approx(0.85)


def test_retrain_differences_names_what_no_longer_reproduces(
    tmp_path, fake_training):
  cache = sweep.RunCache(tmp_path, None)
  cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1, 'seed-1')
  path = cache.path(presets.QUICK, 'sgd', 'seed-1')
  assert sweep.retrain_differences(path, None) == []
  stored = json.loads(path.read_text())
  stored['test_acc'][1][1] = 0.7
  stored['config']['obsolete'] = 1  # a key the current code does not write
  path.write_text(json.dumps(stored))
  assert sweep.retrain_differences(path, None) == ['config', 'test_acc']
  assert sweep.sample_runs(tmp_path, per_protocol=3) == [path]


def test_runs_record_their_host(tmp_path, fake_training):
  cache = sweep.RunCache(tmp_path, None)
  cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1, 'seed-1')
  stored = json.loads(cache.path(presets.QUICK, 'sgd', 'seed-1').read_text())
  assert stored['host'] == sweep.host_label()


def test_host_label_names_the_model_and_hashes_the_flags(tmp_path):
  cpuinfo = tmp_path / 'cpuinfo'
  cpuinfo.write_text('processor\t: 0\nmodel name\t: Some CPU\n'
                     'flags\t\t: fpu sse avx512f\n\nprocessor\t: 1\n'
                     'model name\t: Some CPU\nflags\t\t: fpu sse avx512f\n')
  other = tmp_path / 'other'
  other.write_text('model name\t: Some CPU\nflags\t\t: fpu sse avx2\n')
  label = sweep.host_label(cpuinfo)
  assert label.startswith('Some CPU, flags ') and len(label) == 32
  assert sweep.host_label(other) != label
  assert sweep.host_label(tmp_path / 'missing') == 'unknown'


def test_a_legacy_code_version_does_not_change_the_key(tmp_path,
                                                       fake_training):
  cache = sweep.RunCache(tmp_path, None)
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
      sweep.write_json(
          tmp_path / 'runs' / key / 'm' / f'{setup_config["epochs"]}-{i}.json',
          {'config': {'setup': {**setup_config, 'stream': key}}})
  drawn = sweep.sample_runs(tmp_path, per_protocol=2, seed=0)
  assert len(drawn) == 6
  assert sweep.sample_runs(tmp_path, per_protocol=2, seed=0) == drawn
  assert len(sweep.sample_runs(tmp_path, per_protocol=1)) == 3


def test_method_run_takes_fixed_then_tuned_then_default():
  paper, quick = presets.PRESETS['paper'], presets.PRESETS['quick']
  assert sweep.method_run(paper, 'classp', {}) == presets.PAPER_METHODS[
      'classp']
  tuned = {'sgd': {'learning_rate': 0.5}}
  assert sweep.method_run(quick, 'sgd', tuned) == MethodRun(
      'sgd', {'learning_rate': 0.5}, tag='quick-seed')
  assert sweep.method_run(quick, 'classp+ewc', tuned).hyperparams == (
      methods.default_hyperparams('classp+ewc'))
  with pytest.raises(ValueError, match='belongs to --preset paper'):
    sweep.method_run(quick, 'classp_author_code', {})
  with pytest.raises(ValueError, match="Unknown method 'nope'"):
    sweep.method_run(quick, 'nope', {})


def _record(seed, acc, diverged=None):
  return {'config': {'seed': seed, 'method': 'sgd'}, 'test_acc': acc,
          'val_acc': acc,
          'state_bytes': 4, 'param_bytes': 4, 'wall_s': 1.0,
          'diagnostics': {}, 'device': 'cpu', 'diverged': diverged}


def test_diverged_runs_are_counted_not_scored():
  runs = [_record(1, [[0.9, 0.1], [0.7, 0.8]]),
          _record(2, [[0.5, 0.1]], diverged={'task': 1, 'step': 7}),
          _record(3, [[0.8, 0.2], [0.6, 0.9]])]
  summary = sweep.method_summary(runs, {})
  assert summary['diverged'] == [{'seed': 2, 'task': 1, 'step': 7}]
  assert summary['finished_seeds'] == [1, 3]
  assert summary['avg_acc']['mean'] == pytest.approx(0.75)
  none_finished = sweep.method_summary([runs[1]], {})
  assert none_finished['avg_acc'] is None and none_finished['bwt'] is None
  assert sweep.validation_score(runs[1]) is None
  assert sweep.validation_score(runs[0]) == pytest.approx(0.75)


def test_tuning_never_chooses_a_diverged_configuration(tmp_path,
                                                       monkeypatch):
  def fake_run(stream, spec, hyperparams, protocol, seed, **kwargs):
    if hyperparams['learning_rate'] >= 0.5:  # the best, had it finished
      return training.RunResult(np.array([[0.99]]), np.array([[0.99]]), 8, 8,
                                1.0, {}, diverged={'task': 0, 'step': 3})
    return _fake_result([[hyperparams['learning_rate']]])

  monkeypatch.setattr(training, 'run', fake_run)
  monkeypatch.setattr(Setup, 'make_stream', lambda self, *a: None)
  monkeypatch.setattr(fingerprint, 'current', lambda *a: _CODE)
  logged = []
  # One by one: the fake training stands for whole runs.
  cache = sweep.RunCache(tmp_path, None, log=logged.append, population=1)
  tuning = sweep.tune(cache, presets.QUICK, 'sgd', Search('grid', 8, (0,)))
  grid = [c.hyperparams for c in tuning.candidates]
  assert tuning.best == {'learning_rate': 0.2}
  assert tuning.scores[grid.index({'learning_rate': 1.0})] is None
  assert any('diverged at task 0, step 3' in line for line in logged)
  assert tuning.block()['tuning_runs'][-1] == {
      'index': 7, 'stage': 'full', 'seed': 0, 'val_avg_acc': None,
      'diverged': {'task': 0, 'step': 3}, 'wall_s': 1.0}


class _Tuned(NamedTuple):
  cache: sweep.RunCache
  trained: list[tuple[float, int]]  # (learning rate, seed) of each run
  screened: list[int | None]  # first_tasks of each stream made


@pytest.fixture
def tuned(tmp_path, monkeypatch):
  """Fake training whose score rises with the learning rate and the seed."""
  trained, screened = [], []

  def fake_run(stream, spec, hyperparams, protocol, seed, **kwargs):
    trained.append((hyperparams['learning_rate'], seed))
    return _fake_result([[hyperparams['learning_rate'] + seed / 100]])

  monkeypatch.setattr(training, 'run', fake_run)
  monkeypatch.setattr(fingerprint, 'current', lambda *a: _CODE)
  monkeypatch.setattr(Setup, 'make_stream',
                      lambda self, seed, data_dir, first_tasks=None:
                      screened.append(first_tasks))
  cache = sweep.RunCache(tmp_path, None, log=lambda line: None, population=1)
  return _Tuned(cache, trained, screened)


def test_halving_screens_every_configuration_then_tunes_the_best(tuned):
  cache, trained, screened = tuned
  search = Search('quasi_random', budget=6, tuning_seeds=(0, 1),
                  halving=Halving(first_tasks=2, keep=2))
  tuning = sweep.tune(cache, presets.QUICK, 'sgd', search)
  rates = [c.hyperparams['learning_rate'] for c in tuning.candidates]
  top_two = sorted(rates, reverse=True)[:2]
  assert screened == [2] * 6 + [None] * 4
  assert trained[6:] == [(top_two[0], 0), (top_two[0], 1), (top_two[1], 0),
                         (top_two[1], 1)] or trained[6:] == [
                             (top_two[1], 0), (top_two[1], 1),
                             (top_two[0], 0), (top_two[0], 1)]
  assert tuning.best == {'learning_rate': top_two[0]}
  best = rates.index(top_two[0])
  assert tuning.scores[best] == pytest.approx(top_two[0] + 0.005)
  assert sum(s is not None for s in tuning.scores) == 2
  assert tuning.screen_scores == pytest.approx(rates)


def test_halving_over_seeds_reuses_the_screening_runs(tuned):
  cache, trained, screened = tuned
  search = Search('quasi_random', budget=5, tuning_seeds=(0, 1),
                  halving=Halving(first_tasks=None, keep=2))
  tuning = sweep.tune(cache, presets.QUICK, 'sgd', search)
  rates = [c.hyperparams['learning_rate'] for c in tuning.candidates]
  top_two = sorted(rates, reverse=True)[:2]
  # Every configuration on every task with seed 0; only the best 2 again,
  # with seed 1: 5 + 2 runs, not 5 + 4.
  assert screened == [None] * 7
  assert trained[:5] == [(rate, 0) for rate in rates]
  assert sorted(trained[5:]) == sorted((rate, 1) for rate in top_two)
  best = rates.index(top_two[0])
  assert tuning.best == {'learning_rate': top_two[0]}
  assert tuning.scores[best] == pytest.approx(top_two[0] + 0.005)
  assert sum(s is not None for s in tuning.scores) == 2
  assert [(r['stage'], r['seed']) for r in tuning.runs] == (
      [('screen', 0)] * 5 + [('full', 1)] * 2)
  # Rerun: every run comes from the cache under the same names.
  trained.clear()
  again = sweep.tune(cache, presets.QUICK, 'sgd', search)
  assert trained == [] and again.scores == tuning.scores


def test_a_diverged_run_vouches_for_nothing(tmp_path, fake_training,
                                            monkeypatch):
  _stale_runs(sweep.RunCache(tmp_path, None), monkeypatch, 'new')
  cache = sweep.RunCache(tmp_path, None, log=lambda line: None)
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
  group = sweep._verification_group(config, 'old')

  def changed(**hyperparams):
    return sweep._verification_group(
        {**config, 'hyperparams': {**config['hyperparams'], **hyperparams}},
        'old')

  assert changed(learning_rate=0.3) == group  # the same code path
  assert changed(power=2.0) != group and changed(power=1.5) != group
  assert changed(power=1.5) == changed(power=1.7)
  assert changed(threshold=1e-6) != group
  assert changed(apply_scaling=False) != group
  assert sweep._verification_group(config, 'older') != group


def test_sweep_stream_keeps_blocks_and_refuses_to_mix_protocols(
    tmp_path, fake_training):
  cache = sweep.RunCache(tmp_path, None, log=lambda line: None)
  search = Search('grid', 1, (0,))
  sweep.sweep_stream(cache, presets.QUICK, ['sgd'], [1, 2], search)
  document = sweep.sweep_stream(cache, presets.QUICK, ['adam'], [1, 2],
                                search)
  assert set(document['methods']) == {'sgd', 'adam'}
  with pytest.raises(errors.ProtocolError, match='another seeds'):
    sweep.sweep_stream(cache, presets.QUICK, ['sgd'], [1, 3], search)
  with pytest.raises(errors.ProtocolError, match=r'seeds \[0\] are tuning'):
    sweep.sweep_stream(cache, presets.QUICK, ['sgd'], [0, 1], search)
  assert document['methods']['sgd']['method'] == 'sgd'


def test_screening_must_leave_tasks_to_the_full_runs(tmp_path, fake_training):
  cache = sweep.RunCache(tmp_path, None, log=lambda line: None)
  two_tasks = presets.QUICK.replace(num_tasks=2)
  search = Search('quasi_random', 2, (0,), halving=Halving(2, 1))
  with pytest.raises(errors.ProtocolError, match='screen on fewer tasks'):
    sweep.tune(cache, two_tasks, 'sgd', search)


@pytest.fixture
def fake_populations(monkeypatch, fake_training):
  """population.run_population returns fixed results; records each size."""
  sizes = []

  def fake_run_population(member_streams, spec, hyperparams, protocol, seeds,
                          **kwargs):
    sizes.append(len(seeds))
    return [_fake_result([[0.5, 0.1], [0.4, 0.6]]) for _ in seeds]

  monkeypatch.setattr(population, 'run_population', fake_run_population)
  return sizes


def _requests(hyperparams, seeds):
  return [sweep.RunRequest(hyperparams, seed, f'seed-{seed}')
          for seed in seeds]


def test_run_many_trains_runs_that_share_shapes_as_populations(
    tmp_path, fake_training, fake_populations):
  cache = sweep.RunCache(tmp_path, None, log=lambda line: None, population=2)
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
  assert 'population' not in runs[2].record
  # Reused afterwards, as any run.
  again = cache.run_many(presets.QUICK, 'sgd',
                         _requests({'learning_rate': 0.1}, [1, 2, 3]))
  assert all(run.reused for run in again) and fake_populations == [2]


def test_runs_of_other_regularizer_strengths_never_share_a_population(
    tmp_path, fake_training, fake_populations):
  cache = sweep.RunCache(tmp_path, None, log=lambda line: None, population=8)
  cache.run_many(presets.QUICK, 'ewc', [
      sweep.RunRequest({'base': 'sgd', 'learning_rate': lr, 'strength': s}, 0,
                       f'run-{i}')
      for i, (lr, s) in enumerate([(0.1, 1.0), (0.2, 1.0), (0.1, 5.0)])])
  assert fake_populations == [2] and len(fake_training) == 1


def _stale_populations(tmp_path, monkeypatch, seeds, size):
  """Runs of ``seeds`` trained as populations, then the code changes."""
  cache = sweep.RunCache(tmp_path, None, log=lambda line: None,
                         population=size)
  cache.run_many(presets.QUICK, 'sgd', _requests({'learning_rate': 0.1}, seeds))
  monkeypatch.setattr(fingerprint, 'current',
                      lambda *a: {**_CODE, 'source': 'new'})


def test_a_stale_population_group_that_reproduces_is_verified_once(
    tmp_path, fake_training, fake_populations, monkeypatch):
  _stale_populations(tmp_path, monkeypatch, [1, 2, 3, 4, 5], size=2)
  assert fake_populations == [2, 2] and len(fake_training) == 1
  logged = []
  cache = sweep.RunCache(tmp_path, None, log=logged.append, population=2)
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
    return [_fake_result([[0.5, 0.1], [0.4, 0.7]]) for _ in seeds]

  monkeypatch.setattr(population, 'run_population', changed_population)
  cache = sweep.RunCache(tmp_path, None, log=lambda line: None, population=2)
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
  cache = sweep.RunCache(tmp_path, None, log=lambda line: None, population=2)
  # Seed 2 was trained again since, alone: seed 1's population is gone.
  second = cache.path(presets.QUICK, 'sgd', 'seed-2')
  stored = json.loads(second.read_text())
  del stored['population']
  sweep.write_json(second, stored)
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
  assert sweep.RunCache(tmp_path, None).population_limit(
      presets.QUICK, config) == 3
  assert jax.devices()[0].platform == 'cpu'
  assert asked == [10 ** 6 + data]


def test_convolutional_models_train_one_by_one_on_cpu(tmp_path, monkeypatch):
  config = _SGD_RUN
  measured = []
  monkeypatch.setattr(population, 'run_bytes',
                      lambda *a: measured.append(a) or 1)
  cnn = presets.FULL['mnist_fashion']
  assert cnn.protocol.model in sweep.ONE_BY_ONE_ON_CPU
  assert sweep.RunCache(tmp_path, None).population_limit(cnn, config) == 1
  assert measured == []  # decided without building the stream
  # Asked for, a population still trains.
  assert sweep.RunCache(tmp_path, None, population=5).population_limit(
      cnn, config) == 5


def test_population_limit(tmp_path, monkeypatch):
  config = _SGD_RUN
  monkeypatch.setattr(Setup, 'make_stream', lambda self, *a: _NO_TASKS)
  measured = []

  def run_bytes(stream, spec, hyperparams, protocol, seed, mesh):
    measured.append(spec.name)
    return 10 ** 6

  monkeypatch.setattr(population, 'run_bytes', run_bytes)
  assert sweep.RunCache(tmp_path, None).population_limit(
      presets.QUICK, config) == population.max_members(10 ** 6)
  assert measured == ['sgd']
  assert sweep.RunCache(tmp_path, None, population=4).population_limit(
      presets.QUICK, config) == 4
  assert sweep.RunCache(tmp_path, None, population=4,
                        checkpoint_dir=tmp_path).population_limit(
                            presets.QUICK, config) == 1
  with pytest.raises(ValueError, match='population must be >= 1'):
    sweep.RunCache(tmp_path, None, population=0)


def test_retrain_differences_retrains_a_population_run_with_its_members(
    tmp_path, fake_training, fake_populations):
  cache = sweep.RunCache(tmp_path, None, log=lambda line: None, population=2)
  cache.run_many(presets.QUICK, 'sgd',
                 _requests({'learning_rate': 0.1}, [1, 2]))
  path = cache.path(presets.QUICK, 'sgd', 'seed-2')
  assert sweep.retrain_differences(path, None) == []
  assert fake_populations == [2, 2] and not fake_training
