"""Tests of classp_optax.alias.classp: the equation, optax's expectations."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from classp_optax import classp
from classp_optax import scale_by_accumulator_decay
from classp_optax import set_hyperparams
from classp_optax import threshold_mask
from tests import reference

TREE = jax.tree.structure({'dense': {'kernel': 0, 'bias': 0}, 'out': [0, 0]})
SHAPES = [(4,), (3, 4), (2, 3, 2), (6,)]


def _random_grads(seed, num_steps, scale=1.0):
  rng = np.random.default_rng(seed)
  steps = []
  for _ in range(num_steps):
    grads = [scale * rng.normal(size=s) for s in SHAPES]
    for g in grads:
      g[rng.random(g.shape) < 0.1] = 0.0
    steps.append(grads)
  return steps


def _run(tx, grads_per_step, dtype):
  """Jitted updates of ``tx`` for each step, as lists of NumPy arrays."""
  params = TREE.unflatten([jnp.zeros(s, dtype) for s in SHAPES])
  state = tx.init(params)
  update = jax.jit(tx.update)
  outputs = []
  for grads in grads_per_step:
    grads = TREE.unflatten([jnp.asarray(g, dtype) for g in grads])
    updates, state = update(grads, state, params)
    params = optax.apply_updates(params, updates)
    outputs.append([np.asarray(u) for u in jax.tree.leaves(updates)])
  return outputs, state


def _assert_steps_close(got, expected, **tolerance):
  """Every step's every leaf of ``got`` is close to ``expected``'s."""
  assert len(got) == len(expected)
  for step_got, step_expected in zip(got, expected):
    for g, e in zip(step_got, step_expected, strict=True):
      np.testing.assert_allclose(g, e, **tolerance)


@pytest.mark.parametrize('power', [0.5, 1.0, 1.5, 2.0, 3.0])
@pytest.mark.parametrize('threshold', [0.0, 0.3])
@pytest.mark.parametrize('apply_scaling', [True, False])
def test_matches_numpy_reference(power, threshold, apply_scaling):
  grads_per_step = _random_grads(seed=1, num_steps=25)
  hyperparams = dict(learning_rate=0.1, threshold=threshold, power=power,
                     eps=1e-4, apply_scaling=apply_scaling)
  expected, _ = reference.classp_reference(grads_per_step, **hyperparams)
  with jax.enable_x64(True):
    got, _ = _run(classp(**hyperparams), grads_per_step, jnp.float64)
  _assert_steps_close(got, expected, rtol=1e-12, atol=1e-16)


def test_float32_matches_reference_closely():
  grads_per_step = _random_grads(seed=2, num_steps=20)
  hyperparams = dict(learning_rate=0.1, threshold=0.1, power=1.5, eps=1e-5)
  expected, _ = reference.classp_reference(grads_per_step, **hyperparams)
  got, _ = _run(classp(**hyperparams), grads_per_step, jnp.float32)
  _assert_steps_close(got, expected, rtol=2e-5, atol=1e-7)


def test_power_two_without_threshold_is_adagrad():
  grads_per_step = _random_grads(seed=3, num_steps=20)
  got, _ = _run(classp(0.3, threshold=0.0, power=2.0, eps=0.0),
                grads_per_step, jnp.float32)
  expected, _ = _run(optax.adagrad(0.3, initial_accumulator_value=0.0,
                                   eps=0.0), grads_per_step, jnp.float32)
  _assert_steps_close(got, expected, rtol=1e-6)


def _minimize(tx, fn, params, num_steps):
  @jax.jit
  def run(params):
    def step(carry, _):
      params, state = carry
      updates, state = tx.update(jax.grad(fn)(params), state, params)
      return (optax.apply_updates(params, updates), state), None
    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None,
                                  length=num_steps)
    return params
  return run(params)


@pytest.mark.parametrize('power', [1.0, 1.5, 2.0])
def test_converges_on_a_parabola(power):
  target = jnp.array([1.0, -2.0])
  params = _minimize(classp(1.0, power=power, eps=1e-8),
                     lambda p: jnp.sum((p - target) ** 2), jnp.zeros(2), 500)
  np.testing.assert_allclose(params, target, atol=1e-4)


# With power 1 the step decays like 1 / sum|g|, too fast for Rosenbrock's
# curved valley within a test's budget; powers above 1 converge.
@pytest.mark.parametrize('power, learning_rate', [(1.5, 0.5), (2.0, 0.1)])
def test_converges_on_rosenbrock(power, learning_rate):
  def rosenbrock(p):
    return (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2
  params = _minimize(classp(learning_rate, power=power, eps=1e-8), rosenbrock,
                     jnp.array([-0.5, 0.5]), 10_000)
  np.testing.assert_allclose(params, [1.0, 1.0], atol=2e-2)


def test_learning_rate_schedule():
  schedule = optax.linear_schedule(1.0, 0.0, transition_steps=2)
  tx = classp(schedule, eps=0.0)
  state = tx.init(jnp.zeros(1))
  steps = []
  for _ in range(3):
    updates, state = tx.update(jnp.array([1.0]), state)
    steps.append(float(updates[0]))
  # Scaled steps are 1/1, 1/2, 1/3, times learning rates 1, 0.5, 0.
  np.testing.assert_allclose(steps, [-1.0, -0.25, 0.0])


def test_inject_hyperparams_matches_plain_alias():
  grads_per_step = _random_grads(seed=4, num_steps=10)
  hyperparams = dict(learning_rate=0.1, threshold=0.2, power=1.0, eps=1e-5)
  expected, expected_state = _run(classp(**hyperparams), grads_per_step,
                                  jnp.float32)
  injected = optax.inject_hyperparams(classp, static_args=('power',))(
      **hyperparams)
  got, state = _run(injected, grads_per_step, jnp.float32)
  _assert_steps_close(got, expected, rtol=1e-6)
  chex_leaves = zip(jax.tree.leaves(state.inner_state),
                    jax.tree.leaves(expected_state))
  for g, e in chex_leaves:
    np.testing.assert_allclose(g, e, rtol=1e-6)


@pytest.mark.parametrize('power', [1.0, 1.6])
def test_behind_optax_flatten_the_updates_are_the_same(power):
  # Elementwise, so one raveled vector of state changes nothing: what the
  # benchmark's flattened optimizers rest on.
  grads_per_step = _random_grads(seed=5, num_steps=10)
  hyperparams = dict(learning_rate=0.1, threshold=0.2, power=power, eps=1e-5)
  expected, _ = _run(classp(**hyperparams), grads_per_step, jnp.float32)
  got, state = _run(optax.flatten(classp(**hyperparams)), grads_per_step,
                    jnp.float32)
  _assert_steps_close(got, expected, rtol=1e-6)
  [accumulator] = [leaf for leaf in jax.tree.leaves(state) if leaf.ndim]
  assert accumulator.shape == (sum(np.prod(s) for s in SHAPES),)


def test_hyperparameters_change_between_tasks_without_recompiling():
  """The author's schedule: task 1 unscaled with a threshold, task 2 scaled."""
  traces = []
  tx = optax.inject_hyperparams(classp, static_args=('power',))(
      learning_rate=0.2, threshold=0.5, power=1.0, eps=1e-5,
      apply_scaling=jnp.asarray(False))

  @jax.jit
  def update(grads, state):
    traces.append(None)
    return tx.update(grads, state, jnp.zeros(4))

  state = tx.init(jnp.zeros(4))
  task1 = [np.array([1.0, 0.5, -2.0, 0.0]), np.array([0.2, -1.0, 1.0, 0.9])]
  task2 = [np.array([0.3, 0.5, -2.0, 0.1]), np.array([1.0, 0.05, 1.0, -0.2])]
  got = []
  for g in task1:
    updates, state = update(jnp.asarray(g, jnp.float32), state)
    got.append(updates)
  accumulator_after_task1 = state.inner_state[0].accumulator
  state = set_hyperparams(state, apply_scaling=True, threshold=0.0,
                          learning_rate=0.1)
  for g in task2:
    updates, state = update(jnp.asarray(g, jnp.float32), state)
    got.append(updates)

  assert len(traces) == 1
  expected1, acc1 = reference.classp_reference(
      [[g] for g in task1], learning_rate=0.2, threshold=0.5, power=1.0,
      eps=1e-5, apply_scaling=False)
  np.testing.assert_allclose(accumulator_after_task1, acc1[0], rtol=1e-6)
  # Task 2 continues from task 1's accumulator, with scaling on.
  a = acc1[0].copy()
  expected2 = []
  for g in task2:
    g = np.where(g ** 2 > 0.0, g, 0.0)
    a = a + np.abs(g)
    expected2.append(-0.1 * np.where(a > 0, g / (1e-5 + a), 0.0))
  for g, e in zip(got, [e[0] for e in expected1] + expected2):
    np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize('bad', [jnp.nan, jnp.inf, -jnp.inf])
