"""Tests of experiments.metrics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import metrics

# R[i, j]: accuracy on task j after training task i.
R = np.array([
    [0.9, 0.1, 0.2],
    [0.7, 0.8, 0.3],
    [0.6, 0.5, 0.9],
])


def test_average_accuracy():
  # (0.6 + 0.5 + 0.9) / 3 = 2.0 / 3.
  assert metrics.average_accuracy(R) == pytest.approx(2.0 / 3)


def test_backward_transfer():
  # ((0.6 - 0.9) + (0.5 - 0.8)) / 2 = (-0.3 - 0.3) / 2 = -0.3.
  assert metrics.backward_transfer(R) == pytest.approx(-0.3)


def test_forgetting():
  # Task 0: max(0.9, 0.7) - 0.6 = 0.3; task 1: max(0.1, 0.8) - 0.5 = 0.3.
  assert metrics.forgetting(R) == pytest.approx(0.3)


def test_forgetting_uses_best_earlier_accuracy_not_diagonal():
  r = np.array([[0.5, 0.0, 0.0], [0.8, 0.9, 0.0], [0.4, 0.9, 0.7]])
  # Task 0 peaks after task 1: max(0.5, 0.8) - 0.4 = 0.4; task 1:
  # max(0.0, 0.9) - 0.9 = 0. Forgetting = (0.4 + 0) / 2 = 0.2.
  assert metrics.forgetting(r) == pytest.approx(0.2)
  # BWT compares with the diagonal: ((0.4 - 0.5) + (0.9 - 0.9)) / 2 = -0.05.
  assert metrics.backward_transfer(r) == pytest.approx(-0.05)


def test_single_task():
  r = [[0.75]]
  assert metrics.average_accuracy(r) == pytest.approx(0.75)
  assert metrics.backward_transfer(r) == 0.0
  assert metrics.forgetting(r) == 0.0


@pytest.mark.parametrize('metric', [
    metrics.average_accuracy, metrics.backward_transfer, metrics.forgetting])
@pytest.mark.parametrize('bad, problem', [
    (np.zeros((2, 3)), 'square'),
    (np.zeros(3), '2-D'),
    (np.zeros((2, 2, 2)), '2-D'),
    (np.zeros((0, 0)), 'at least one task'),
])
def test_bad_shapes_raise(metric, bad, problem):
  with pytest.raises(ValueError, match=problem):
    metric(bad)


def test_tree_bytes():
  tree = {
      'a': jnp.zeros((4, 3), jnp.float32),
      'b': (np.zeros(5, np.float64), jnp.zeros((), jnp.bfloat16)),
      'c': jax.ShapeDtypeStruct((2, 2), jnp.int8),
      'n': None,
      'scalar': 3.0,  # not an array: 0 bytes
  }
  assert metrics.tree_bytes(tree) == 4 * 3 * 4 + 5 * 8 + 2 + 4
  assert metrics.tree_bytes({}) == 0


def test_summarize_population_std():
  # mean 2.0; population variance ((1)^2 + 0 + 1^2) / 3 = 2/3.
  summary = metrics.summarize([1.0, 2.0, 3.0])
  assert summary['mean'] == pytest.approx(2.0)
  assert summary['std'] == pytest.approx(np.sqrt(2.0 / 3))
  assert metrics.summarize([0.5]) == {'mean': 0.5, 'std': 0.0}
  assert all(isinstance(v, float) for v in summary.values())


@pytest.mark.parametrize('bad', [[], [[1.0, 2.0]]])
def test_summarize_rejects_bad_values(bad):
  with pytest.raises(ValueError, match='1-D'):
    metrics.summarize(bad)


def test_average_accuracy_of_a_joint_row():
  # Joint training has one row: the accuracy on each task after training all.
  assert metrics.average_accuracy([[0.9, 0.7, 0.8]]) == pytest.approx(0.8)
  with pytest.raises(ValueError, match='square'):
    metrics.backward_transfer([[0.9, 0.7, 0.8]])
  with pytest.raises(ValueError, match='square'):
    metrics.average_accuracy(np.zeros((2, 3)))
