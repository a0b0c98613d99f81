"""Tests of classp_optax.diagnostics."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from classp_optax import accumulator_leaves
from classp_optax import capacity_used
from classp_optax import classp
from classp_optax import effective_step_size
from classp_optax import mask_pass_fraction
from classp_optax import mean_accumulator


def _state_after(tx, params, grads):
  state = tx.init(params)
  _, state = tx.update(grads, state, params)
  return state


PARAMS = {'a': jnp.zeros(4), 'b': jnp.zeros((2, 2))}
GRADS = {'a': jnp.array([1.0, 0.1, -2.0, 0.0]),
         'b': jnp.array([[0.6, 0.0], [0.0, -0.4]])}


def test_on_classp_state():
  state = _state_after(classp(0.1, threshold=0.25), PARAMS, GRADS)
  # Passing: 1.0, -2.0, 0.6 (0.1 and 0.4 are below sqrt(0.25)).
  np.testing.assert_allclose(capacity_used(state), 3 / 8)
  np.testing.assert_allclose(mean_accumulator(state), (1.0 + 2.0 + 0.6) / 8,
                             rtol=1e-6)
  np.testing.assert_allclose(mask_pass_fraction(GRADS, 0.25), 3 / 8)
  np.testing.assert_allclose(mask_pass_fraction(GRADS, 0.0), 5 / 8)


def test_effective_step_size_summary():
  state = _state_after(classp(0.1, threshold=0.25, eps=0.0), PARAMS, GRADS)
  summary = effective_step_size(state, learning_rate=0.1, power=1.0, eps=0.0)
  # Accumulators: 0 (five weights), 0.6, 1, 2 -> median 0 -> infinite step.
  np.testing.assert_allclose(summary.min, 0.1 / 2.0)
  assert np.isinf(summary.median) and np.isinf(summary.max)
  summary = effective_step_size(state, learning_rate=0.1, power=2.0, eps=1.0)
  np.testing.assert_allclose(summary.min, 0.1 / np.sqrt(3.0), rtol=1e-6)
  np.testing.assert_allclose(summary.median, 0.1)
  np.testing.assert_allclose(summary.max, 0.1)


def test_finds_state_inside_wrappers_and_jits():
  tx = optax.chain(
      optax.clip_by_global_norm(10.0),
      optax.MultiSteps(
          optax.inject_hyperparams(classp, static_args=('power',))(
              0.1, threshold=0.25), every_k_schedule=1))
  state = _state_after(tx, PARAMS, GRADS)
  np.testing.assert_allclose(jax.jit(capacity_used)(state), 3 / 8)
  assert len(accumulator_leaves(state)) == 2


def test_partition_counts_only_the_classp_group():
  tx = optax.partition(
      {'classp': classp(0.1), 'sgd': optax.sgd(0.1)},
      {'a': 'classp', 'b': 'sgd'})
  state = _state_after(tx, PARAMS, GRADS)
  leaves = accumulator_leaves(state)
  assert [x.shape for x in leaves] == [(4,)]
  np.testing.assert_allclose(capacity_used(state), 3 / 4)


def test_state_without_accumulator_raises():
  with pytest.raises(ValueError, match='ScaleByAccumulatorDecayState'):
    capacity_used(optax.adam(0.1).init(PARAMS))
