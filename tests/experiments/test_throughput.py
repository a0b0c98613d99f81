"""experiments.throughput on a tiny split MNIST (no timing is asserted)."""

import jax

from experiments import throughput
from experiments.protocol import Protocol
from experiments.protocol import Setup

_TINY = Setup('split_mnist', 'class', num_tasks=None, train_per_task=64,
              val_per_task=16, test_per_task=32,
              protocol=Protocol(model='mlp', hidden=(16,), epochs=1,
                                batch_size=16))
_SGD = {'learning_rate': 0.05}


def test_runs_per_hour_trains_the_runs_both_ways(data_dir):
  result = throughput.runs_per_hour(_TINY, 'sgd', _SGD, [1, 2], [1, 3],
                                    data_dir)
  assert result['sequential_runs'] == 2 and result['steps_per_run'] == 5 * 4
  assert result['sequential_runs_per_hour'] == (
      3600 * 2 / result['sequential_s'])
  assert [p['size'] for p in result['populations']] == [1, 3]
  for p in result['populations']:
    assert p['runs_per_hour'] == 3600 * p['size'] / p['seconds']
    assert p['speedup'] == (p['runs_per_hour']
                            / result['sequential_runs_per_hour'])
    # The members are the runs (test_population states the tolerance).
    assert p['max_accuracy_difference'] <= 1 / 32


def test_steps_per_second_per_mesh_size(data_dir):
  count = jax.local_device_count()
  rates = throughput.steps_per_second(_TINY, 'sgd', _SGD, data_dir, [count],
                                      steps=3, repeats=2)
  assert list(rates) == [count] and rates[count] > 0
