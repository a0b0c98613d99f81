"""One training loop shared by every method.

A run trains one model on a stream's tasks in order with one optimizer and one
regularizer, and after each task tests the model on every task of the stream.
A run whose loss or params stop being finite is stopped and recorded as
diverged (task and step), never scored.
Each step is one jitted call, dispatched asynchronously: the host waits for
the device only a few times per epoch, to advance the progress bar. (A
``lax.fori_loop`` over steps was measured 8x slower for the CNN on XLA:CPU,
whose convolutions lose their fast path inside a while loop.)
"""

from collections.abc import Callable, Mapping, Sequence
import contextlib
import dataclasses
import functools
import os
import platform
import time
from typing import Any, NamedTuple

import chex
from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree
import tqdm

import classp_optax
from experiments import checkpoints
from experiments import errors
from experiments import methods
from experiments import metrics
from experiments import models
from experiments import optimizers
from experiments import regularizers
from experiments import streams
from experiments.protocol import Protocol

_PROGRESS_UPDATES_PER_EPOCH = 10
_EVAL_BATCH = 500


def device_name() -> str:
  """The device JAX computes on, e.g. ``'cpu (2 cores, x86_64)'``."""
  device = jax.devices()[0]
  if device.platform == 'cpu':
    return f'cpu ({os.cpu_count()} cores, {platform.machine()})'
  return f'{device.platform} ({device.device_kind})'


@dataclasses.dataclass
class RunResult:
  """What one run measured.

  Attributes:
    test_acc: R[i][j], test accuracy on task j after training task i
      (one row for joint training; only the finished tasks' rows when the
      run diverged).
    val_acc: the same on the validation splits.
    state_bytes: optimizer plus regularizer state at the end.
    param_bytes: the model's parameters.
    wall_s: wall time of the run, compilation included.
    diagnostics: the optimizer's diagnostics
      (:attr:`experiments.optimizers.Optimizer.diagnostics`, e.g. CLASSP's
      ``capacity_used``) after each task; empty when it has none.
    diverged: ``{'task': t, 'step': s}``, the first step (counted within
      task ``t``) whose loss or params were not finite, where the run
      stopped; None when it finished.
  """
  test_acc: np.ndarray
  val_acc: np.ndarray
  state_bytes: int
  param_bytes: int
  wall_s: float
  diagnostics: dict[str, list[float]]
  diverged: dict[str, int] | None = None


