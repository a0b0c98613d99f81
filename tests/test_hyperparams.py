"""Tests of classp_optax.hyperparams: set_hyperparams, check_hyperparams."""

import jax
from jax.experimental import checkify
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from classp_optax import check_hyperparams
from classp_optax import classp
from classp_optax import set_hyperparams


def _injected(**kwargs):
  return optax.inject_hyperparams(classp, static_args=('power',))(
      **{'learning_rate': 0.1, 'apply_scaling': jnp.asarray(True), **kwargs})


def test_casts_to_the_state_dtype_and_keeps_the_accumulator():
  tx = _injected(threshold=0.5)
  params = jnp.zeros(2, jnp.bfloat16)
  state = tx.init(params)
  _, state = tx.update(jnp.ones(2, jnp.bfloat16), state, params)
  new = set_hyperparams(state, threshold=0.0, apply_scaling=False)
  assert new.hyperparams['threshold'].dtype == jnp.bfloat16
  assert not new.hyperparams['threshold'].weak_type
  assert new.hyperparams['apply_scaling'].dtype == jnp.bool_
  assert float(state.hyperparams['threshold']) == 0.5  # not mutated
  np.testing.assert_array_equal(new.inner_state[0].accumulator,
                                state.inner_state[0].accumulator)
  assert (jax.tree.structure(new) == jax.tree.structure(state))


def test_sets_every_injected_group():
  tx = optax.partition({'x': _injected(), 'y': _injected()},
                       {'a': 'x', 'b': 'y'})
  state = tx.init({'a': jnp.zeros(1), 'b': jnp.zeros(1)})
  state = set_hyperparams(state, learning_rate=0.5)
  rates = [s.hyperparams['learning_rate']
           for s in jax.tree.leaves(state, is_leaf=lambda n: hasattr(
               n, 'hyperparams')) if hasattr(s, 'hyperparams')]
  assert [float(r) for r in rates] == [0.5, 0.5]


@pytest.mark.parametrize('kwargs, match', [
    (dict(power=2.0), "'power' is not an injected"),
    (dict(threshold=-1.0), 'threshold must be >= 0'),
    (dict(eps=jnp.ones(3)), 'shape'),
    (dict(apply_scaling=0.3), "'apply_scaling' is boolean"),
])
def test_errors(kwargs, match):
  state = _injected().init(jnp.zeros(2))
  with pytest.raises(ValueError, match=match):
    set_hyperparams(state, **kwargs)


def test_scheduled_and_missing_injection_raise():
  tx = optax.inject_hyperparams(classp)(optax.constant_schedule(0.1))
  with pytest.raises(ValueError, match='schedule'):
    set_hyperparams(tx.init(jnp.zeros(1)), learning_rate=0.2)
  with pytest.raises(ValueError, match='inject_hyperparams'):
    set_hyperparams(classp(0.1).init(jnp.zeros(1)), learning_rate=0.2)


def test_keeps_flax_nnx_optimizer_wrappers_so_the_step_compiles_once():
  nnx = pytest.importorskip('flax.nnx')

  class Model(nnx.Module):

    def __init__(self, rngs):
      self.linear = nnx.Linear(3, 2, rngs=rngs)

    def __call__(self, x):
      return self.linear(x)

  model = Model(nnx.Rngs(0))
  optimizer = nnx.Optimizer(model, _injected(threshold=0.5), wrt=nnx.Param)
  wrappers = {k: type(v) for k, v in optimizer.opt_state.hyperparams.items()}
  traces = []

  @nnx.jit
  def step(model, optimizer, x):
    traces.append(None)
    grads = nnx.grad(lambda m: jnp.sum(m(x) ** 2))(model)
    optimizer.update(model, grads)

  x = jnp.ones((4, 3))
  step(model, optimizer, x)
  for threshold, scaling in ((0.0, False), (0.25, True), (1.0, False)):
    optimizer.opt_state = set_hyperparams(
        optimizer.opt_state, threshold=threshold, apply_scaling=scaling)
    step(model, optimizer, x)
    hyperparams = optimizer.opt_state.hyperparams
    assert {k: type(v) for k, v in hyperparams.items()} == wrappers
    assert float(hyperparams['threshold'][...]) == threshold
    assert bool(hyperparams['apply_scaling'][...]) == scaling
  assert len(traces) == 1


def test_check_hyperparams_catches_traced_values_out_of_range():
  tx = _injected(threshold=0.5)
  params = jnp.zeros(2)

  def step(state, threshold, eps):
    state.hyperparams['threshold'] = threshold
    state.hyperparams['eps'] = eps
    check_hyperparams(state)
    return tx.update(jnp.ones(2), state, params)[0]

  checked = jax.jit(checkify.checkify(step))
  error, updates = checked(tx.init(params), 0.25, 1e-5)
  assert error.get() is None
  assert np.all(np.asarray(updates) != 0)
  for threshold, eps, name in ((-1.0, 1e-5, 'threshold'),
                               (0.25, -1.0, 'eps'),
                               (jnp.nan, 1e-5, 'threshold')):
    error, _ = checked(tx.init(params), threshold, eps)
    assert error.get().startswith(f'{name} must be >= 0.0 and finite')
  # Unchecked, a negative traced threshold masks every element, silently.
  unchecked = jax.jit(lambda state: tx.update(jnp.ones(2), state, params)[0])
  state = tx.init(params)
  state.hyperparams['threshold'] = jnp.asarray(-1.0)
  np.testing.assert_array_equal(unchecked(state), [0.0, 0.0])
  # Concrete values outside jit are checked at once.
  with pytest.raises(checkify.JaxRuntimeError, match='threshold must be'):
    check_hyperparams(state)
