"""Tests of classp_optax.transforms (the mask, the accumulator, both fused)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from classp_optax import classp
from classp_optax import scale_by_accumulator_decay
from classp_optax import scale_by_classp
from classp_optax import ScaleByAccumulatorDecayState
from classp_optax import threshold_mask
from tests import reference

ALL_FLOAT_DTYPES = (jnp.bfloat16, jnp.float16, jnp.float32, jnp.float64)


def _random_grads(rng, shapes, num_steps, zero_share=0.2):
  """Gradient sequences with some exact zeros."""
  steps = []
  for _ in range(num_steps):
    grads = []
    for shape in shapes:
      g = rng.normal(size=shape)
      g[rng.random(shape) < zero_share] = 0.0
      grads.append(g)
    steps.append(grads)
  return steps


def _hlo(tx, params, grads):
  state = tx.init(params)
  return jax.jit(tx.update).lower(grads, state).compile().as_text()


class TestThresholdMask:

  def test_masks_per_element_with_strict_inequality(self):
    # The author's class collapses the test to one boolean per tensor; here
    # each element is compared on its own, and g**2 == threshold is masked.
    grads = jnp.array([[0.125, -0.75], [0.5, 2.0]])
    updates, _ = threshold_mask(0.25).update(grads, optax.EmptyState())
    np.testing.assert_array_equal(updates, [[0.0, -0.75], [0.0, 2.0]])

  def test_threshold_of_one_or_more_still_passes_large_elements(self):
    grads = jnp.array([0.5, -1.0, 1.5, -3.0])
    updates, _ = threshold_mask(1.0).update(grads, optax.EmptyState())
    np.testing.assert_array_equal(updates, [0.0, 0.0, 1.5, -3.0])

  def test_zero_threshold_masks_only_zeros_and_non_finite(self):
    grads = jnp.array([0.0, 1e-20, -2.0, jnp.nan, jnp.inf, -jnp.inf])
    updates, _ = threshold_mask(0.0).update(grads, optax.EmptyState())
    np.testing.assert_array_equal(updates, grads.at[3:].set(0.0))

  def test_is_stateless_and_works_on_nested_trees(self):
    tx = threshold_mask(0.5)
    params = {'a': jnp.zeros(3), 'b': [jnp.zeros((2, 2))]}
    state = tx.init(params)
    assert state == optax.EmptyState()
    grads = {'a': jnp.array([1.0, 0.1, -1.0]), 'b': [jnp.full((2, 2), 0.75)]}
    updates, new_state = jax.jit(tx.update)(grads, state)
    assert new_state == optax.EmptyState()
    np.testing.assert_array_equal(updates['a'], [1.0, 0.0, -1.0])
    np.testing.assert_array_equal(updates['b'][0], np.full((2, 2), 0.75))

  @pytest.mark.parametrize('dtype', ALL_FLOAT_DTYPES)
  def test_preserves_dtype(self, dtype):
    with jax.enable_x64(dtype == jnp.float64):
      grads = jnp.array([0.1, 2.0], dtype)
      updates, _ = jax.jit(threshold_mask(0.5).update)(grads,
                                                       optax.EmptyState())
      assert updates.dtype == dtype
      np.testing.assert_array_equal(np.asarray(updates, np.float32), [0.0, 2.0])

  def test_in_front_of_adam_freezes_masked_weights(self):
    tx = optax.chain(threshold_mask(0.25), optax.adam(0.1))
    params = jnp.zeros(2)
    state = tx.init(params)
    for _ in range(3):
      updates, state = tx.update(jnp.array([1.0, 0.1]), state, params)
      params = optax.apply_updates(params, updates)
    assert params[1] == 0.0 and params[0] < 0.0

  @pytest.mark.parametrize('bad', [-0.1, float('nan'), float('inf')])
  def test_bad_threshold_raises(self, bad):
    with pytest.raises(ValueError, match='threshold'):
      threshold_mask(bad)


class TestScaleByAccumulatorDecay:

  @pytest.mark.parametrize('power', [0.5, 1.0, 1.5, 2.0, 3.0])
  @pytest.mark.parametrize('apply_scaling', [True, False])
  def test_matches_numpy_reference_in_float64(self, power, apply_scaling):
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (5,), (2, 2, 2)]
    grads_per_step = _random_grads(rng, shapes, num_steps=20)
    expected, expected_acc = reference.classp_reference(
        grads_per_step, learning_rate=-1.0, threshold=0.0, power=power,
        eps=1e-3, apply_scaling=apply_scaling)
    with jax.enable_x64(True):
      tx = scale_by_accumulator_decay(power, eps=1e-3,
                                      apply_scaling=apply_scaling)
      treedef = jax.tree.structure({'w': 0, 'rest': (0, {'x': 0})})
      params = treedef.unflatten([jnp.zeros(s, jnp.float64) for s in shapes])
      state = tx.init(params)
      update = jax.jit(tx.update)
      for step, grads in enumerate(grads_per_step):
        updates, state = update(treedef.unflatten(grads), state)
        for got, want in zip(jax.tree.leaves(updates), expected[step]):
          np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
      for got, want in zip(jax.tree.leaves(state.accumulator), expected_acc):
        np.testing.assert_allclose(got, want, rtol=1e-12)

  def test_power_is_applied_inside_the_accumulator(self):
    # The author's class adds |g| whatever the power; the paper adds |g|**p.
    tx = scale_by_accumulator_decay(power=2.0, eps=0.0)
    state = tx.init(jnp.zeros(1))
    _, state = tx.update(jnp.array([3.0]), state)
    updates, state = tx.update(jnp.array([3.0]), state)
    np.testing.assert_allclose(state.accumulator, [18.0])
    np.testing.assert_allclose(updates, [3.0 / np.sqrt(18.0)], rtol=1e-6)

  def test_current_gradient_enters_before_scaling(self):
    tx = scale_by_accumulator_decay(power=1.0, eps=0.0)
    updates, state = tx.update(jnp.array([-4.0]), tx.init(jnp.zeros(1)))
    np.testing.assert_allclose(updates, [-1.0])
    np.testing.assert_allclose(state.accumulator, [4.0])

  @pytest.mark.parametrize('power', [1.0, 2.0, 1.5])
  def test_zero_gradient_and_zero_eps_never_give_nan(self, power):
    tx = scale_by_accumulator_decay(power=power, eps=0.0)
    state = tx.init(jnp.zeros(3))
    # 1e-30 ** 2 underflows to 0 in float32: still no division by zero.
    grads = jnp.array([0.0, 1e-30, 2.0])
    updates, state = jax.jit(tx.update)(grads, state)
    assert np.all(np.isfinite(updates))
    assert updates[0] == 0.0
    updates, state2 = jax.jit(tx.update)(jnp.zeros(3), state)
    np.testing.assert_array_equal(updates, np.zeros(3))
    np.testing.assert_array_equal(state2.accumulator, state.accumulator)

  def test_scaling_off_grows_accumulator_and_passes_gradient(self):
    tx = scale_by_accumulator_decay(power=1.0, apply_scaling=False)
    grads = jnp.array([0.5, -2.0, 0.0])
    updates, state = tx.update(grads, tx.init(jnp.zeros(3)))
    np.testing.assert_array_equal(updates, grads)
    np.testing.assert_allclose(state.accumulator, [0.5, 2.0, 0.0])

  @pytest.mark.parametrize('scaling', [jnp.asarray(True), jnp.asarray(False)])
  def test_traced_apply_scaling_matches_static(self, scaling):
    grads = jnp.array([0.5, -2.0, 0.0])
    static = scale_by_accumulator_decay(apply_scaling=bool(scaling))
    expected, _ = static.update(grads, static.init(grads))

    @jax.jit
    def traced_update(flag, grads):
      tx = scale_by_accumulator_decay(apply_scaling=flag)
      return tx.update(grads, tx.init(grads))[0]

    np.testing.assert_allclose(traced_update(scaling, grads), expected)

  def test_traced_power_uses_general_path(self):
    grads = jnp.array([0.5, -2.0, 3.0])
    expected, _ = scale_by_accumulator_decay(power=1.5).update(
        grads, ScaleByAccumulatorDecayState(jnp.ones(3)))

    @jax.jit
    def traced_update(power):
      tx = scale_by_accumulator_decay(power=power)
      return tx.update(grads, ScaleByAccumulatorDecayState(jnp.ones(3)))[0]

    np.testing.assert_allclose(traced_update(1.5), expected, rtol=1e-6)

  @pytest.mark.parametrize('dtype', ALL_FLOAT_DTYPES)
  def test_preserves_dtype(self, dtype):
    with jax.enable_x64(dtype == jnp.float64):
      tx = scale_by_accumulator_decay()
      params = jnp.zeros(4, dtype)
      state = tx.init(params)
      assert state.accumulator.dtype == dtype
      updates, state = jax.jit(tx.update)(jnp.ones(4, dtype), state)
      assert updates.dtype == dtype
      assert state.accumulator.dtype == dtype
      np.testing.assert_allclose(np.asarray(updates, np.float32),
                                 np.full(4, 1 / (1 + 1e-5)), rtol=1e-2)

  @pytest.mark.parametrize('power', [0.5, 1.0, 2.0])
  @pytest.mark.parametrize('eps', [0.0, 1e-5])
  def test_float16_tiny_gradients_give_finite_updates(self, power, eps):
    grads = jnp.array([1e-6, 1e-5, 1e-3, 0.1], jnp.float16)
    # A float16 accumulator may round |g|**p to 0 (then the update is 0):
    # finite either way; with a float32 accumulator, the reference values.
    tx = scale_by_accumulator_decay(power=power, eps=eps)
    updates, _ = jax.jit(tx.update)(grads, tx.init(grads))
    assert updates.dtype == jnp.float16
    assert np.all(np.isfinite(np.asarray(updates, np.float32)))
    tx = scale_by_accumulator_decay(power=power, eps=eps,
                                    accumulator_dtype=jnp.float32)
    updates, _ = jax.jit(tx.update)(grads, tx.init(grads))
    assert updates.dtype == jnp.float16
    expected = reference.classp_reference(
        [[np.asarray(grads, np.float64)]], learning_rate=-1.0, threshold=0.0,
        power=power, eps=eps)[0][0][0]
    np.testing.assert_allclose(np.asarray(updates, np.float32), expected,
                               rtol=2e-2, atol=1e-6)

  def test_accumulator_dtype(self):
    tx = scale_by_accumulator_decay(accumulator_dtype=jnp.float32)
    params = jnp.zeros(4, jnp.bfloat16)
    state = tx.init(params)
    assert state.accumulator.dtype == jnp.float32
    # Many small gradients: a bf16 sum would stall, the f32 one keeps adding.
    grads = jnp.full(4, 1e-3, jnp.bfloat16)
    update = jax.jit(tx.update)
    for _ in range(3000):
      updates, state = update(grads, state)
    assert updates.dtype == jnp.bfloat16
    np.testing.assert_allclose(state.accumulator,
                               3000 * float(grads[0]), rtol=1e-3)

  @pytest.mark.parametrize('power, fast', [(1.0, True), (2.0, True),
                                           (0.5, True), (1.5, False),
                                           (3.0, False)])
  def test_transcendentals_only_off_the_fast_paths(self, power, fast):
    params = {'a': jnp.zeros((8, 8)), 'b': jnp.zeros(8)}
    hlo = _hlo(scale_by_accumulator_decay(power=power), params, params)
    # XLA's general pow is never used; other powers use exp and log.
    assert re.search(r'\bpower\(', hlo) is None, hlo
    has_exp_log = (re.search(r'\bexponential\(', hlo) is not None and
                   re.search(r'\blog\(', hlo) is not None)
    assert has_exp_log != fast, hlo

  def test_mismatched_shapes_raise(self):
    tx = scale_by_accumulator_decay()
    state = tx.init({'w': jnp.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"\['w'\].*\(3, 2\).*\(2, 3\)"):
      tx.update({'w': jnp.zeros((3, 2))}, state)

  def test_mismatched_trees_raise(self):
    tx = scale_by_accumulator_decay()
    state = tx.init({'w': jnp.zeros(2)})
    with pytest.raises(ValueError, match='tree structure'):
      tx.update({'v': jnp.zeros(2)}, state)

  @pytest.mark.parametrize('name, kwargs', [
      ('power', dict(power=0.0)),
      ('power', dict(power=-1.0)),
      ('power', dict(power=float('nan'))),
      ('eps', dict(eps=-1e-8)),
      ('eps', dict(eps=float('inf'))),
      ('apply_scaling', dict(apply_scaling=1)),
      ('apply_scaling', dict(apply_scaling='yes')),
      ('apply_scaling', dict(apply_scaling=jnp.array([True, False]))),
  ])
  def test_bad_hyperparameters_raise_with_name_and_value(self, name, kwargs):
    value = next(iter(kwargs.values()))
    with pytest.raises(ValueError, match=name) as info:
      scale_by_accumulator_decay(**kwargs)
    assert re.escape(repr(value))[:6].replace('\\', '') in str(info.value)


@pytest.mark.parametrize('make', [
    lambda: scale_by_accumulator_decay(),
    lambda: scale_by_classp(threshold=0.1),
    lambda: classp(0.1),
])
@pytest.mark.parametrize('dtype', [jnp.int32, jnp.bool_, jnp.uint8])
def test_integer_or_boolean_params_are_refused_at_init(make, dtype):
  params = {'w': jnp.zeros(2), 'step': jnp.zeros((), dtype)}
  with pytest.raises(ValueError, match=r"\['step'\] has dtype"):
    make().init(params)


def test_integer_accumulator_dtype_is_refused():
  with pytest.raises(ValueError, match='accumulator_dtype must be a floating'):
    scale_by_accumulator_decay(accumulator_dtype=jnp.int32)


@pytest.mark.parametrize('threshold', [0.25, 0.0625, 1.0])
def test_an_element_whose_square_equals_the_threshold_is_masked(threshold):
  # g ** 2 == threshold exactly in float32 and float64: strictly not above,
  # so neither the update nor the accumulator moves, also for elements whose
  # accumulator is already above 0 (where a 0 accumulator cannot hide it).
  root = threshold ** 0.5
  grads = [[np.array([2 * root, -2 * root, 2 * root, 0.5 * root])],
           [np.array([root, -root, 2 * root, 0.5 * root])],
           [np.array([-root, root, 3 * root, root])]]
  expected, expected_acc = reference.classp_reference(
      grads, learning_rate=0.1, threshold=threshold, power=1.0, eps=1e-5)
  for tx in (classp(0.1, threshold=threshold),
             optax.chain(threshold_mask(threshold),
                         scale_by_accumulator_decay(),
                         optax.scale_by_learning_rate(0.1))):
    state = tx.init(jnp.zeros(4))
    for step, want in zip(grads, expected):
      updates, state = jax.jit(tx.update)(jnp.asarray(step[0]), state)
      np.testing.assert_allclose(updates, want[0], rtol=1e-6)
    accumulator = optax.tree_utils.tree_get(state, 'accumulator')
    np.testing.assert_allclose(accumulator, expected_acc[0], rtol=1e-6)
    assert accumulator[3] == 0.0  # never above the threshold
  for step in expected[1:]:
    assert step[0][0] == step[0][1] == step[0][3] == 0.0


def test_nonfinite_option():
  with pytest.raises(ValueError, match="nonfinite must be one of"):
    scale_by_accumulator_decay(nonfinite='drop')
  grads = jnp.array([1.0, jnp.nan, -jnp.inf])
  propagate = scale_by_accumulator_decay(eps=0.0)
  updates, state = propagate.update(grads, propagate.init(jnp.zeros(3)))
  assert np.isnan(state.accumulator[1]) and np.isinf(state.accumulator[2])
  assert np.isnan(updates[2])
  skip = scale_by_accumulator_decay(eps=0.0, nonfinite='skip')
  updates, state = skip.update(grads, skip.init(jnp.zeros(3)))
  np.testing.assert_array_equal(updates, [1.0, 0.0, 0.0])
  np.testing.assert_array_equal(state.accumulator, [1.0, 0.0, 0.0])
