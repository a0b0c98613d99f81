"""Tests of experiments.sweep (caching, summaries) and the tuning grids."""

import json

import numpy as np
import pytest

from experiments import sweep
from experiments import training
from experiments.configs import presets
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
  assert first == again and len(calls) == 1
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