def test_non_finite_gradients_never_poison_params_or_state(bad):
  tx = classp(0.1)
  params = {'w': jnp.ones(3)}
  state = tx.init(params)
  update = jax.jit(tx.update)
  for grads in ([1.0, bad, 2.0], [bad, bad, bad], [0.5, 0.5, bad]):
    updates, state = update({'w': jnp.array(grads)}, state, params)
    params = optax.apply_updates(params, updates)
    for leaf in jax.tree.leaves((params, state)):
      assert np.all(np.isfinite(leaf))
  # Finite elements accumulate; the non-finite ones add nothing.
  np.testing.assert_allclose(state[0].accumulator['w'], [1.5, 0.5, 2.0])


@pytest.mark.parametrize('dtype', [jnp.bfloat16, jnp.float16, jnp.float32,
                                   jnp.float64])
def test_updates_and_state_keep_params_dtype(dtype):
  with jax.enable_x64(dtype == jnp.float64):
    params = {'w': jnp.ones((2, 3), dtype)}
    for tx in (classp(0.1, threshold=0.01),
               optax.inject_hyperparams(classp, static_args=('power',))(
                   0.1, threshold=0.01, power=1.5)):
      state = tx.init(params)
      updates, state = jax.jit(tx.update)(
          {'w': jnp.full((2, 3), 0.5, dtype)}, state, params)
      assert updates['w'].dtype == dtype
      new_params = optax.apply_updates(params, updates)
      assert new_params['w'].dtype == dtype
      for accumulator in jax.tree.leaves(state):
        if accumulator.shape == (2, 3):
          assert accumulator.dtype == dtype


