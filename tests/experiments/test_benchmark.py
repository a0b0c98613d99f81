"""The benchmark's pieces on tiny inputs (no timing is asserted)."""

import math

import pytest

from experiments import benchmark


def test_optimizer_step_fields_and_state_sizes():
  results = benchmark.optimizer_step_benchmark(
      {'w': (1000,), 'b': (10,)}, ['sgd', 'adagrad', 'adam', 'classp p=1 thr'],
      repeats=2)
  assert results['sgd']['state_per_param'] == 0.0
  assert results['classp p=1 thr']['state_per_param'] == 1.0
  assert results['adagrad']['state_per_param'] == 1.0
  assert results['adam']['state_per_param'] == pytest.approx(2.0, abs=1e-2)
  for r in results.values():
    assert r['step_s'] > 0 and r['compile_s'] > 0 and r['bandwidth_gbs'] > 0


def test_hyperparameter_changes_compile_once():
  check = benchmark.recompilation_check(num_steps=40)
  assert check == {'steps': 40, 'traces': 1, 'compilations': 1}


def test_transformer_tree_size_and_leaves():
  shapes = benchmark.transformer_shapes()
  num_params = sum(math.prod(shape) for shape in shapes.values())
  assert 100e6 < num_params < 120e6 and 150 < len(shapes) < 400


def test_unknown_size_is_named():
  with pytest.raises(ValueError, match='flat 9'):
    benchmark.trees(['flat 9'])
