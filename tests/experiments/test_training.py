"""Tests of experiments.training on synthetic streams (no data files)."""

import chex
from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import methods
from experiments import models
from experiments import regularizers
from experiments import streams
from experiments import training
from experiments.protocol import Protocol

PROTOCOL = Protocol(model='mlp', hidden=(16,), epochs=1, batch_size=16,
                    fisher_samples=32)


def _stream(num_tasks=2, task_heads=False, n=48, seed=0):
  rng = np.random.default_rng(seed)

  def split(size, t):
    return streams.Split(
        rng.normal(size=(size, 28, 28, 1)).astype(np.float32),
        (2 * t + rng.integers(0, 2, size)).astype(np.int32),
        np.full(size, t, np.int32))

  tasks = []
  for t in range(num_tasks):
    mask = np.isin(np.arange(2 * num_tasks), [2 * t, 2 * t + 1])
    tasks.append(streams.Task(f'synthetic/{t}', split(n, t), split(20, t),
                              split(30, t), mask if task_heads else None))
  return streams.Stream('synthetic', None, 2 * num_tasks, tuple(tasks))


def _learner(num_classes=4, masks=None):
  graphdef, params = nnx.split(
      models.make_model('mlp', num_classes, seed=0, hidden=(16,)), nnx.Param)
  masks = np.ones((1, num_classes), bool) if masks is None else masks
  optimizer, regularizer = methods.build(methods.parse_method('sgd'),
                                         {'learning_rate': 0.1})
  return training.Learner(graphdef, optimizer, regularizer, masks), params


def test_accuracy_in_padded_batches_equals_a_direct_count():
  learner, params = _learner()
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(1234, 28, 28, 1)), jnp.float32)
  y = jnp.asarray(rng.integers(0, 4, 1234), jnp.int32)
  task = jnp.zeros(1234, jnp.int32)
  direct = np.mean(np.argmax(learner.logits(params, x, task), -1) == y)
  assert learner.accuracy(params, streams.Split(x, y, task)) == (
      pytest.approx(direct))


def test_predictions_stay_in_the_task_heads():
  masks = np.array([[True, True, False, False], [False, False, True, True]])
  learner, params = _learner(masks=masks)
  x = jnp.asarray(np.random.default_rng(2).normal(size=(64, 28, 28, 1)),
                  jnp.float32)
  for t, allowed in enumerate(([0, 1], [2, 3])):
    predictions = np.argmax(
        learner.logits(params, x, jnp.full(64, t, jnp.int32)), -1)
    assert set(predictions.tolist()) <= set(allowed)


def test_task_data_output_zeroes_other_heads_and_loss_is_finite():
  masks = np.array([[True, True, False, False], [False, False, True, True]])
  learner, params = _learner(masks=masks)
  x = jnp.ones((28, 28, 1))
  task_data = learner.task_data(x[None], jnp.array([3]), task=1)
  output = task_data.example_output(params, x)
  assert output[0] == 0.0 and output[1] == 0.0
  grads = jax.grad(task_data.example_loss)(params, x, jnp.array(3))
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  fisher = regularizers.empirical_fisher(params, task_data)
  assert all(np.all(np.isfinite(f)) for f in jax.tree.leaves(fisher))


@pytest.mark.parametrize('method', ['classp', 'ewc', 'si', 'joint'])
def test_run_records_a_matrix_per_task_or_one_row_for_joint(method):
  stream = _stream(num_tasks=3, task_heads=True)
  hyperparams = {
      'classp': {'learning_rate': 0.01, 'threshold': 1e-6},
      'ewc': {'base': 'sgd', 'learning_rate': 0.01, 'strength': 1.0},
      'si': {'base': 'adam', 'learning_rate': 1e-3, 'strength': 0.1},
      'joint': {'learning_rate': 1e-3},
  }[method]
  result = training.run(stream, methods.parse_method(method), hyperparams,
                        PROTOCOL, seed=0, progress=False)
  rows = 1 if method == 'joint' else 3
  assert result.test_acc.shape == (rows, 3)
  assert result.val_acc.shape == (rows, 3)
  assert np.all((0 <= result.test_acc) & (result.test_acc <= 1))
  if method == 'classp':
    assert result.state_bytes == result.param_bytes
    assert len(result.diagnostics['capacity_used']) == 3
  if method == 'ewc':  # one (Fisher, anchor) pair per finished task
    assert result.state_bytes == 2 * 3 * result.param_bytes


