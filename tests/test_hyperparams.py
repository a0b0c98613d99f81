"""Tests of classp_optax.hyperparams.set_hyperparams."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

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
