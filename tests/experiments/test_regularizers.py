"""Tests of experiments.regularizers on a linear softmax classifier."""

import functools

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import regularizers

NUM_EXAMPLES = 20
NUM_FEATURES = 4
NUM_CLASSES = 3
STRENGTH = 3.0
RTOL = 1e-5
ATOL = 1e-6


def _output(params, x):
  return x @ params['w'] + params['b']


@functools.cache
def _loss_of(output):
  """The cross-entropy loss of one example of the model ``output``."""

  def loss(params, x, y):
    return optax.softmax_cross_entropy_with_integer_labels(output(params, x), y)

  return loss


_loss = _loss_of(_output)


def _params(seed):
  kw, kb = jax.random.split(jax.random.key(seed))
  return {'w': jax.random.normal(kw, (NUM_FEATURES, NUM_CLASSES)),
          'b': jax.random.normal(kb, (NUM_CLASSES,))}


def _task_data(seed, num_examples=NUM_EXAMPLES, output=_output):
  kx, ky = jax.random.split(jax.random.key(100 + seed))
  return regularizers.TaskData(
      x=jax.random.normal(kx, (num_examples, NUM_FEATURES)),
      y=jax.random.randint(ky, (num_examples,), 0, NUM_CLASSES),
      example_loss=_loss_of(output),
      example_output=output)


def _loop_mean(scalar_fn, transform, params, data, num=None):
  """Reference: a plain Python loop over examples."""
  grads = [jax.grad(scalar_fn)(params, data.x[i], data.y[i])
           for i in range(len(data.x[:num]))]
  return jax.tree.map(lambda *g: np.mean([transform(x) for x in g], axis=0),
                      *grads)


def _loop_fisher(params, data, num=None):
  return _loop_mean(_loss, np.square, params, data, num)


def _loop_mas(params, data):
  return _loop_mean(lambda p, x, y: jnp.sum(_output(p, x) ** 2), np.abs,
                    params, data)


def _assert_trees_close(actual, expected):
  jax.tree.map(
      lambda a, e: np.testing.assert_allclose(a, e, rtol=RTOL, atol=ATOL),
      actual, expected)


def _weighted_sq(params, importance, anchor):
  return sum(np.sum(importance[k] * (params[k] - anchor[k]) ** 2)
             for k in params)


@pytest.mark.parametrize('chunk_size', [256, 20, 6, 1])
def test_fisher_equals_per_example_loop(chunk_size):
  params, data = _params(0), _task_data(0)
  reg = regularizers.ewc(STRENGTH, chunk_size=chunk_size)
  (term,) = reg.end_task(reg.init(params), params, data)
  _assert_trees_close(term.importance, _loop_fisher(params, data))
  _assert_trees_close(term.anchor, params)


def test_fisher_uses_first_num_samples():
  params, data = _params(0), _task_data(0)
  reg = regularizers.ewc(STRENGTH, num_samples=7, chunk_size=3)
  (term,) = reg.end_task(reg.init(params), params, data)
  _assert_trees_close(term.importance, _loop_fisher(params, data, num=7))


def test_ewc_keeps_one_term_per_task():
  params0, params1, params2 = _params(0), _params(1), _params(2)
  data0, data1 = _task_data(0), _task_data(1)
  reg = regularizers.ewc(STRENGTH)
  state = reg.init(params0)
  assert state == ()
  assert reg.penalty(params2, state) == 0.0
  state = reg.end_task(state, params0, data0)
  state = reg.end_task(state, params1, data1)
  assert len(state) == 2
  fisher0, fisher1 = _loop_fisher(params0, data0), _loop_fisher(params1, data1)
  _assert_trees_close(state[1].importance, fisher1)
  _assert_trees_close(state[1].anchor, params1)
  expected = STRENGTH / 2 * (_weighted_sq(params2, fisher0, params0)
                             + _weighted_sq(params2, fisher1, params1))
  np.testing.assert_allclose(reg.penalty(params2, state), expected, rtol=RTOL)


