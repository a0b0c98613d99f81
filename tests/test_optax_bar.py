"""The checks optax runs on every contributed optimizer, for CLASSP.

Our own version of what ``optax/contrib/_common_test.py`` asks of an
``optax.contrib`` optimizer, for ``classp`` at powers 1, 1.5 and 2: extra
arguments without recompilation, convergence on a parabola, Rosenbrock, a
matrix and a mixed tree of tensors, ``tree_map_params`` on the state,
``inject_hyperparams`` equality, dtypes kept, ``MultiSteps``, a state whose
shapes and dtypes are stable under ``lax.cond``, and learning-rate schedules.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from classp_optax import classp

# Learning rates that converge within the budget. Power 1 needs the largest:
# its step is lr * g / sum|g|, so a weight moves at most about
# lr * (1 + ln T) in T steps (see classp's docstring).
LEARNING_RATES = {1.0: 2.0, 1.5: 0.5, 2.0: 0.3}
POWERS = list(LEARNING_RATES)
_STEPS = 20_000
_MATRIX = jnp.asarray(np.random.default_rng(0).normal(size=(3, 4)),
                      jnp.float32)


def _parabola():
  final = jnp.array([1.0, -1.0, 1.0])
  return jnp.array([-1.0, 10.0, 1.0]), final, lambda p: jnp.sum(
      (p - final) ** 2)


def _rosenbrock():
  return jnp.zeros(2), jnp.ones(2), lambda p: (
      (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2)


def _matrix():
  def loss(w):
    return (jnp.sum((w @ jnp.ones(4) - _MATRIX @ jnp.ones(4)) ** 2)
            + jnp.sum((w - _MATRIX) ** 2))
  return jnp.zeros((3, 4)), _MATRIX, loss


def _mixed_tensors():
  final = {'kernel': _MATRIX, 'bias': jnp.array([0.5, -2.0]),
           'scale': jnp.array(3.0)}

  def loss(params):
    return sum(jnp.sum((p - f) ** 2) for p, f in zip(
        jax.tree.leaves(params), jax.tree.leaves(final)))
  return jax.tree.map(jnp.zeros_like, final), final, loss


@pytest.mark.parametrize('power', POWERS)
@pytest.mark.parametrize('target', [_parabola, _rosenbrock, _matrix,
                                    _mixed_tensors])
def test_converges(power, target):
  initial, final, loss = target()
  tx = classp(LEARNING_RATES[power], power=power, eps=1e-8)
  state = tx.init(initial)
  # A no-op map over the state's params-shaped leaves, as optax checks.
  state = optax.tree_utils.tree_map_params(tx, lambda v: v, state)

  @jax.jit
  def run(params, state):
    def step(carry, _):
      params, state = carry
      updates, state = tx.update(jax.grad(loss)(params), state, params)
      return (optax.apply_updates(params, updates), state), None
    return jax.lax.scan(step, (params, state), None, length=_STEPS)[0][0]

  chex.assert_trees_all_close(run(initial, state), final, rtol=3e-2,
                              atol=3e-2)


@pytest.mark.parametrize('power', POWERS)
def test_extra_arguments_are_accepted_without_recompiling(power):
  tx = classp(0.1, power=power, threshold=1e-4)
  params = {'w': jnp.ones(3)}
  traces = []

  @jax.jit
  def step(params, state, loss):
    traces.append(None)
    return tx.update({'w': jnp.array([0.5, -1.0, 2.0])}, state, params,
                     value=loss, loss=loss)

  state = tx.init(params)
  plain, _ = tx.update({'w': jnp.array([0.5, -1.0, 2.0])}, state, params)
  for loss in (1.0, 2.0, 3.0):
    updates, state_out = step(params, state, jnp.asarray(loss))
  chex.assert_trees_all_close(updates, plain)
  assert len(traces) == 1
  assert jax.tree.structure(state_out) == jax.tree.structure(state)


@pytest.mark.parametrize('power', POWERS)
def test_tree_map_params_reaches_the_accumulator(power):
  tx = classp(0.1, power=power)
  params = {'w': jnp.ones((2, 3)), 'b': jnp.ones(3)}
  _, state = tx.update(jax.tree.map(jnp.ones_like, params), tx.init(params),
                       params)
  doubled = optax.tree_utils.tree_map_params(tx, lambda v: 2 * v, state)
  accumulator = optax.tree_utils.tree_get(state, 'accumulator')
  chex.assert_trees_all_close(
      optax.tree_utils.tree_get(doubled, 'accumulator'),
      jax.tree.map(lambda a: 2 * a, accumulator))
  # Leaves that are not params-shaped (the chain's counters) are untouched.
  to_bf16 = optax.tree_utils.tree_map_params(
      tx, lambda v: v.astype(jnp.bfloat16), state,
      transform_non_params=lambda v: v)
  assert all(a.dtype == jnp.bfloat16 for a in jax.tree.leaves(
      optax.tree_utils.tree_get(to_bf16, 'accumulator')))


@pytest.mark.parametrize('power', POWERS)
def test_inject_hyperparams_gives_the_same_updates_and_state(power):
  kwargs = dict(learning_rate=0.1, threshold=0.2, eps=1e-5)
  tx = classp(power=power, **kwargs)
  injected = optax.inject_hyperparams(classp, static_args=('power',))(
      power=power, **kwargs)
  params = [-jnp.ones((2, 3)), jnp.ones((2, 5, 2))]
  grads = [jnp.full((2, 3), 0.7), -jnp.ones((2, 5, 2))]
  for jit in (False, True):
    wrap = jax.jit if jit else (lambda f: f)
    updates, state = wrap(tx.update)(grads, wrap(tx.init)(params), params)
    updates_inj, state_inj = wrap(injected.update)(
        grads, wrap(injected.init)(params), params)
    chex.assert_trees_all_close(updates_inj, updates, rtol=1e-4)
    chex.assert_trees_all_close(state_inj.inner_state, state, rtol=1e-4)


@pytest.mark.parametrize('power', POWERS)
@pytest.mark.parametrize('dtype', [jnp.bfloat16, jnp.float32])
def test_dtypes_are_kept(power, dtype):
  tx = classp(0.1, power=power, threshold=1e-3)
  params = {'w': jnp.ones(4, dtype)}
  state = tx.init(params)
  updates, new_state = jax.jit(tx.update)(
      {'w': jnp.array([0.5, -1.0, 0.01, 2.0], dtype)}, state, params)
  assert updates['w'].dtype == dtype
  chex.assert_trees_all_equal_dtypes(new_state, state)
  assert optax.apply_updates(params, updates)['w'].dtype == dtype


@pytest.mark.parametrize('power', POWERS)
@pytest.mark.parametrize('dtype', ['float16', 'bfloat16', 'float32',
                                   'float64'])
def test_state_shapes_and_dtypes_are_stable_under_cond(power, dtype):
  with jax.enable_x64(dtype == 'float64'):
    dtype = jnp.dtype(dtype)
    tx = classp(0.1, power=power)
    params = {'w': jnp.ones((2, 3), dtype), 'b': jnp.zeros(3, dtype)}
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
    state = tx.init(params)

    @jax.jit
    def maybe_step(take, state):
      # Both branches must return the same shapes and dtypes, else cond fails.
      return jax.lax.cond(take, lambda s: tx.update(grads, s, params)[1],
                          lambda s: s, state)

    stepped = maybe_step(True, state)
    kept = maybe_step(False, stepped)
    chex.assert_trees_all_equal_shapes_and_dtypes(stepped, state)
    chex.assert_trees_all_close(kept, stepped)


@pytest.mark.parametrize('power', POWERS)
def test_multi_steps_applies_the_mean_gradient_every_k_steps(power):
  # The mean gradient is [0.3, -0.1, 0.033]: the last element is masked.
  tx = classp(0.1, power=power, threshold=0.004)
  multi = optax.MultiSteps(tx, every_k_schedule=3)
  params = jnp.zeros(3)
  grads = [jnp.array([0.3, -0.6, 0.05]), jnp.array([0.9, 0.0, -0.05]),
           jnp.array([-0.3, 0.3, 0.1])]
  state = multi.init(params)
  for g in grads[:2]:
    updates, state = multi.update(g, state, params)
    np.testing.assert_array_equal(updates, jnp.zeros(3))
  updates, state = multi.update(grads[2], state, params)
  expected, _ = tx.update(sum(grads) / 3, tx.init(params), params)
  np.testing.assert_allclose(updates, expected, rtol=1e-5)
  assert updates[2] == 0.0 and updates[0] != 0.0


@pytest.mark.parametrize('power', POWERS)
def test_learning_rate_schedules(power):
  schedule = optax.exponential_decay(0.5, transition_steps=1, decay_rate=0.5)
  scheduled = classp(schedule, power=power, eps=0.0)
  constant = classp(1.0, power=power, eps=0.0)
  params = jnp.zeros(2)
  s_state, c_state = scheduled.init(params), constant.init(params)
  for step in range(4):
    g = jnp.array([1.0, -2.0]) * (step + 1)
    s_updates, s_state = jax.jit(scheduled.update)(g, s_state, params)
    c_updates, c_state = constant.update(g, c_state, params)
    np.testing.assert_allclose(s_updates, schedule(step) * c_updates,
                               rtol=1e-6)
  # And under inject_hyperparams, where the schedule's value is recorded.
  injected = optax.inject_hyperparams(classp, static_args=('power',))(
      learning_rate=schedule, power=power)
  state = injected.init(params)
  for _ in range(3):
    _, state = injected.update(jnp.ones(2), state, params)
  np.testing.assert_allclose(state.hyperparams['learning_rate'],
                             schedule(2))
