"""Tests of experiments.population: a population equals its sequential runs.

Tolerance: a member computes what its run computes up to the order of sums in
batched kernels and injected (not constant) hyperparameters, on test_training's
synthetic stream (3 tasks of 48 examples, batches of 16, 2 epochs): final
params agree to 1e-5, diagnostics to 1e-5 (relative) and accuracy matrices
exactly (one example of 30 is 0.033: any flipped prediction fails). Rounding
may flip a discrete choice (a squared gradient at CLASSP's threshold, a
prediction between two classes), after which runs part ways: the tolerance is
a measured one on these runs, not a bound.
"""

import jax
import numpy as np
import pytest

from experiments import methods
from experiments import population
from experiments import training
from experiments.protocol import Protocol
from tests.experiments.test_training import _stream

_PROTOCOL = Protocol(model='mlp', hidden=(16,), epochs=2, batch_size=16,
                     fisher_samples=32)
_ATOL = 1e-6
_PARAMS_ATOL = 1e-5


def _stream_of(seed):
  return _stream(num_tasks=3, task_heads=True, seed=seed)


def _sequential(method, hyperparams, seed, stream):
  states = []
  result = training.run(stream, methods.parse_method(method), hyperparams,
                        _PROTOCOL, seed, progress=False,
                        on_task_end=lambda i, s: states.append(s))
  return result, states[-1].params if states else None


def _population(method, hyperparams, seeds, member_streams):
  """The members' results and their final params."""
  states = []
  results = population.run_population(
      member_streams, methods.parse_method(method), hyperparams, _PROTOCOL,
      seeds, progress=False, on_task_end=lambda i, s: states.append(s))
  return results, [jax.tree.map(lambda a, m=m: a[m], states[-1].params)
                   for m in range(len(seeds))]


def _assert_close(member, expected, params, expected_params):
  for leaf, expected_leaf in zip(jax.tree.leaves(params),
                                 jax.tree.leaves(expected_params)):
    np.testing.assert_allclose(leaf, expected_leaf, rtol=0,
                               atol=_PARAMS_ATOL)
  np.testing.assert_allclose(member.test_acc, expected.test_acc, atol=_ATOL)
  np.testing.assert_allclose(member.val_acc, expected.val_acc, atol=_ATOL)
  assert member.diagnostics.keys() == expected.diagnostics.keys()
  for name, values in expected.diagnostics.items():
    np.testing.assert_allclose(member.diagnostics[name], values, rtol=1e-5)
  assert member.diverged == expected.diverged
  assert (member.state_bytes, member.param_bytes) == (
      expected.state_bytes, expected.param_bytes)


@pytest.mark.parametrize('method, hyperparams', [
    ('classp', {'learning_rate': 0.05, 'threshold': 1e-6, 'power': 1.5}),
    ('ewc', {'base': 'sgd', 'learning_rate': 0.05, 'strength': 10.0}),
    ('si', {'base': 'adam', 'learning_rate': 0.01, 'strength': 1.0}),
])
def test_members_of_other_seeds_equal_their_sequential_runs(method,
                                                            hyperparams):
  seeds = [3, 4, 5]
  member_streams = [_stream_of(seed) for seed in seeds]
  members, params = _population(method, [hyperparams] * 3, seeds,
                                member_streams)
  for member, member_params, seed, stream in zip(members, params, seeds,
                                                 member_streams):
    expected, expected_params = _sequential(method, hyperparams, seed, stream)
    _assert_close(member, expected, member_params, expected_params)


def test_members_of_other_learning_rates_share_the_data():
  stream = _stream_of(0)
  # Threshold 0: a squared gradient within rounding of a positive threshold
  # may pass it in one run and not the other, and the runs part ways there.
  configs = [{'learning_rate': lr, 'threshold': 0.0, 'power': 2.0}
             for lr in (0.01, 0.05, 0.2)]
  members, params = _population('classp', configs, [0, 0, 0], [stream] * 3)
  finals = []
  for member, member_params, config in zip(members, params, configs):
    expected, expected_params = _sequential('classp', config, 0, stream)
    _assert_close(member, expected, member_params, expected_params)
    finals.append(expected_params)
  # Their runs (which the members equal) trained with other learning rates.
  assert not np.allclose(jax.tree.leaves(finals[0])[0],
                         jax.tree.leaves(finals[2])[0])


