"""Tests of experiments.sweep (caching, summaries) and the tuning grids."""

import json

import numpy as np
import pytest

from experiments import methods
from experiments import sweep
from experiments import training
from experiments.configs import presets
from experiments.protocol import MethodRun
from experiments.protocol import Setup


def _fake_result(acc):
  return training.RunResult(
      test_acc=np.array(acc), val_acc=np.array(acc), state_bytes=8,
      param_bytes=8, wall_s=1.0, diagnostics={})


def test_cached_run_reuses_the_same_run_and_reruns_a_changed_one(
    tmp_path, monkeypatch):
  calls = []

  def fake_run(stream, spec, hyperparams, protocol, seed, **kwargs):
    calls.append(dict(hyperparams))
    return _fake_result([[0.5, 0.1], [0.4, 0.6]])

  monkeypatch.setattr(training, 'run', fake_run)
  monkeypatch.setattr(Setup, 'make_stream', lambda self, *a: None)
  path = tmp_path / 'run.json'
  first = sweep.cached_run(path, presets.QUICK, 'sgd', {'learning_rate': 0.1},
                           1, None)
  again = sweep.cached_run(path, presets.QUICK, 'sgd', {'learning_rate': 0.1},
                           1, None)
  assert first.record == again.record and len(calls) == 1
  assert not first.reused and again.reused
  assert first.provenance() == 'trained in 1 s'
  assert again.provenance() == (
      f'cached; trained in 1 s on {sweep.device_label()}')
  stored = json.loads(path.read_text())
  assert stored['config']['code_version'] == sweep.CODE_VERSION
  assert stored['device'] == sweep.device_label()  # 'cpu (2 cores, ...'
  assert 'JAX' in stored['device']
  sweep.cached_run(path, presets.QUICK, 'sgd', {'learning_rate': 0.2}, 1, None)
  assert len(calls) == 2  # another configuration: trained again


def test_method_summary_by_hand():
  runs = [{'test_acc': [[0.9, 0.1], [0.7, 0.8]], 'state_bytes': 4,
           'param_bytes': 4, 'wall_s': 1.0, 'diagnostics': {}},
          {'test_acc': [[0.8, 0.2], [0.6, 0.9]], 'state_bytes': 4,
           'param_bytes': 4, 'wall_s': 3.0, 'diagnostics': {}}]
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
    tmp_path, monkeypatch):
  monkeypatch.setattr(
      training, 'run',
      lambda *args, **kwargs: _fake_result([[0.5, 0.1], [0.4, 0.6]]))
  monkeypatch.setattr(Setup, 'make_stream', lambda self, *a: None)
  path = tmp_path / 'runs' / 'permuted_mnist' / 'sgd' / 'seed-1.json'
  sweep.cached_run(path, presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1,
                   None)
  assert sweep.retrain_differences(path, None) == []
  stored = json.loads(path.read_text())
  stored['test_acc'][1][1] = 0.7
  stored['config']['code_version'] = -1
  path.write_text(json.dumps(stored))
  assert sweep.retrain_differences(path, None) == ['config', 'test_acc']
  assert sweep.sample_runs(tmp_path, per_protocol=3) == [path]


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
  return {'config': {'seed': seed}, 'test_acc': acc, 'val_acc': acc,
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
  logged = []
  best, grid, scores = sweep.tune(tmp_path, presets.QUICK, 'sgd', 8, 0, None,
                                  log=logged.append)
  assert best == {'learning_rate': 0.2}
  assert scores[grid.index({'learning_rate': 1.0})] is None
  assert any('diverged at task 0, step 3' in line for line in logged)