def test_per_task_hyperparameters_switch_on_one_state():
  stream = _stream(num_tasks=2)
  spec = methods.parse_method('classp')
  hyperparams = {'learning_rate': 0.01, 'threshold': 0.5,
                 'apply_scaling': False}
  switch = ({'threshold': 0.5, 'apply_scaling': False},
            {'threshold': 0.0, 'apply_scaling': True})
  result = training.run(stream, spec, hyperparams, PROTOCOL, seed=0,
                        task_hyperparams=switch, progress=False)
  # Task 1 at threshold 0.5 leaves most weights untouched; task 2 at 0 not.
  used = result.diagnostics['capacity_used']
  assert used[0] < 0.5 < used[1]
  with pytest.raises(ValueError, match='task_hyperparams has 1 entries'):
    training.run(stream, spec, hyperparams, PROTOCOL, seed=0,
                 task_hyperparams=switch[:1], progress=False)


# A hand-written loop, independent of training.py, that the run must match:
# the same batches (dataset order), the same consolidation subsets.
_IN_ORDER = Protocol(model='mlp', hidden=(16,), epochs=1, batch_size=16,
                     shuffle=False, fisher_samples=40)


def _hand_run(stream, optimizer, regularizer, seed=0):
  """States (opt_state, reg_state) after each task, by a plain loop."""
  graphdef, params = nnx.split(
      models.make_model('mlp', stream.num_classes, seed=seed, hidden=(16,)),
      nnx.Param)

  def example_logits(params, x, mask):
    logits = nnx.merge(graphdef, params)(x[None])[0]
    return jnp.where(mask, logits, jnp.finfo(logits.dtype).min / 2)

  def example_loss(mask):
    def loss(params, x, y):
      return optax.losses.softmax_cross_entropy_with_integer_labels(
          example_logits(params, x, mask), y)
    return loss

  def batch_loss(params, x, y, mask):
    return jnp.mean(jax.vmap(example_loss(mask), (None, 0, 0))(params, x, y))

  opt_state, reg_state = optimizer.init(params), regularizer.init(params)
  rng = np.random.default_rng(seed)
  states = []
  for task in stream.tasks:
    mask = (np.ones(stream.num_classes, bool) if task.logit_mask is None
            else task.logit_mask)
    n = len(task.train.y)
    for start in range(0, n - n % 16, 16):
      x, y = task.train.x[start:start + 16], task.train.y[start:start + 16]
      grads = jax.grad(batch_loss)(params, x, y, mask)
      total = jax.tree.map(
          lambda g, r: g + r, grads,
          jax.grad(regularizer.penalty)(params, reg_state))
      updates, opt_state = optimizer.update(total, opt_state, params)
      new_params = optax.apply_updates(params, updates)
      reg_state = regularizer.after_step(reg_state, params, new_params, grads)
      params = new_params
    subset = rng.permutation(n)[:_IN_ORDER.fisher_samples]
    reg_state = regularizer.end_task(reg_state, params, regularizers.TaskData(
        task.train.x[subset], task.train.y[subset], example_loss(mask),
        lambda p, x, mask=mask: jnp.where(
            mask, nnx.merge(graphdef, p)(x[None])[0], 0.0)))
    states.append((opt_state, reg_state))
  return states


