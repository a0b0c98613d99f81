"""Tests of experiments.sweep: tuning, summaries and the result files."""

from typing import NamedTuple

import numpy as np
import pytest

from experiments import errors
from experiments import fingerprint
from experiments import methods
from experiments import run_cache
from experiments import sweep
from experiments import training
from experiments.configs import presets
from experiments.protocol import MethodRun
from experiments.protocol import Setup
from experiments.search import Halving
from experiments.search import Search
from tests.experiments import fake_runs


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
    return fake_runs.fake_result([[hyperparams['learning_rate']]])

  monkeypatch.setattr(training, 'run', fake_run)
  monkeypatch.setattr(Setup, 'make_stream', lambda self, *a: None)
  monkeypatch.setattr(fingerprint, 'current', lambda *a: fake_runs.CODE)
  logged = []
  # One by one: the fake training stands for whole runs.
  cache = run_cache.RunCache(tmp_path, None, log=logged.append, population=1)
  tuning = sweep.tune(cache, presets.QUICK, 'sgd', Search('grid', 8, (0,)))
  grid = [c.hyperparams for c in tuning.candidates]
  assert tuning.best == {'learning_rate': 0.2}
  assert tuning.scores[grid.index({'learning_rate': 1.0})] is None
  assert any('diverged at task 0, step 3' in line for line in logged)
  assert tuning.block()['tuning_runs'][-1] == {
      'index': 7, 'stage': 'full', 'seed': 0, 'val_avg_acc': None,
      'diverged': {'task': 0, 'step': 3}, 'wall_s': 1.0}


class _Tuned(NamedTuple):
  cache: run_cache.RunCache
  trained: list[tuple[float, int]]  # (learning rate, seed) of each run
  screened: list[int | None]  # first_tasks of each stream made


@pytest.fixture
def tuned(tmp_path, monkeypatch):
  """Fake training whose score rises with the learning rate and the seed."""
  trained, screened = [], []

  def fake_run(stream, spec, hyperparams, protocol, seed, **kwargs):
    trained.append((hyperparams['learning_rate'], seed))
    return fake_runs.fake_result([[hyperparams['learning_rate'] + seed / 100]])

  monkeypatch.setattr(training, 'run', fake_run)
  monkeypatch.setattr(fingerprint, 'current', lambda *a: fake_runs.CODE)
  monkeypatch.setattr(Setup, 'make_stream',
                      lambda self, seed, data_dir, first_tasks=None:
                      screened.append(first_tasks))
  cache = run_cache.RunCache(tmp_path, None, log=lambda line: None,
                             population=1)
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


def test_a_wider_search_keeps_the_narrower_search_s_finalists(tuned):
  cache, trained, _ = tuned
  narrow = Search('quasi_random', budget=3, tuning_seeds=(0, 1),
                  halving=Halving(first_tasks=2, keep=1))
  wide = Search('quasi_random', budget=8, tuning_seeds=(0, 1),
                halving=Halving(first_tasks=2, keep=1, narrower_budget=3))
  narrow_tuning = sweep.tune(cache, presets.QUICK, 'sgd', narrow)
  trained.clear()
  tuning = sweep.tune(cache, presets.QUICK, 'sgd', wide)
  rates = [c.hyperparams['learning_rate'] for c in tuning.candidates]
  # The quasi-random draw tries the narrower search's configurations first.
  assert [c.hyperparams for c in narrow_tuning.candidates] == [
      c.hyperparams for c in tuning.candidates[:3]]
  finalists = {rates.index(max(rates)), rates.index(max(rates[:3]))}
  assert {i for i, s in enumerate(tuning.scores) if s is not None} == (
      finalists)
  # Only the new screening runs and the new finalist's runs are trained.
  new_finalists = finalists - {rates.index(max(rates[:3]))}
  assert sorted(trained) == sorted(
      [(rate, 0) for rate in rates[3:]]
      + [(rates[i], seed) for i in new_finalists for seed in (0, 1)])
  assert tuning.best == {'learning_rate': max(rates)}


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


def test_sweep_stream_keeps_blocks_and_refuses_to_mix_protocols(
    tmp_path, fake_training):
  cache = run_cache.RunCache(tmp_path, None, log=lambda line: None)
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
  cache = run_cache.RunCache(tmp_path, None, log=lambda line: None)
  two_tasks = presets.QUICK.replace(num_tasks=2)
  search = Search('quasi_random', 2, (0,), halving=Halving(2, 1))
  with pytest.raises(errors.ProtocolError, match='screen on fewer tasks'):
    sweep.tune(cache, two_tasks, 'sgd', search)