class TrainState(NamedTuple):
  """Everything a run carries from step to step (a pytree).

  Build it with :meth:`Learner.init_state`.
  """
  params: optax.Params
  opt_state: optax.OptState
  reg_state: Any
  key: chex.PRNGKey
  loss_sum: chex.Array  # since the progress bar last read it
  correct: chex.Array
  seen: chex.Array
  step: chex.Array  # steps taken in the run
  diverged_at: chex.Array  # the first step whose loss or params were not
  # finite, or -1


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

  def init_state(self, params: optax.Params, key: chex.PRNGKey) -> TrainState:
    """The state before the first step: fresh optimizer and regularizer."""
    return TrainState(
        params=params, opt_state=self.optimizer.init(params),
        reg_state=self.regularizer.init(params), key=key,
        loss_sum=jnp.zeros(()), correct=jnp.zeros((), jnp.int32),
        seen=jnp.zeros((), jnp.int32), step=jnp.zeros((), jnp.int32),
        diverged_at=jnp.full((), -1, jnp.int32))

  def logits(self, params: optax.Params, x: chex.Array, task: chex.Array, *,
             train: bool = False,
             key: chex.PRNGKey | None = None) -> chex.Array:
    """Logits of a batch, restricted to each example's task heads."""
    model = nnx.merge(self.graphdef, params)
    return models.masked_logits(model(x, train=train, dropout_key=key),
                                self.logit_masks[task])

  def _loss(self, params, x, y, task, key):
    logits = self.logits(params, x, task, train=True, key=key)
    loss = optax.losses.softmax_cross_entropy_with_integer_labels(logits, y)
    return jnp.mean(loss), jnp.sum(jnp.argmax(logits, -1) == y)

  def _train_step(self, state: TrainState, split: streams.Split,
                  order: chex.Array, index: chex.Array) -> TrainState:
    """One step on the batch ``order[index]`` of the epoch's ``split``."""
    batch = order[index]
    key, dropout_key = jax.random.split(state.key)
    (loss, correct), grads = jax.value_and_grad(self._loss, has_aux=True)(
        state.params, split.x[batch], split.y[batch], split.task[batch],
        dropout_key)
    penalty_grads = jax.grad(self.regularizer.penalty)(state.params,
                                                       state.reg_state)
    total = optax.tree.add(grads, penalty_grads)
    updates, opt_state = self.optimizer.update(total, state.opt_state,
                                               state.params)
    params = optax.apply_updates(state.params, updates)
    reg_state = self.regularizer.after_step(state.reg_state, state.params,
                                            params, grads)
    finite = jnp.isfinite(loss) & _all_finite(params)
    diverged_at = jnp.where((state.diverged_at < 0) & ~finite, state.step,
                            state.diverged_at)
    return TrainState(params, opt_state, reg_state, key,
                      state.loss_sum + loss, state.correct + correct,
                      state.seen + batch.shape[0], state.step + 1,
                      diverged_at)

  def _correct(self, params, x, y, task) -> chex.Array:
    return jnp.sum(jnp.argmax(self.logits(params, x, task), -1) == y)

  def accuracy(self, params: optax.Params, split: streams.Split) -> float:
    """Accuracy on a split, in batches of one shape (one compilation)."""
    n = split.y.shape[0]
    pad = -n % _EVAL_BATCH
    # Padded labels are -1: never counted as correct.
    x = jnp.pad(split.x, [(0, pad)] + [(0, 0)] * (split.x.ndim - 1))
    y = jnp.pad(split.y, (0, pad), constant_values=-1)
    task = jnp.pad(split.task, (0, pad))
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


def _all_finite(tree: Any) -> chex.Array:
  """Whether every element of every leaf is finite (a scalar bool)."""
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf))
                            for leaf in jax.tree.leaves(tree)]))


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


class Phase(NamedTuple):
  """A stretch of training on one split: a task, or all tasks (joint).

  It trains ``epochs`` passes over the split, or exactly ``steps`` steps
  when given (passes of fresh orders, the last one cut short).
  """
  name: str
  split: streams.Split  # on the device
  epochs: int
  shuffle: bool
  steps: int | None = None


def _on_device(split: streams.Split) -> streams.Split:
  return jax.tree.map(jnp.asarray, split)


def _phases(stream: streams.Stream, spec: methods.MethodSpec,
            protocol: Protocol) -> list[Phase]:
  """One phase per task, or one on all tasks' data for joint training.

  Joint training with ``protocol.steps_per_task`` takes as many steps as the
  whole stream.
  """
  trains = [_on_device(task.train) for task in stream.tasks]
  steps = protocol.steps_per_task
  if spec.joint:
    # Joint training always shuffles: all tasks' examples are mixed.
    return [Phase('all tasks', jax.tree.map(lambda *a: jnp.concatenate(a),
                                            *trains),
                  protocol.epochs_of(0), shuffle=True,
                  steps=None if steps is None else steps * len(trains))]
  return [Phase(task.name, train, protocol.epochs_of(index), protocol.shuffle,
                steps)
          for index, (task, train) in enumerate(zip(stream.tasks, trains))]


