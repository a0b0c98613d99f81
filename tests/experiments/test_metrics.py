"""Tests of experiments.metrics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

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


# A worked example, by hand: differences a - b = [0.05, 0.05, 0.02, 0.07,
# 0.01], mean 0.04, sample std sqrt(0.0024 / 4) = 0.0244949, standard error
# 0.0109545, t = 3.65148 on 4 degrees of freedom; t_{0.975, 4} = 2.776445,
# so the 95% interval is 0.04 +- 0.0304144 and the two-sided p = 0.02174.
_A = [0.80, 0.82, 0.78, 0.81, 0.79]
_B = [0.75, 0.77, 0.76, 0.74, 0.78]


def test_interval_of_a_worked_example():
  summary = metrics.interval(_A)
  # mean 0.80, sample std sqrt(0.001 / 4) = 0.0158114, half-width
  # 2.776445 * 0.0158114 / sqrt(5) = 0.0196324.
  assert summary['n'] == 5
  assert summary['mean'] == pytest.approx(0.80)
  assert summary['std'] == pytest.approx(0.0158114, rel=1e-5)
  assert summary['low'] == pytest.approx(0.80 - 0.0196324, rel=1e-6)
  assert summary['high'] == pytest.approx(0.80 + 0.0196324, rel=1e-6)


def test_paired_difference_of_a_worked_example():
  difference = metrics.paired_difference(_A, _B)
  assert difference['mean'] == pytest.approx(0.04)
  assert difference['std'] == pytest.approx(0.0244949, rel=1e-5)
  assert difference['low'] == pytest.approx(0.04 - 0.0304144, rel=1e-5)
  assert difference['high'] == pytest.approx(0.04 + 0.0304144, rel=1e-5)
  assert difference['p_value'] == pytest.approx(0.02174, rel=1e-3)
  assert difference['significant']
  assert not metrics.paired_difference(_A, _B, confidence=0.99)['significant']
  reverse = metrics.paired_difference(_B, _A)
  assert reverse['mean'] == pytest.approx(-0.04)
  assert reverse['p_value'] == pytest.approx(difference['p_value'])


def test_paired_difference_without_spread():
  assert metrics.paired_difference([1.0, 2.0], [1.0, 2.0])['p_value'] == 1.0
  same_gain = metrics.paired_difference([1.5, 2.5], [1.0, 2.0])
  assert same_gain['significant'] and same_gain['low'] == 0.5


@pytest.mark.parametrize('call, match', [
    (lambda: metrics.interval([0.5]), 'at least two'),
    (lambda: metrics.interval([0.5, 0.6], confidence=1.0), 'confidence'),
    (lambda: metrics.paired_difference([0.5, 0.6], [0.5, 0.6, 0.7]),
     'same seeds'),
])
def test_statistics_refuse_what_they_cannot_compute(call, match):
  with pytest.raises(ValueError, match=match):
    call()


def test_welch_difference_against_a_published_mean():
  # 1, 2, 3 (mean 2, sd 1) against 0 ± 1 over 4 runs: t = 2 / sqrt(1/3 +
  # 1/4) = 2.619 on df = (7/12)^2 / ((1/3)^2 / 2 + (1/4)^2 / 3) = 4.667.
  result = metrics.welch_difference([1.0, 2.0, 3.0], 0.0, 1.0, 4)
  t = 2 / np.sqrt(1 / 3 + 1 / 4)
  df = (7 / 12) ** 2 / ((1 / 3) ** 2 / 2 + (1 / 4) ** 2 / 3)
  assert result['difference'] == 2.0
  assert result['p_value'] == pytest.approx(2 * scipy.stats.t.sf(t, df))
  assert result['significant'] == (result['p_value'] < 0.05)
  with pytest.raises(ValueError, match='at least 2 runs'):
    metrics.welch_difference([1.0, 2.0], 0.0, 1.0, 1)
