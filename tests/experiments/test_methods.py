"""Tests of experiments.methods: names, building, search spaces, grids."""

import collections
import json

import numpy as np
import optax
import pytest

from experiments import methods
from experiments import regularizers


def test_names_come_from_the_registries():
  assert methods.OPTIMIZERS == ('classp', 'sgd', 'adam', 'adagrad')
  assert methods.REGULARIZED == ('ewc', 'online_ewc', 'si', 'mas', 'l2')
  assert methods.CORE_METHODS[-1] == 'joint'
  assert methods.METHODS == methods.CORE_METHODS + tuple(methods.VARIANTS)
  assert methods.BASE_OPTIMIZERS == ('sgd', 'adam')


@pytest.mark.parametrize('name, optimizer, regularizer, joint', [
    ('classp', 'classp', 'none', False),
    ('ewc', None, 'ewc', False),
    ('classp+si', 'classp', 'si', False),
    ('joint', 'adam', 'none', True),
])
def test_parse_method(name, optimizer, regularizer, joint):
  assert methods.parse_method(name) == methods.MethodSpec(
      name, optimizer, regularizer, joint)


@pytest.mark.parametrize('name', ['nope', 'classp+nope', 'ewc+si', 'si+'])
def test_unknown_method_lists_the_valid_names(name):
  with pytest.raises(ValueError, match="Unknown method.*'classp'"):
    methods.parse_method(name)


def _first_update(tx, params):
  grads = {'w': np.array([0.3, -2.0, 1e-4], np.float32)}
  return tx.update(grads, tx.init(params), params)[0]['w']


def test_build_routes_each_knob_to_its_owner():
  params = {'w': np.zeros(3, np.float32)}
  optimizer, regularizer = methods.build(
      methods.parse_method('online_ewc'),
      {'base': 'adam', 'learning_rate': 0.1, 'strength': 2.0, 'decay': 0.5})
  np.testing.assert_allclose(_first_update(optimizer, params),
                             _first_update(optax.adam(0.1), params))
  assert isinstance(regularizer, regularizers.Regularizer)
  optimizer, _ = methods.build(
      methods.parse_method('classp+ewc'),
      {'learning_rate': 0.1, 'threshold': 0.01, 'strength': 1.0})
  assert _first_update(optimizer, params)[2] == 0.0  # masked: g^2 < 0.01


@pytest.mark.parametrize('name, hyperparams, match', [
    ('sgd', {'learning_rate': 0.1, 'threshold': 0.1},
     r"sgd takes no \['threshold'\]"),
    ('sgd', {'learning_rate': 0.1, 'strength': 1.0}, 'strength'),
    ('ewc', {'learning_rate': 0.1, 'strength': 1.0}, "needs a 'base'"),
    ('ewc', {'base': 'sgd', 'learning_rate': 0.1}, 'strength'),
    ('classp', {'learning_rate': 0.1, 'base': 'sgd'}, 'base'),
])
def test_build_names_a_wrong_knob(name, hyperparams, match):
  with pytest.raises(ValueError, match=match):
    methods.build(methods.parse_method(name), hyperparams)


@pytest.mark.parametrize('name', methods.METHODS + ('classp+ewc',
                                                    'adagrad+online_ewc'))
def test_default_hyperparams_build(name):
  hyperparams = methods.default_hyperparams(name)
  methods.build(methods.parse_method(name), hyperparams)


def test_default_of_a_pairing_takes_the_optimizer_and_regularizer_knobs():
  assert methods.default_hyperparams('classp+online_ewc') == {
      **methods.default_hyperparams('classp'),
      'strength': 100.0, 'decay': 1.0}


def test_search_space_is_the_product_with_the_last_knob_fastest():
  space = methods.search_space(methods.parse_method('classp+online_ewc'))
  assert len(space) == 4 * 2 * 4 * 2 * 5
  assert space[0] == {'learning_rate': 0.003, 'power': 1.0, 'threshold': 0.0,
                      'decay': 0.7, 'strength': 1.0}
  assert space[1]['strength'] == 10.0 and space[5]['decay'] == 1.0
  regularized = methods.search_space(methods.parse_method('si'))
  assert [c['base'] for c in regularized[::4]] == ['sgd'] * 3 + ['adam'] * 2


@pytest.mark.parametrize('name', methods.CORE_METHODS + ('classp+ewc',))
def test_every_method_gets_the_same_budget_covering_every_knob_value(name):
  spec = methods.parse_method(name)
  grid = methods.tuning_grid(spec, 8)
  assert len(grid) == 8
  assert len({json.dumps(c, sort_keys=True) for c in grid}) == 8
  space = methods.search_space(spec)
  counts = collections.Counter(item for c in grid for item in c.items())
  for key in grid[0]:
    values = {c[key] for c in space}
    if len(values) <= 8:  # each value drawn, and about equally often
      drawn = [counts[(key, v)] for v in values]
      assert min(drawn) >= 1 and max(drawn) - min(drawn) <= 2, (key, drawn)
  assert methods.tuning_grid(spec, 8) == grid  # deterministic
