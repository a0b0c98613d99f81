"""The power-cost benchmark's arithmetic and tables (no timing asserted)."""

import json

import jax
import numpy as np
import pytest

from experiments import benchmark
from experiments import power_cost


@pytest.mark.parametrize('name', sorted(power_cost.OPERATIONS))
def test_a_pass_leaves_the_vector_as_it_was(name):
  x = jax.random.uniform(jax.random.key(0), (10_000,), minval=1.0,
                         maxval=2.0)
  operation = power_cost.OPERATIONS[name]
  np.testing.assert_array_equal(x + 1e-30 * operation(x), x)


def test_both_powers_compute_x_to_the_minus_1_over_1_6():
  x = np.array([1.0, 1.5, 1.99], np.float32)
  for name in ('exp2(-0.625 * log2(x))', 'lax.pow(x, -0.625)'):
    np.testing.assert_allclose(power_cost.OPERATIONS[name](x),
                               x.astype(np.float64) ** (-1 / 1.6), rtol=1e-6)


def test_operation_costs_times_every_operation():
  costs = power_cost.operation_costs(1000, repeats=2)
  assert set(costs) == set(power_cost.OPERATIONS)
  assert all(seconds > 0 for seconds in costs.values())


def test_nanoseconds_per_element_and_the_budget():
  entry = power_cost.document_for_size(
      1000, {'x': 1e-6, 'exp2(x)': 3e-6},
      {'sgd': 2e-6, 'adagrad': 4e-6, 'classp p=1.6': 10e-6})
  assert entry['operations'] == pytest.approx({'x': 1.0, 'exp2(x)': 3.0})
  assert entry['over_reference'] == pytest.approx({'x': 0.0, 'exp2(x)': 2.0})
  assert entry['steps'] == pytest.approx(
      {'sgd': 2.0, 'adagrad': 4.0, 'classp p=1.6': 10.0})
  assert entry['over_budget_reference']['classp p=1.6'] == pytest.approx(6.0)
  assert entry['budget_ns'] == pytest.approx(0.4)  # 10% of adagrad's 4 ns


def test_the_command_writes_its_document_and_table(tmp_path):
  assert benchmark.main(['--power-cost', '--sizes', 'flat 1e5', '--repeats',
                         '1', '--out', str(tmp_path)]) == 0
  document = json.loads((tmp_path / 'cpu-power-cost.json').read_text())
  entry = document['sizes']['flat 1e5']
  assert entry['params'] == 100_000
  assert set(entry['operations']) == set(power_cost.OPERATIONS)
  assert set(entry['steps']) == set(power_cost.STEPS)
  table = (tmp_path / 'cpu-power-cost.md').read_text()
  assert '| flat 1e5 | `exp2(-0.625 * log2(x))` |' in table
  assert '| flat 1e5 | classp p=1.6 |' in table
