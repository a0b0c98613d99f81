"""One training loop shared by every method.

A run trains one model on a stream's tasks in order with one optimizer and one
regularizer, and after each task tests the model on every task of the stream.
Each step is one jitted call, dispatched asynchronously: the host waits for
the device only a few times per epoch, to advance the progress bar. (A
``lax.fori_loop`` over steps was measured 8x slower for the CNN on XLA:CPU,
whose convolutions lose their fast path inside a while loop.)
"""

import dataclasses
import os
import platform
import time
from typing import Any, Mapping, NamedTuple, Optional, Sequence

import chex
from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree
import tqdm

import classp_optax
from experiments import methods
from experiments import metrics
from experiments import models
from experiments import regularizers
from experiments import streams

_PROGRESS_UPDATES_PER_EPOCH = 10
_EVAL_BATCH = 500


def device_name() -> str:
  """The device JAX computes on, e.g. ``'cpu (2 cores, x86_64)'``."""
  device = jax.devices()[0]
  if device.platform == 'cpu':
    return f'cpu ({os.cpu_count()} cores, {platform.machine()})'
  return f'{device.platform} ({device.device_kind})'


@dataclasses.dataclass(frozen=True)
class Protocol:
  """What every method of a stream shares: model, epochs, batches.

  Attributes:
    model: ``'mlp'`` or ``'cnn'``.
    hidden: hidden widths of the MLP.
    epochs: epochs per task (one int, or one per task).
    batch_size: examples per step.
    shuffle: shuffle each epoch (False: dataset order, as the paper's runs).
    fisher_samples: examples given to a regularizer at the end of a task.
  """
  model: str = 'mlp'
  hidden: tuple[int, ...] = (256, 256)
  epochs: int | tuple[int, ...] = 1
  batch_size: int = 64
  shuffle: bool = True
  fisher_samples: int = 1024

  def epochs_of(self, task: int) -> int:
    return self.epochs if isinstance(self.epochs, int) else self.epochs[task]


@dataclasses.dataclass
class RunResult:
  """What one run measured.

  Attributes:
    test_acc: R[i][j], test accuracy on task j after training task i
      (one row for joint training).
    val_acc: the same on the validation splits.
    state_bytes: optimizer plus regularizer state at the end.
    param_bytes: the model's parameters.
    wall_s: wall time of the run, compilation included.
    diagnostics: for CLASSP optimizers, ``capacity_used`` and
      ``mean_accumulator`` after each task.
  """
  test_acc: np.ndarray
  val_acc: np.ndarray
  state_bytes: int
  param_bytes: int
  wall_s: float
  diagnostics: dict[str, list[float]]


class TrainState(NamedTuple):
  """Everything a run carries from step to step (a pytree)."""
  params: optax.Params
  opt_state: optax.OptState
  reg_state: Any
  key: chex.PRNGKey
  loss_sum: chex.Array  # since the progress bar last read it
  correct: chex.Array
  seen: chex.Array