@pytest.mark.parametrize('kwargs, name', [
    (dict(learning_rate=float('nan')), 'learning_rate'),
    (dict(learning_rate=0.1, threshold=-1.0), 'threshold'),
    (dict(learning_rate=0.1, power=0.0), 'power'),
    (dict(learning_rate=0.1, eps=-1.0), 'eps'),
    (dict(learning_rate=0.1, eps=float('nan')), 'eps'),
])
def test_bad_hyperparameters_raise(kwargs, name):
  with pytest.raises(ValueError, match=f'{name} must be'):
    classp(**kwargs)


@pytest.mark.parametrize('power', [1.0, 2.0, 1.5])
@pytest.mark.parametrize('threshold', [0.0, 0.3])
@pytest.mark.parametrize('apply_scaling', [True, False])
def test_fused_alias_equals_the_chain_of_its_pieces(power, threshold,
                                                    apply_scaling):
  grads_per_step = _random_grads(seed=5, num_steps=10)
  grads_per_step[3][0][:2] = [np.nan, np.inf]
  kwargs = dict(power=power, eps=1e-4, apply_scaling=apply_scaling)
  chain = optax.chain(threshold_mask(threshold),
                      scale_by_accumulator_decay(**kwargs),
                      optax.scale_by_learning_rate(0.1))
  expected, expected_state = _run(chain, grads_per_step, jnp.float32)
  got, state = _run(classp(0.1, threshold=threshold, **kwargs),
                    grads_per_step, jnp.float32)
  _assert_steps_close(got, expected, rtol=1e-6, atol=0)
  for g, e in zip(jax.tree.leaves(state), jax.tree.leaves(expected_state)):
    np.testing.assert_allclose(g, e, rtol=1e-6)


@pytest.mark.parametrize('power', [1.0, 2.0])
def test_one_pass_over_memory_per_leaf(power):
  """The compiled step has as many fused loops as optax.adagrad's.

  Two loops per leaf (the accumulator, then the params), no intermediate
  array of the leaf's size between them.
  """
  params = {'a': jnp.zeros(1000), 'b': jnp.zeros((30, 40))}

  def fusions(tx):
    def step(params, state, grads):
      updates, state = tx.update(grads, state, params)
      return optax.apply_updates(params, updates), state
    hlo = jax.jit(step).lower(params, tx.init(params), params).compile(
        ).as_text()
    entry = hlo[hlo.index('ENTRY'):]
    return len(re.findall(r'fusion\(', entry))

  adagrad = fusions(optax.adagrad(0.1))
  assert fusions(classp(0.1, threshold=0.25, power=power)) <= adagrad