@pytest.mark.parametrize('method, hyperparams, task_heads', [
    # CLASSP's accumulator must carry across tasks (never reset).
    ('classp', {'learning_rate': 0.05, 'threshold': 1e-6}, False),
    # SI's path integral takes the loss gradient, not the penalty's.
    ('si', {'base': 'sgd', 'learning_rate': 0.05, 'strength': 1.0}, False),
    # EWC's Fisher at each task end uses that task's heads.
    ('ewc', {'base': 'sgd', 'learning_rate': 0.05, 'strength': 10.0}, True),
])
def test_run_carries_the_state_a_hand_written_loop_carries(
    method, hyperparams, task_heads):
  stream = _stream(num_tasks=3, task_heads=task_heads)
  spec = methods.parse_method(method)
  captured = []
  result = training.run(stream, spec, hyperparams, _IN_ORDER, seed=0,
                        progress=False,
                        on_task_end=lambda i, s: captured.append(s))
  expected = _hand_run(stream, *methods.build(spec, hyperparams))
  assert len(captured) == len(expected) == 3
  for state, (opt_state, reg_state) in zip(captured, expected):
    chex.assert_trees_all_close(state.opt_state, opt_state, rtol=1e-5,
                                atol=1e-7)
    chex.assert_trees_all_close(state.reg_state, reg_state, rtol=1e-5,
                                atol=1e-7)
  if method == 'classp':  # the accumulator only grows, task after task
    mean = result.diagnostics['mean_accumulator']
    assert mean[0] < mean[1] < mean[2]


def test_a_diverging_run_stops_and_says_where():
  stream = _stream(num_tasks=3)
  # Task 0 has no penalty. In task 1, lambda 1e30 blows the weights up: step
  # 0 starts at the anchor (the penalty's gradient is 0), step 1 makes them
  # huge, step 2 infinite. The loss, computed before each update, only turns
  # non-finite at step 3, so the weights must be checked too.
  result = training.run(
      stream, methods.parse_method('ewc'),
      {'base': 'sgd', 'learning_rate': 0.1, 'strength': 1e30}, _IN_ORDER,
      seed=0, progress=False)
  assert result.diverged == {'task': 1, 'step': 2}
  assert result.test_acc.shape == (1, 3)  # only the finished task's row
  finished = training.run(stream, methods.parse_method('sgd'),
                          {'learning_rate': 0.1}, _IN_ORDER, seed=0,
                          progress=False)
  assert finished.diverged is None and finished.test_acc.shape == (3, 3)


def test_weights_that_stop_being_finite_count_even_when_the_loss_is_finite():
  masks = np.array([[True, True, False, False], [False, False, True, True]])
  learner, params = _learner(masks=masks)

  def poison(path, leaf):  # task 1's output weights turn infinite
    if 'head' in jax.tree_util.keystr(path) and leaf.ndim == 2:
      return leaf.at[:, 2].set(jnp.inf)
    return leaf

  state = learner.init_state(
      jax.tree_util.tree_map_with_path(poison, params), jax.random.key(0))
  rng = np.random.default_rng(3)
  split = streams.Split(
      jnp.asarray(rng.normal(size=(16, 28, 28, 1)), jnp.float32),
      jnp.asarray(rng.integers(0, 2, 16), jnp.int32),
      jnp.zeros(16, jnp.int32))
  state = learner.train_step(state, split, jnp.arange(16).reshape(1, 16), 0)
  # Task 0's loss masks those logits out and stays finite; the weights don't.
  assert np.isfinite(float(state.loss_sum))
  assert int(state.diverged_at) == 0 and int(state.step) == 1


@pytest.mark.parametrize('method, steps', [('sgd', 7 * 2), ('joint', 7 * 2)])
def test_steps_per_task_trains_exactly_that_many_steps(method, steps):
  # 48 examples per task in batches of 16: 3 steps per pass, so 7 steps are
  # two full passes and one step of a third. Joint training takes the
  # stream's total (7 per task, 2 tasks).
  stream = _stream(num_tasks=2)
  protocol = Protocol(model='mlp', hidden=(16,), epochs=50, batch_size=16,
                      fisher_samples=32, steps_per_task=7)
  captured = []
  training.run(stream, methods.parse_method(method),
               {'learning_rate': 0.1}, protocol, seed=0, progress=False,
               on_task_end=lambda i, s: captured.append(int(s.step)))
  assert captured[-1] == steps
  if method == 'sgd':
    assert captured == [7, 14]