def test_online_ewc_decay_recursion():
  decay = 0.7
  params0, params1, params2 = _params(0), _params(1), _params(2)
  data0, data1 = _task_data(0), _task_data(1)
  reg = regularizers.online_ewc(STRENGTH, decay=decay)
  state = reg.init(params0)
  assert reg.penalty(params2, state) == 0.0
  state = reg.end_task(state, params0, data0)
  _assert_trees_close(state.importance, _loop_fisher(params0, data0))
  state = reg.end_task(state, params1, data1)
  fisher = jax.tree.map(lambda f0, f1: decay * f0 + f1,
                        _loop_fisher(params0, data0),
                        _loop_fisher(params1, data1))
  _assert_trees_close(state.importance, fisher)
  _assert_trees_close(state.anchor, params1)
  np.testing.assert_allclose(
      reg.penalty(params2, state),
      STRENGTH / 2 * _weighted_sq(params2, fisher, params1), rtol=RTOL)


def test_si_path_integral_and_consolidation():
  damping = 0.1
  reg = regularizers.si(STRENGTH, damping=damping)
  path = [_params(seed) for seed in range(4)]  # weights along 3 steps
  grads = [_params(10 + seed) for seed in range(3)]
  state = reg.init(path[0])
  assert reg.penalty(path[3], state) == 0.0
  for before, after, g in zip(path[:-1], path[1:], grads):
    state = reg.after_step(state, before, after, g)
  omega = {k: -sum(g[k] * (after[k] - before[k])
                   for before, after, g in zip(path[:-1], path[1:], grads))
           for k in path[0]}
  _assert_trees_close(state.omega, omega)

  state = reg.end_task(state, path[3], _task_data(0))
  importance = {k: omega[k] / ((path[3][k] - path[0][k]) ** 2 + damping)
                for k in omega}
  _assert_trees_close(state.importance, importance)
  _assert_trees_close(state.omega, jax.tree.map(np.zeros_like, omega))
  _assert_trees_close(state.anchor, path[3])
  probe = _params(20)
  np.testing.assert_allclose(
      reg.penalty(probe, state),
      STRENGTH * _weighted_sq(probe, importance, path[3]), rtol=RTOL)

  # Second task: one step, then Omega accumulates.
  state = reg.after_step(state, path[3], probe, grads[0])
  state = reg.end_task(state, probe, _task_data(1))
  importance = {
      k: importance[k] - grads[0][k] * (probe[k] - path[3][k])
      / ((probe[k] - path[3][k]) ** 2 + damping) for k in omega}
  _assert_trees_close(state.importance, importance)


def test_mas_importance_and_accumulation():
  params0, params1, params2 = _params(0), _params(1), _params(2)
  data0, data1 = _task_data(0), _task_data(1, num_examples=13)
  reg = regularizers.mas(STRENGTH, chunk_size=5)
  state = reg.init(params0)
  assert reg.penalty(params2, state) == 0.0
  state = reg.end_task(state, params0, data0)
  _assert_trees_close(state.importance, _loop_mas(params0, data0))
  state = reg.end_task(state, params1, data1)
  importance = jax.tree.map(np.add, _loop_mas(params0, data0),
                            _loop_mas(params1, data1))
  _assert_trees_close(state.importance, importance)
  _assert_trees_close(state.anchor, params1)
  np.testing.assert_allclose(
      reg.penalty(params2, state),
      STRENGTH * _weighted_sq(params2, importance, params1), rtol=RTOL)


def test_l2_anchors_to_previous_task():
  params0, params1, params2 = _params(0), _params(1), _params(2)
  reg = regularizers.l2(STRENGTH)
  state = reg.init(params0)
  assert reg.penalty(params2, state) == 0.0
  state = reg.end_task(state, params1, _task_data(0))
  _assert_trees_close(state.anchor, params1)
  ones = jax.tree.map(np.ones_like, params1)
  np.testing.assert_allclose(
      reg.penalty(params2, state),
      STRENGTH / 2 * _weighted_sq(params2, ones, params1), rtol=RTOL)


def test_none_is_zero():
  reg = regularizers.none()
  state = reg.end_task(reg.init(_params(0)), _params(1), _task_data(0))
  assert reg.penalty(_params(2), state) == 0.0