class Learner:
  """A model, an optimizer and a regularizer bound into jitted functions.

  Args:
    graphdef: the model's ``nnx`` graph definition.
    optimizer: any optax transformation.
    regularizer: any :class:`experiments.regularizers.Regularizer`.
    logit_masks: bool [num_tasks, num_classes]: each task's logits.
  """

  def __init__(self, graphdef: nnx.GraphDef,
               optimizer: optax.GradientTransformation,
               regularizer: regularizers.Regularizer,
               logit_masks: np.ndarray):
    self.graphdef = graphdef
    self.optimizer = optimizer
    self.regularizer = regularizer
    self.logit_masks = jnp.asarray(logit_masks)
    self.train_step = jax.jit(self._train_step)
    self.correct = jax.jit(self._correct)

  def logits(self, params: optax.Params, x: chex.Array, task: chex.Array, *,
             train: bool = False,
             key: Optional[chex.PRNGKey] = None) -> chex.Array:
    """Logits of a batch, restricted to each example's task heads."""
    model = nnx.merge(self.graphdef, params)
    return models.masked_logits(model(x, train=train, dropout_key=key),
                                self.logit_masks[task])

  def _loss(self, params, x, y, task, key):
    logits = self.logits(params, x, task, train=True, key=key)
    loss = optax.losses.softmax_cross_entropy_with_integer_labels(logits, y)
    return jnp.mean(loss), jnp.sum(jnp.argmax(logits, -1) == y)

  def _train_step(self, state: TrainState, data, order, index) -> TrainState:
    """One step on the batch ``order[index]`` of the epoch's ``data``."""
    xs, ys, tasks = data
    batch = order[index]
    key, dropout_key = jax.random.split(state.key)
    (loss, correct), grads = jax.value_and_grad(self._loss, has_aux=True)(
        state.params, xs[batch], ys[batch], tasks[batch], dropout_key)
    total = optax.tree.add(
        grads, jax.grad(self.regularizer.penalty)(state.params, state.reg_state))
    updates, opt_state = self.optimizer.update(total, state.opt_state,
                                               state.params)
    params = optax.apply_updates(state.params, updates)
    reg_state = self.regularizer.after_step(state.reg_state, state.params,
                                            params, grads)
    return TrainState(params, opt_state, reg_state, key,
                      state.loss_sum + loss, state.correct + correct,
                      state.seen + batch.shape[0])

  def _correct(self, params, x, y, task) -> chex.Array:
    return jnp.sum(jnp.argmax(self.logits(params, x, task), -1) == y)

  def accuracy(self, params: optax.Params, x: chex.Array, y: chex.Array,
               task: chex.Array) -> float:
    """Accuracy on a split, in batches of one shape (one compilation)."""
    n = x.shape[0]
    pad = -n % _EVAL_BATCH
    # Padded labels are -1: never counted as correct.
    x = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1))
    y = jnp.pad(y, (0, pad), constant_values=-1)
    task = jnp.pad(task, (0, pad))
    correct = sum(
        self.correct(params, x[i:i + _EVAL_BATCH], y[i:i + _EVAL_BATCH],
                     task[i:i + _EVAL_BATCH])
        for i in range(0, n + pad, _EVAL_BATCH))
    return float(correct) / n

  def task_data(self, x: chex.Array, y: chex.Array,
                task: int) -> regularizers.TaskData:
    """What a regularizer sees of a finished task: one example's loss/output."""
    output = _ExampleOutput(self.graphdef,
                            tuple(np.asarray(self.logit_masks[task]).tolist()))
    return regularizers.TaskData(x, y, _ExampleLoss(output), output)


@dataclasses.dataclass(frozen=True)
class _ExampleOutput:
  """One example's logits; other tasks' heads are zeroed (not -inf).

  Compared by value (graph definition and mask), so that the regularizers'
  jitted per-example gradients are compiled once per model and task heads,
  not once per task end. MAS squares this output, hence zeros.
  """
  graphdef: nnx.GraphDef
  mask: tuple[bool, ...]

  def __call__(self, params: optax.Params, x: chex.Array) -> chex.Array:
    model = nnx.merge(self.graphdef, params)
    return jnp.where(jnp.asarray(self.mask), model(x[None])[0], 0.0)


@dataclasses.dataclass(frozen=True)
class _ExampleLoss:
  """One example's cross-entropy over its task's heads."""
  output: _ExampleOutput

  def __call__(self, params: optax.Params, x: chex.Array,
               y: chex.Array) -> chex.Array:
    logits = models.masked_logits(self.output(params, x),
                                  jnp.asarray(self.output.mask))
    return optax.losses.softmax_cross_entropy_with_integer_labels(logits, y)


def _device_split(x: np.ndarray, y: np.ndarray, task: int):
  return (jnp.asarray(x), jnp.asarray(y),
          jnp.full(y.shape, task, dtype=jnp.int32))