def test_a_diverging_member_is_recorded_and_the_others_go_on():
  stream = _stream_of(0)
  (stable, diverging), _ = _population('sgd', [{'learning_rate': 0.05},
                                          {'learning_rate': 1e30}],
                                  [0, 0], [stream] * 2)
  expected, _ = _sequential('sgd', {'learning_rate': 1e30}, 0, stream)
  assert diverging.diverged == expected.diverged is not None
  assert diverging.test_acc.shape == expected.test_acc.shape
  assert stable.diverged is None and stable.test_acc.shape == (3, 3)


def test_members_that_must_share_a_regularizer_are_refused():
  stream = _stream_of(0)
  with pytest.raises(ValueError, match='share the method, base optimizer'):
    _population('ewc', [{'base': 'sgd', 'learning_rate': 0.1, 'strength': s}
                        for s in (1.0, 2.0)], [0, 0], [stream] * 2)
  with pytest.raises(ValueError, match='share the method, base optimizer'):
    _population('classp', [{'learning_rate': 0.1, 'power': p}
                           for p in (1.0, 2.0)], [0, 0], [stream] * 2)


def test_population_key_ignores_injected_hyperparameters():
  spec = methods.parse_method('ewc')
  key = population.population_key(
      spec, {'base': 'adam', 'learning_rate': 0.1, 'strength': 5.0})
  assert key == population.population_key(
      spec, {'base': 'adam', 'learning_rate': 0.3, 'strength': 5.0})
  assert key != population.population_key(
      spec, {'base': 'sgd', 'learning_rate': 0.1, 'strength': 5.0})


def test_max_members_divides_the_memory_share():
  device = jax.local_devices()[0]
  one = population.max_members(1, device)
  assert population.max_members(one // 4, device) >= 4
  assert population.max_members(10 ** 18, device) == 1


def test_joint_training_members_equal_their_runs():
  seeds = [3, 4]
  member_streams = [_stream_of(seed) for seed in seeds]
  members, params = _population('joint', [{'learning_rate': 0.01}] * 2, seeds,
                                member_streams)
  for member, member_params, seed, stream in zip(members, params, seeds,
                                                 member_streams):
    expected, expected_params = _sequential('joint', {'learning_rate': 0.01},
                                            seed, stream)
    assert member.test_acc.shape == (1, 3)  # one row: after all tasks
    _assert_close(member, expected, member_params, expected_params)


def test_members_follow_the_method_s_per_task_schedule():
  """The author's schedule: task 1 unscaled, later tasks scaled."""
  seeds = [3, 4]
  member_streams = [_stream_of(seed) for seed in seeds]
  hyperparams = {'learning_rate': 0.05, 'power': 1.0, 'threshold': 1e-6}
  members, params = _population('classp_author_schedule', [hyperparams] * 2,
                                seeds, member_streams)
  for member, member_params, seed, stream in zip(members, params, seeds,
                                                 member_streams):
    expected, expected_params = _sequential(
        'classp_author_schedule', hyperparams, seed, stream)
    _assert_close(member, expected, member_params, expected_params)


@pytest.mark.parametrize('method, hyperparams', [
    ('classp', {'learning_rate': 0.05, 'threshold': 1e-6, 'power': 1.5}),
    ('ewc', {'base': 'sgd', 'learning_rate': 0.05, 'strength': 10.0}),
])
def test_a_member_is_bit_identical_whatever_its_fellow_members(method,
                                                               hyperparams):
  # The run cache lets one retrained population vouch for the others of its
  # size (experiments.run_cache._verification_group): that rests on this.
  def member_params(seeds, configs, position):
    _, params = _population(method, configs, seeds,
                            [_stream_of(seed) for seed in seeds])
    return jax.tree.leaves(params[position])

  first = member_params([3, 4], [hyperparams] * 2, 0)
  other_fellow = member_params([3, 5], [hyperparams] * 2, 0)
  other_position = member_params([5, 3], [hyperparams] * 2, 1)
  other_rate = member_params(
      [3, 3], [hyperparams, {**hyperparams, 'learning_rate': 0.01}], 0)
  for leaves in (other_fellow, other_position, other_rate):
    for leaf, expected in zip(leaves, first):
      np.testing.assert_array_equal(leaf, expected)
