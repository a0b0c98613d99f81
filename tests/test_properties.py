"""Property tests of the library over random trees, dtypes and hyperparameters.

Each property is checked on examples that ``hypothesis`` draws (derandomized,
so CI sees the same ones every run), against the float64 NumPy reference of
``tests/reference.py`` where one applies.
"""

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import optax

from classp_optax import classp
from classp_optax import scale_by_accumulator_decay
from classp_optax import scale_by_classp
from classp_optax import threshold_mask
from tests import reference

_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)

shapes = st.lists(
    st.lists(st.integers(1, 4), min_size=0, max_size=2).map(tuple),
    min_size=1, max_size=3)
powers = st.one_of(st.sampled_from([1.0, 1.5, 2.0]), st.floats(0.5, 3.0))
thresholds = st.one_of(st.just(0.0), st.floats(1e-4, 1.0))
epsilons = st.one_of(st.just(0.0), st.floats(1e-8, 1e-2))
low_precision = st.sampled_from(['float32', 'bfloat16', 'float16'])


@st.composite
def gradient_steps(draw, max_steps=4):
  """(shapes, list over steps of lists of float64 arrays), with exact zeros."""
  leaf_shapes = draw(shapes)
  rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
  steps = []
  for _ in range(draw(st.integers(1, max_steps))):
    grads = [rng.normal(scale=draw(st.sampled_from([0.01, 1.0, 5.0])),
                        size=s) for s in leaf_shapes]
    for g in grads:
      g[rng.random(g.shape) < 0.2] = 0.0
    steps.append(grads)
  return leaf_shapes, steps


def _tree(leaves):
  return {f'leaf{i}': leaf for i, leaf in enumerate(leaves)}


def _run(tx, leaf_shapes, steps, dtype):
  """Updates and states of ``tx`` after each step (eager)."""
  params = _tree([jnp.zeros(s, dtype) for s in leaf_shapes])
  state = tx.init(params)
  updates_per_step, states = [], []
  for grads in steps:
    updates, state = tx.update(_tree([jnp.asarray(g, dtype) for g in grads]),
                               state, params)
    updates_per_step.append(updates)
    states.append(state)
  return updates_per_step, states


def _accumulators(state):
  return jax.tree.leaves(optax.tree_utils.tree_get(state, 'accumulator'))


@_SETTINGS
@given(gradient_steps(), st.floats(1e-3, 1.0), thresholds, powers, epsilons,
       st.booleans())
def test_matches_the_float64_reference(steps, learning_rate, threshold, power,
                                       eps, apply_scaling):
  leaf_shapes, grads = steps
  hyperparams = dict(learning_rate=learning_rate, threshold=threshold,
                     power=power, eps=eps, apply_scaling=apply_scaling)
  expected, expected_acc = reference.classp_reference(grads, **hyperparams)
  with jax.enable_x64(True):
    got, states = _run(classp(**hyperparams), leaf_shapes, grads, jnp.float64)
    for updates, want in zip(got, expected):
      for u, w in zip(jax.tree.leaves(updates), want):
        np.testing.assert_allclose(u, w, rtol=1e-10, atol=1e-300)
    for a, w in zip(_accumulators(states[-1]), expected_acc):
      np.testing.assert_allclose(a, w, rtol=1e-12)


@_SETTINGS
@given(gradient_steps(), thresholds, powers, epsilons, low_precision)
def test_accumulator_never_decreases_and_masked_elements_never_move(
    steps, threshold, power, eps, dtype):
  leaf_shapes, grads = steps
  tx = classp(0.1, threshold=threshold, power=power, eps=eps)
  updates_per_step, states = _run(tx, leaf_shapes, grads, jnp.dtype(dtype))
  previous = [np.zeros(s) for s in leaf_shapes]
  for step_grads, updates, state in zip(grads, updates_per_step, states):
    accumulators = [np.asarray(a, np.float64) for a in _accumulators(state)]
    for g, u, a, before in zip(step_grads, jax.tree.leaves(updates),
                               accumulators, previous):
      assert np.all(a >= before)
      # Clearly below the threshold in any precision: no move, no growth.
      g = np.asarray(jnp.asarray(g, dtype), np.float64)
      masked = g ** 2 < 0.99 * threshold
      assert np.all(np.asarray(u, np.float64)[masked] == 0.0)
      np.testing.assert_array_equal(a[masked], before[masked])
    previous = accumulators