def _train_phase(
    learner: Learner, state: TrainState, phase: Phase, batch_size: int,
    rng: np.random.Generator, progress_label: str | None, *, done: int = 0,
    on_step: Callable[[TrainState, int, dict[str, Any]], None] | None = None,
) -> TrainState:
  """Trains one phase; shows a progress bar unless the label is None.

  Stops early, within a tenth of an epoch of it, once a step's loss or
  params are not finite (``state.diverged_at`` records which step).

  Args:
    learner: the jitted functions.
    state: the state before the phase's step ``done``.
    phase: what to train on.
    batch_size: examples per step.
    rng: draws each epoch's order.
    progress_label: the progress bar's label; None hides it.
    done: steps of the phase already taken (when resuming a checkpoint):
      ``rng`` must then be as it was when the order of the epoch of step
      ``done`` was drawn (the current state when ``done`` is 0); that order
      is drawn again and its first steps skipped.
    on_step: called after each step with the state, the phase's steps taken
      and ``rng.bit_generator.state`` as it was before the current epoch's
      order was drawn (what a resume passes back as ``done`` and ``rng``).

  Returns:
    The state after the phase, or after the chunk where it diverged.

  Raises:
    errors.ProtocolError: if the split is smaller than one batch.
  """
  n = phase.split.y.shape[0]
  steps = n // batch_size
  if steps == 0:
    raise errors.ProtocolError(
        f'{phase.name}: {n} training examples, fewer than one batch of '
        f'{batch_size}; choose a batch size of at most {n}.')
  total = phase.epochs * steps if phase.steps is None else phase.steps
  chunk = max(1, steps // _PROGRESS_UPDATES_PER_EPOCH)
  # disable=None: shown on a terminal only, so logs stay readable.
  with tqdm.tqdm(total=total, initial=done, desc=progress_label, leave=False,
                 disable=None if progress_label else True,
                 unit='step') as bar:
    for first in range(max(done - 1, 0) // steps * steps, total, steps):
      epoch_rng = rng.bit_generator.state
      order = rng.permutation(n) if phase.shuffle else np.arange(n)
      order = jnp.asarray(order[:steps * batch_size].reshape(steps, batch_size))
      epoch_steps = min(steps, total - first)
      taken = max(done - first, 0)  # steps of this epoch before a resume
      for start in range(taken - taken % chunk, epoch_steps, chunk):
        stop = min(start + chunk, epoch_steps)
        for index in range(max(start, taken), stop):
          state = learner.train_step(state, phase.split, order, index)
          if on_step is not None:
            on_step(state, first + index + 1, epoch_rng)
        if int(state.diverged_at) >= 0:
          return state
        if not bar.disable:
          loss, correct, seen = jax.device_get(
              (state.loss_sum, state.correct, state.seen))
          bar.set_postfix(loss=f'{loss / (stop - start):.3f}',
                          acc=f'{correct / seen:.3f}')
          state = state._replace(loss_sum=jnp.zeros_like(state.loss_sum),
                                 correct=jnp.zeros_like(state.correct),
                                 seen=jnp.zeros_like(state.seen))
        bar.update(stop - max(start, taken))
  return state


def _consolidate(learner: Learner, state: TrainState, split: streams.Split,
                 task: int, num_samples: int,
                 rng: np.random.Generator) -> TrainState:
  """Ends a task: the regularizer consolidates on a random subset of it."""
  subset = rng.permutation(split.y.shape[0])[:num_samples]
  return state._replace(reg_state=learner.regularizer.end_task(
      state.reg_state, state.params,
      learner.task_data(split.x[subset], split.y[subset], task)))


def _start(stream: streams.Stream, spec: methods.MethodSpec,
           hyperparams: Mapping[str, Any], protocol: Protocol, seed: int,
           injectable: bool) -> tuple[Learner, TrainState]:
  """The learner and its first state: model, optimizer, regularizer."""
  model = models.make_model(protocol.model, stream.num_classes, seed=seed,
                            hidden=protocol.hidden,
                            input_shape=stream.input_shape,
                            vocab_size=stream.vocab_size)
  graphdef, params = nnx.split(model, nnx.Param)
  optimizer, regularizer = methods.build(spec, hyperparams,
                                         injectable=injectable)
  all_heads = np.ones(stream.num_classes, bool)
  learner = Learner(graphdef, optimizer, regularizer, np.stack([
      all_heads if t.logit_mask is None else t.logit_mask
      for t in stream.tasks]))
  return learner, learner.init_state(params, jax.random.key(seed))


def _state_like(learner: Learner, state: TrainState, phases: Sequence[Phase],
                fisher_samples: int, tasks_ended: int) -> TrainState:
  """The shapes of the state after ``tasks_ended`` task ends.

  A regularizer's state may grow as tasks end (EWC keeps one term per task):
  its shapes are those ``end_task`` returns, task after task.
  """
  reg_state = state.reg_state
  for index in range(tasks_ended):
    split = phases[index].split
    size = min(fisher_samples, split.y.shape[0])
    reg_state = jax.eval_shape(
        functools.partial(_end_task, learner.regularizer,
                          learner.task_data(None, None, index)),
        reg_state, state.params,
        jax.ShapeDtypeStruct((size, *split.x.shape[1:]), split.x.dtype),
        jax.ShapeDtypeStruct((size,), split.y.dtype))
  return state._replace(reg_state=reg_state)


def _end_task(regularizer: regularizers.Regularizer,
              task_data: regularizers.TaskData, reg_state: Any,
              params: optax.Params, x: chex.Array, y: chex.Array) -> Any:
  return regularizer.end_task(reg_state, params,
                              dataclasses.replace(task_data, x=x, y=y))


class _Saver:
  """Saves a run's checkpoints: at task ends, every N steps, on a signal.

  A checkpoint's progress records the run it belongs to (``'run'``), the
  phase and its steps taken (``'phase'``, ``'done'``), the numpy generator's
  state from which the rest of the run's draws follow (``'rng'``, see
  :func:`_train_phase`) and the results so far.
  """

  def __init__(self, checkpointer: checkpoints.RunCheckpointer,
               identity: dict[str, Any], test_rows: list[list[float]],
               val_rows: list[list[float]],
               recorded: dict[str, list[float]]):
    self.checkpointer = checkpointer
    self.identity = identity
    self.results = {'test_acc': test_rows, 'val_acc': val_rows,
                    'diagnostics': recorded}

  def save(self, state: TrainState, phase: int, done: int,
           rng_state: dict[str, Any]) -> None:
    """Saves the run, then stops it if a signal came."""
    self.checkpointer.save(state, {'run': self.identity, 'phase': phase,
                                   'done': done, 'rng': rng_state,
                                   **self.results})
    self.stop_if_interrupted()

  def after_step(self, phase: int, first_step: int, state: TrainState,
                 done: int, rng_state: dict[str, Any]) -> None:
    """Saves when due (``first_step + done`` steps into the run)."""
    if self.checkpointer.due(first_step + done):
      self.save(state, phase, done, rng_state)

  def stop_if_interrupted(self) -> None:
    """Raises :class:`errors.Interrupted` once a signal came."""
    if self.checkpointer.interrupted is not None:
      raise errors.Interrupted(
          f'{self.checkpointer.interrupted}: the run stopped after saving '
          f'a checkpoint in {self.checkpointer.directory}; rerun the same '
          'command to resume it')


def _identity(stream: streams.Stream, spec: methods.MethodSpec,
              hyperparams: Mapping[str, Any], protocol: Protocol, seed: int,
              task_hyperparams: Sequence[Mapping[str, Any]] | None,
              ) -> dict[str, Any]:
  """What a checkpoint must have been written by to be resumed (JSON)."""
  return checkpoints.to_json({
      'stream': stream.name, 'scenario': stream.scenario,
      'tasks': [[task.name, task.train.y.shape[0]] for task in stream.tasks],
      'method': spec.name, 'hyperparams': dict(hyperparams),
      'task_hyperparams': task_hyperparams,
      'protocol': dataclasses.asdict(protocol), 'seed': seed})


def run(
    stream: streams.Stream,
    spec: methods.MethodSpec,
    hyperparams: Mapping[str, Any],
    protocol: Protocol,
    seed: int,
    *,
    task_hyperparams: Sequence[Mapping[str, Any]] | None = None,
    progress: bool = True,
    on_task_end: Callable[[int, TrainState], None] | None = None,
    checkpointer: checkpoints.RunCheckpointer | None = None,
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
      :func:`classp_optax.set_hyperparams` on the same optimizer state;
      default: the method's schedule, if a variant has one
      (:func:`experiments.methods.task_schedule`).
    progress: show a progress bar per task.
    on_task_end: called with the task's index and the state after each task
      (after the regularizer's consolidation and the checkpoint).
    checkpointer: where the run saves itself after each task and every
      ``checkpointer.every_steps`` steps, and resumes from when it holds a
      checkpoint; the result is then bit for bit the uninterrupted run's
      (``wall_s`` apart). SIGTERM and SIGINT save and stop the run.

  Returns:
    A :class:`RunResult`.

  Raises:
    errors.Interrupted: a signal stopped the checkpointed run (saved).
    errors.UserError: the checkpointer holds another run's checkpoint.
  """
  start_time = time.perf_counter()
  if task_hyperparams is None:
    task_hyperparams = methods.task_schedule(spec, len(stream.tasks))
  if task_hyperparams is not None and len(task_hyperparams) != len(
      stream.tasks):
    raise ValueError(f'task_hyperparams has {len(task_hyperparams)} entries '
                     f'for {len(stream.tasks)} tasks.')
  learner, state = _start(stream, spec, hyperparams, protocol, seed,
                          injectable=task_hyperparams is not None)
  diagnostics = optimizers.get(spec.optimizer_name(hyperparams)).diagnostics
  rng = np.random.default_rng(seed)
  tests = [_on_device(task.test) for task in stream.tasks]
  vals = [_on_device(task.val) for task in stream.tasks]
  phases = _phases(stream, spec, protocol)
  test_rows, val_rows = [], []
  recorded = {name: [] for name in diagnostics}
  diverged = None
  first_phase, done = 0, 0  # where training starts (later when resuming)
  saver = None
  if checkpointer is not None:
    identity = _identity(stream, spec, hyperparams, protocol, seed,
                         task_hyperparams)

    def like(progress: Mapping[str, Any]) -> TrainState:
      if progress['run'] != identity:
        raise errors.UserError(
            f'{checkpointer.directory} holds a checkpoint of another run '
            f'({progress["run"]}); delete it or choose another folder')
      return _state_like(learner, state, phases, protocol.fisher_samples,
                         0 if spec.joint else progress['phase'])

    resumed = checkpointer.latest(like)
    if resumed is not None:
      state, saved = resumed
      first_phase, done = saved['phase'], saved['done']
      rng.bit_generator.state = saved['rng']
      test_rows, val_rows = saved['test_acc'], saved['val_acc']
      recorded = saved['diagnostics']
    saver = _Saver(checkpointer, identity, test_rows, val_rows, recorded)
  with (contextlib.nullcontext() if checkpointer is None
        else checkpointer.catching_signals()):
    for index in range(first_phase, len(phases)):
      phase = phases[index]
      if task_hyperparams is not None and done == 0:
        state = state._replace(opt_state=classp_optax.set_hyperparams(
            state.opt_state, **task_hyperparams[index]))
      first_step = int(state.step) - done
      state = _train_phase(
          learner, state, phase, protocol.batch_size, rng,
          f'{spec.name} {phase.name}' if progress else None, done=done,
          on_step=None if saver is None
          else functools.partial(saver.after_step, index, first_step))
      done = 0
      if int(state.diverged_at) >= 0:
        diverged = {'task': index, 'step': int(state.diverged_at) - first_step}
        break
      if not spec.joint:
        state = _consolidate(learner, state, phase.split, index,
                             protocol.fisher_samples, rng)
      test_rows.append([learner.accuracy(state.params, s) for s in tests])
      val_rows.append([learner.accuracy(state.params, s) for s in vals])
      for name, diagnostic in diagnostics.items():
        recorded[name].append(float(diagnostic(state.opt_state)))
      if saver is not None:
        saver.save(state, index + 1, 0, rng.bit_generator.state)
      if on_task_end is not None:
        on_task_end(index, state)
    if saver is not None:
      saver.stop_if_interrupted()
  return RunResult(
      test_acc=np.array(test_rows), val_acc=np.array(val_rows),
      state_bytes=metrics.tree_bytes((state.opt_state, state.reg_state)),
      param_bytes=metrics.tree_bytes(state.params),
      wall_s=time.perf_counter() - start_time,
      diagnostics=recorded, diverged=diverged)
