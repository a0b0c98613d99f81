"""Tests of experiments.optimizers."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import classp_optax
from experiments import optimizers

_FACTORIES = {'classp': classp_optax.classp, 'sgd': optax.sgd,
              'adam': optax.adam, 'adagrad': optax.adagrad}


def _updates(tx, steps=3):
  params = jnp.zeros(4)
  state = tx.init(params)
  out = []
  for step in range(steps):
    grads = jnp.array([0.5, -1.0, 1e-3, 2.0]) * (step + 1)
    updates, state = tx.update(grads, state, params)
    out.append(np.asarray(updates))
  return out


@pytest.mark.parametrize('name', list(optimizers.OPTIMIZERS))
@pytest.mark.parametrize('injectable', [False, True])
def test_make_optimizer_is_the_factory(name, injectable):
  tx = optimizers.make_optimizer(name, {'learning_rate': 0.1},
                                 injectable=injectable)
  # Injected hyperparameters are float32 arrays: Adam's bias correction then
  # rounds a little differently.
  np.testing.assert_allclose(_updates(tx), _updates(_FACTORIES[name](0.1)),
                             rtol=1e-5 if injectable else 0)


def test_injectable_classp_switches_without_recompiling():
  tx = optimizers.make_optimizer(
      'classp', {'learning_rate': 0.1, 'power': 1.0, 'threshold': 0.5,
                 'apply_scaling': False}, injectable=True)
  params = jnp.zeros(2)
  state = tx.init(params)
  assert state.hyperparams['apply_scaling'].dtype == jnp.bool_
  assert 'power' not in state.hyperparams  # static
  traces = []

  @jax.jit
  def step(state):
    traces.append(None)
    return tx.update(jnp.array([0.1, 1.0]), state, params)

  updates, _ = step(state)
  np.testing.assert_allclose(updates, [0.0, -0.1])  # masked, unscaled
  state = classp_optax.set_hyperparams(state, threshold=0.0,
                                       apply_scaling=True)
  updates, _ = step(state)
  assert updates[0] != 0.0 and len(traces) == 1


def test_an_injectable_optimizer_injects_its_default_booleans():
  tx = optimizers.make_optimizer('classp', {'learning_rate': 0.1},
                                 injectable=True)
  state = tx.init(jnp.zeros(2))
  assert state.hyperparams['apply_scaling'].dtype == jnp.bool_
  assert bool(state.hyperparams['apply_scaling'])  # the factory's default
  state = classp_optax.set_hyperparams(state, apply_scaling=False)
  updates, _ = tx.update(jnp.array([0.5, 1.0]), state)
  np.testing.assert_allclose(updates, [-0.05, -0.1])  # unscaled


@pytest.mark.parametrize('name', ['sgd', 'adam', 'adagrad'])
def test_injectable_optimizers_keep_their_static_booleans_static(name):
  # optax.sgd's and optax.adam's nesterov branch in Python: not injected.
  tx = optimizers.make_optimizer(name, {'learning_rate': 0.1},
                                 injectable=True)
  params = jnp.zeros(2)
  updates, _ = jax.jit(tx.update)(jnp.ones(2), tx.init(params), params)
  assert np.all(np.isfinite(updates))


def test_only_classp_records_diagnostics():
  assert set(optimizers.OPTIMIZERS['classp'].diagnostics) == {
      'capacity_used', 'mean_accumulator'}
  for name in ('sgd', 'adam', 'adagrad'):
    assert not optimizers.OPTIMIZERS[name].diagnostics
  tx = optimizers.make_optimizer('classp', {'learning_rate': 0.1})
  state = tx.update(jnp.array([1.0, 0.0]), tx.init(jnp.zeros(2)))[1]
  used = optimizers.OPTIMIZERS['classp'].diagnostics['capacity_used'](state)
  assert float(used) == 0.5


def test_hyperparams_are_the_factory_parameters():
  assert optimizers.OPTIMIZERS['classp'].hyperparams[:3] == (
      'learning_rate', 'threshold', 'power')
  assert 'initial_accumulator_value' in optimizers.OPTIMIZERS[
      'adagrad'].hyperparams


@pytest.mark.parametrize('name, hyperparams, match', [
    ('lion', {'learning_rate': 0.1}, "Unknown optimizer 'lion'.*'classp'"),
    ('adam', {'learning_rate': 0.1, 'threshold': 0.1},
     r"adam takes no \['threshold'\]"),
])
def test_errors_name_the_problem(name, hyperparams, match):
  with pytest.raises(ValueError, match=match):
    optimizers.make_optimizer(name, hyperparams)