@_SETTINGS
@given(gradient_steps(), thresholds, powers, epsilons, low_precision,
       st.booleans())
def test_finite_inputs_give_finite_updates_and_state(
    steps, threshold, power, eps, dtype, apply_scaling):
  leaf_shapes, grads = steps
  tx = classp(0.1, threshold=threshold, power=power, eps=eps,
              apply_scaling=apply_scaling)
  updates_per_step, states = _run(tx, leaf_shapes, grads, jnp.dtype(dtype))
  for leaf in jax.tree.leaves((updates_per_step, states)):
    assert np.all(np.isfinite(np.asarray(leaf, np.float64)))


@_SETTINGS
@given(gradient_steps(), st.floats(1e-3, 1.0), epsilons)
def test_power_two_without_threshold_is_adagrad(steps, learning_rate, eps):
  leaf_shapes, grads = steps
  got, _ = _run(classp(learning_rate, threshold=0.0, power=2.0, eps=eps),
                leaf_shapes, grads, jnp.float32)
  expected, _ = _run(
      optax.adagrad(learning_rate, initial_accumulator_value=0.0, eps=eps),
      leaf_shapes, grads, jnp.float32)
  for u, w in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
    np.testing.assert_allclose(u, w, rtol=1e-6, atol=1e-12)


@_SETTINGS
@given(gradient_steps(), thresholds, powers, epsilons, st.booleans(),
       st.sampled_from(['float32', 'bfloat16']))
def test_the_chain_of_the_pieces_equals_the_fused_transform(
    steps, threshold, power, eps, apply_scaling, dtype):
  leaf_shapes, grads = steps
  kwargs = dict(power=power, eps=eps, apply_scaling=apply_scaling)
  chain = optax.chain(threshold_mask(threshold),
                      scale_by_accumulator_decay(**kwargs))
  fused = scale_by_classp(threshold, **kwargs)
  chained_updates, chained_states = _run(chain, leaf_shapes, grads,
                                         jnp.dtype(dtype))
  fused_updates, fused_states = _run(fused, leaf_shapes, grads,
                                     jnp.dtype(dtype))
  for got, want in zip(jax.tree.leaves(fused_updates),
                       jax.tree.leaves(chained_updates)):
    np.testing.assert_array_equal(got, want)
  for got, want in zip(_accumulators(fused_states[-1]),
                       _accumulators(chained_states[-1])):
    np.testing.assert_array_equal(got, want)


@_SETTINGS
@given(gradient_steps(), powers, epsilons)
def test_skipping_nonfinite_elements_is_masking_them(steps, power, eps):
  leaf_shapes, grads = steps
  poisoned = [[g.copy() for g in step] for step in grads]
  for step in poisoned:
    for g in step:
      g.flat[::3] = np.nan
      g.flat[1::5] = -np.inf
  skip = scale_by_accumulator_decay(power, eps, nonfinite='skip')
  got, states = _run(skip, leaf_shapes, poisoned, jnp.float32)
  cleaned = [[np.where(np.isfinite(g), g, 0.0) for g in step]
             for step in poisoned]
  expected, expected_states = _run(scale_by_accumulator_decay(power, eps),
                                   leaf_shapes, cleaned, jnp.float32)
  for u, w in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
    np.testing.assert_array_equal(u, w)
  for a, w in zip(_accumulators(states[-1]),
                  _accumulators(expected_states[-1])):
    np.testing.assert_array_equal(a, w)
