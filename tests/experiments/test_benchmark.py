"""The benchmark's pieces on tiny inputs (no timing is asserted)."""

import argparse
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


def test_flattened_optimizers_keep_one_vector_of_state():
  results = benchmark.optimizer_step_benchmark(
      {'w': (1000,), 'b': (10,)},
      ['sgd flattened', 'adagrad flattened', 'classp p=1 flattened'],
      repeats=2)
  assert results['sgd flattened']['state_per_param'] == 0.0
  assert results['adagrad flattened']['state_per_param'] == 1.0
  assert results['classp p=1 flattened']['state_per_param'] == 1.0


def test_steps_in_one_call_are_timed_per_step():
  results = benchmark.optimizer_step_benchmark(
      {'w': (1000,), 'b': (10,)}, ['sgd', 'adagrad'], repeats=2,
      steps_per_call=4)
  for r in results.values():
    assert r['steps_per_call'] == 4
    assert r['looped_step_s'] > 0
    assert r['looped_bandwidth_gbs'] == pytest.approx(
        r['bandwidth_gbs'] * r['step_s'] / r['looped_step_s'])
  document = {'device': 'cpu', 'jax': '0', 'optax': '0', 'min_repeats': 2,
              'optimizer_step': {'tiny': results}, 'training_step': {},
              'recompilation': {'compilations': 1, 'steps': 1}}
  table = benchmark.markdown(document)
  assert '| step, 4 per call (ms) | bandwidth, 4 per call (GB/s) |' in table
  # One step per call (the default) adds no columns.
  results = benchmark.optimizer_step_benchmark({'w': (10,)},
                                               ['sgd', 'adagrad'], repeats=2)
  assert 'looped_step_s' not in results['sgd']
  document['optimizer_step'] = {'tiny': results}
  assert 'per call' not in benchmark.markdown(document)


def test_steps_per_call_must_be_positive(capsys):
  with pytest.raises(SystemExit):
    benchmark.main(['--steps-per-call', '0'])
  assert '--steps-per-call must be at least 1' in capsys.readouterr().err


def test_hyperparameter_changes_compile_once():
  check = benchmark.recompilation_check(num_steps=40)
  assert check == {'steps': 40, 'traces': 1, 'compilations': 1}


def test_transformer_tree_size_and_leaves():
  shapes = benchmark.transformer_shapes()
  num_params = sum(math.prod(shape) for shape in shapes.values())
  assert 100e6 < num_params < 120e6 and 150 < len(shapes) < 400


def test_the_transformer_s_leaves_of_one_element():
  leaves = benchmark.trees(['transformer leaves'])['transformer leaves']
  assert leaves.keys() == benchmark.transformer_shapes().keys()
  assert set(leaves.values()) == {(1,)}


def test_unknown_size_is_named():
  with pytest.raises(ValueError, match='flat 9'):
    benchmark.trees(['flat 9'])


def test_the_copy_bandwidth_is_measured_with_the_steps():
  results = benchmark.optimizer_step_benchmark({'w': (1000,)},
                                               ['sgd', 'adagrad'], repeats=2)
  copy_gbs = {r['copy_gbs'] for r in results.values()}
  assert len(copy_gbs) == 1 and copy_gbs.pop() > 0
  for r in results.values():
    assert r['copy_share'] == pytest.approx(r['bandwidth_gbs']
                                            / r['copy_gbs'])


def test_throughput_markdown_has_a_row_per_population_size():
  document = {
      'device': 'cpu', 'jax': '0', 'members': [1, 8], 'device_counts': [1, 8],
      'runs': [{'protocol': 'hsu2018', 'setup': 'split_mnist_class',
                'method': 'classp', 'steps_per_run': 100,
                'sequential_runs': 4, 'sequential_runs_per_hour': 60.0,
                'populations': [
                    {'size': 1, 'runs_per_hour': 45.0, 'speedup': 0.75,
                     'max_accuracy_difference': 0.001},
                    {'size': 8, 'runs_per_hour': 240.0, 'speedup': 4.0,
                     'max_accuracy_difference': None}]}],
      'steps_per_s': {'hsu2018': {'1': 50.0, '8': 20.0}}}
  table = benchmark.throughput_markdown(document)
  assert 'the first 4 seeds trained one by one' in table
  assert ('| hsu2018 | split_mnist_class | classp | 100 | 60 | 1 | 45 | 0.75 '
          '| 0.0010 |') in table
  assert ('| hsu2018 | split_mnist_class | classp | 100 | 60 | 8 | 240 | '
          '4.00 | - |') in table
  assert '| hsu2018 | 50.0 | 20.0 |' in table


@pytest.mark.parametrize('text, sizes', [('4', [4]), ('1,8,64', [1, 8, 64])])
def test_members_takes_population_sizes(text, sizes):
  assert benchmark._population_sizes(text) == sizes


@pytest.mark.parametrize('text', ['0', '1,,8', 'eight', '4,-1'])
def test_members_rejects_what_is_not_a_size(text):
  with pytest.raises(argparse.ArgumentTypeError, match='e.g. 1,8,64'):
    benchmark._population_sizes(text)