def _analytic_penalty_grad(name, params, state):
  """d penalty / d params, written out for each regularizer."""
  if name == 'none':
    return jax.tree.map(jnp.zeros_like, params)
  if name == 'l2':
    return jax.tree.map(lambda p, a: STRENGTH * (p - a), params, state.anchor)
  if name == 'ewc':
    per_task = [jax.tree.map(lambda p, f, a: STRENGTH * f * (p - a),
                             params, term.importance, term.anchor)
                for term in state]
    return jax.tree.map(lambda *g: sum(g), *per_task)
  factor = {'online_ewc': STRENGTH, 'si': 2 * STRENGTH, 'mas': 2 * STRENGTH}
  return jax.tree.map(lambda p, w, a: factor[name] * w * (p - a),
                      params, state.importance, state.anchor)


HYPERPARAMS = {
    'none': {},
    'l2': {'strength': STRENGTH},
    'ewc': {'strength': STRENGTH},
    'online_ewc': {'strength': STRENGTH, 'decay': 0.9},
    'si': {'strength': STRENGTH},
    'mas': {'strength': STRENGTH},
}


def _make(name):
  return regularizers.make_regularizer(name, **HYPERPARAMS[name])


def _two_tasks(reg, params):
  """Runs one SGD step on ||params||^2 / 2 and ends a task, twice."""
  state = reg.init(params)
  after_step = jax.jit(reg.after_step)
  for seed in range(2):
    grads = params
    new_params = jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)
    state = after_step(state, params, new_params, grads)
    params = new_params
    state = reg.end_task(state, params, _task_data(seed, output=_nested_output))
  return state


def _nested_params(seed):
  params = _params(seed)
  return {'layer': {'w': params['w']}, 'b': params['b']}


def _nested_output(params, x):
  return _output({'w': params['layer']['w'], 'b': params['b']}, x)




@pytest.mark.parametrize('name', list(regularizers.REGULARIZERS))
def test_penalty_jits_and_has_analytic_gradient(name):
  reg = _make(name)
  params = _nested_params(0)
  state = _two_tasks(reg, params)
  probe = _nested_params(3)
  penalty = jax.jit(reg.penalty)
  value = penalty(probe, state)
  assert value.shape == ()
  np.testing.assert_allclose(value, reg.penalty(probe, state), rtol=RTOL)
  if name != 'none':
    assert value > 0
  _assert_trees_close(jax.jit(jax.grad(reg.penalty))(probe, state),
                      _analytic_penalty_grad(name, probe, state))


@pytest.mark.parametrize('name', list(regularizers.REGULARIZERS))
def test_works_with_nnx_state(name):
  model = nnx.Linear(NUM_FEATURES, NUM_CLASSES, rngs=nnx.Rngs(0))
  graphdef, params = nnx.split(model, nnx.Param)

  def output(p, x):
    return nnx.merge(graphdef, p)(x)

  data = _task_data(0, output=output)
  reg = _make(name)
  state = reg.init(params)
  state = jax.jit(reg.after_step)(
      state, params, jax.tree.map(lambda p: p + 0.1, params),
      jax.tree.map(jnp.ones_like, params))
  state = reg.end_task(state, params, data)
  probe = jax.tree.map(lambda p: p - 0.2, params)
  grads = jax.jit(jax.grad(reg.penalty))(probe, state)
  assert isinstance(grads, nnx.State)
  assert np.isfinite(jax.jit(reg.penalty)(probe, state))


@pytest.mark.parametrize('name, hyperparams, match', [
    ('adam', {}, "Unknown regularizer 'adam'.*'ewc'"),
    ('ewc', {'strength': 1.0, 'lambda_': 2.0}, 'lambda_'),
    ('l2', {}, 'strength'),
    ('ewc', {'strength': -1.0}, 'strength'),
    ('online_ewc', {'strength': 1.0, 'decay': 1.5}, 'decay'),
    ('online_ewc', {'strength': 1.0, 'decay': -0.1}, 'decay'),
    ('si', {'strength': 1.0, 'damping': 0.0}, 'damping'),
    ('mas', {'strength': float('nan')}, 'strength'),
    ('ewc', {'strength': 1.0, 'num_samples': 0}, 'num_samples'),
    ('mas', {'strength': 1.0, 'chunk_size': True}, 'chunk_size'),
    ('none', {'strength': 1.0}, 'strength'),
])
def test_make_regularizer_errors(name, hyperparams, match):
  with pytest.raises(ValueError, match=match):
    regularizers.make_regularizer(name, **hyperparams)