def _train_phase(learner: Learner, state: TrainState, data, epochs: int,
                 batch_size: int, shuffle: bool, rng: np.random.Generator,
                 description: str, progress: bool) -> TrainState:
  """Trains on one task's data (or all tasks' for joint training)."""
  n = data[1].shape[0]
  steps = n // batch_size
  if steps == 0:
    raise ValueError(f'{description}: {n} examples, fewer than one batch '
                     f'of {batch_size}.')
  chunk = max(1, steps // _PROGRESS_UPDATES_PER_EPOCH)
  # disable=None: shown on a terminal only, so logs stay readable.
  with tqdm.tqdm(total=epochs * steps, desc=description, leave=False,
                 disable=None if progress else True, unit='step') as bar:
    for _ in range(epochs):
      order = rng.permutation(n) if shuffle else np.arange(n)
      order = jnp.asarray(order[:steps * batch_size].reshape(steps, batch_size))
      for start in range(0, steps, chunk):
        stop = min(start + chunk, steps)
        for index in range(start, stop):
          state = learner.train_step(state, data, order, index)
        if not bar.disable:
          loss, correct, seen = jax.device_get(
              (state.loss_sum, state.correct, state.seen))
          bar.set_postfix(loss=f'{loss / (stop - start):.3f}',
                          acc=f'{correct / seen:.3f}')
          state = state._replace(loss_sum=jnp.zeros_like(state.loss_sum),
                                 correct=jnp.zeros_like(state.correct),
                                 seen=jnp.zeros_like(state.seen))
        bar.update(stop - start)
  return state


def run(
    stream: streams.Stream,
    spec: methods.MethodSpec,
    hyperparams: Mapping[str, Any],
    protocol: Protocol,
    seed: int,
    *,
    task_hyperparams: Optional[Sequence[Mapping[str, Any]]] = None,
    progress: bool = True,
) -> RunResult:
  """Trains one method on a stream and tests it after each task.

  Args:
    stream: the tasks.
    spec: the method.
    hyperparams: its hyperparameters (see :func:`experiments.methods.build`).
    protocol: what every method of the stream shares.
    seed: model initialization, data order and dropout.
    task_hyperparams: optional per-task overrides of the optimizer's
      hyperparameters, applied at each task's start with
      :func:`classp_optax.set_hyperparams` on the same optimizer state.
    progress: show a progress bar per task.

  Returns:
    A :class:`RunResult`.
  """
  start_time = time.perf_counter()
  num_tasks = len(stream.tasks)
  if task_hyperparams is not None and len(task_hyperparams) != num_tasks:
    raise ValueError(f'task_hyperparams has {len(task_hyperparams)} entries '
                     f'for {num_tasks} tasks.')
  model = models.make_model(protocol.model, stream.num_classes, seed=seed,
                            hidden=protocol.hidden)
  graphdef, params = nnx.split(model, nnx.Param)
  optimizer, regularizer = methods.build(
      spec, hyperparams, injectable=task_hyperparams is not None)
  all_heads = np.ones(stream.num_classes, bool)
  learner = Learner(graphdef, optimizer, regularizer, np.stack([
      all_heads if t.logit_mask is None else t.logit_mask
      for t in stream.tasks]))
  state = TrainState(
      params=params, opt_state=optimizer.init(params),
      reg_state=regularizer.init(params), key=jax.random.key(seed),
      loss_sum=jnp.zeros(()), correct=jnp.zeros((), jnp.int32),
      seen=jnp.zeros((), jnp.int32))
  rng = np.random.default_rng(seed)
  tests = [_device_split(t.test_x, t.test_y, i)
           for i, t in enumerate(stream.tasks)]
  vals = [_device_split(t.val_x, t.val_y, i)
          for i, t in enumerate(stream.tasks)]
  trains = [_device_split(t.train_x, t.train_y, i)
            for i, t in enumerate(stream.tasks)]
  if spec.joint:
    phases = [('all tasks', tuple(jnp.concatenate(a) for a in zip(*trains)))]
  else:
    phases = [(t.name, data) for t, data in zip(stream.tasks, trains)]

  test_rows, val_rows = [], []
  diagnostics = {'capacity_used': [], 'mean_accumulator': []}
  for index, (name, data) in enumerate(phases):
    if task_hyperparams is not None:
      state = state._replace(opt_state=classp_optax.set_hyperparams(
          state.opt_state, **task_hyperparams[index]))
    # Joint training always shuffles: all tasks' examples are mixed.
    state = _train_phase(
        learner, state, data, protocol.epochs_of(index), protocol.batch_size,
        protocol.shuffle or spec.joint, rng, f'{spec.name} {name}', progress)
    if not spec.joint:
      subset = rng.permutation(data[1].shape[0])[:protocol.fisher_samples]
      state = state._replace(reg_state=regularizer.end_task(
          state.reg_state, state.params,
          learner.task_data(data[0][subset], data[1][subset], index)))
    test_rows.append([learner.accuracy(state.params, *d) for d in tests])
    val_rows.append([learner.accuracy(state.params, *d) for d in vals])
    if spec.uses_classp:
      diagnostics['capacity_used'].append(
          float(classp_optax.capacity_used(state.opt_state)))
      diagnostics['mean_accumulator'].append(
          float(classp_optax.mean_accumulator(state.opt_state)))

  return RunResult(
      test_acc=np.array(test_rows), val_acc=np.array(val_rows),
      state_bytes=metrics.tree_bytes((state.opt_state, state.reg_state)),
      param_bytes=metrics.tree_bytes(state.params),
      wall_s=time.perf_counter() - start_time,
      diagnostics=diagnostics if spec.uses_classp else {})
