"""One training loop shared by every method.

A run trains one model on a stream's tasks in order with one optimizer and one
regularizer, and after each task tests the model on every task of the stream.
A run whose loss or params stop being finite is stopped and recorded as
diverged (task and step), never scored.
Each step is one jitted call, dispatched asynchronously: the host waits for
the device only a few times per epoch, to advance the progress bar. (A
``lax.fori_loop`` over steps was measured 8x slower for the CNN on XLA:CPU,
whose convolutions lose their fast path inside a while loop.)
A run computes on a data-parallel mesh (:mod:`experiments.devices`): by
default every local device of every process, each step's batch split over
them.
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
from experiments import devices
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
    devices: how many devices each step's batch was split over.
  """
  test_acc: np.ndarray
  val_acc: np.ndarray
  state_bytes: int
  param_bytes: int
  wall_s: float
  diagnostics: dict[str, list[float]]
  diverged: dict[str, int] | None = None
  devices: int = 1


class TrainState(NamedTuple):
  """Everything a run carries from step to step (a pytree).

  Build it with :meth:`Learner.init_state`.
  """
  params: optax.Params
  opt_state: optax.OptState
  reg_state: Any
  key: chex.PRNGKey
  loss_sum: chex.Array  # sums over the run's steps (the progress bar's)
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
    mesh: the devices each batch is split over
      (:func:`experiments.devices.make_mesh`); default: all of them. Arrays
      the learner's functions take are placed with :meth:`place`.
  """

  def __init__(self, graphdef: nnx.GraphDef,
               optimizer: optax.GradientTransformation,
               regularizer: regularizers.Regularizer,
               logit_masks: np.ndarray,
               mesh: jax.sharding.Mesh | None = None):
    self.graphdef = graphdef
    self.optimizer = optimizer
    self.regularizer = regularizer
    self.mesh = devices.make_mesh() if mesh is None else mesh
    self._replicated = devices.replicated(self.mesh)
    self._batched = devices.batched(self.mesh)
    self.logit_masks = self.place(logit_masks)
    self.train_step = jax.jit(self._train_step,
                              out_shardings=self._replicated)
    self.correct = jax.jit(self._correct, out_shardings=self._replicated)
    # The evaluation batch: about 500 examples, split evenly over the mesh.
    self.eval_batch = -(-_EVAL_BATCH // self.mesh.size) * self.mesh.size

  def place(self, tree: Any) -> Any:
    """A pytree of arrays, copied whole onto every device of the mesh."""
    return jax.device_put(tree, self._replicated)

  def place_members(self, splits: Sequence[streams.Split]) -> streams.Split:
    """The runs' splits of one task, placed as the train step takes them."""
    (split,) = splits
    return self.place(split)

  def init_state(self, params: optax.Params, key: chex.PRNGKey) -> TrainState:
    """The state before the first step: fresh optimizer and regularizer."""
    # Through the host, so that arrays of any device (or process) fit.
    params, key_data = self.place(
        jax.device_get((params, jax.random.key_data(key))))
    impl = jax.random.key_impl(key)

    def init(params, key_data):
      return TrainState(
          params=params, opt_state=self.optimizer.init(params),
          reg_state=self.regularizer.init(params),
          key=jax.random.wrap_key_data(key_data, impl=impl),
          loss_sum=jnp.zeros(()), correct=jnp.zeros((), jnp.int32),
          seen=jnp.zeros((), jnp.int32), step=jnp.zeros((), jnp.int32),
          diverged_at=jnp.full((), -1, jnp.int32))

    return jax.jit(init, out_shardings=self._replicated)(params, key_data)

  def _split_batch(self, *arrays: chex.Array) -> tuple[chex.Array, ...]:
    """The arrays of a batch, each split over the mesh along its examples."""
    return tuple(jax.lax.with_sharding_constraint(a, self._batched)
                 for a in arrays)

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
    x, y, task = self._split_batch(split.x[batch], split.y[batch],
                                   split.task[batch])
    (loss, correct), grads = jax.value_and_grad(self._loss, has_aux=True)(
        state.params, x, y, task, dropout_key)
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
    x, y, task = self._split_batch(x, y, task)
    return jnp.sum(jnp.argmax(self.logits(params, x, task), -1) == y)

  def accuracy(self, params: optax.Params, split: streams.Split) -> float:
    """Accuracy on a split, in batches of one shape (one compilation)."""
    return float(self.count_correct(params, split)) / split.y.shape[-1]

  def count_correct(self, params: optax.Params,
                    split: streams.Split) -> np.ndarray:
    """Correct predictions on a split (its examples on its last label axis).

    Counted in batches of one shape (one compilation); padded labels are -1,
    never counted as correct.
    """
    axis = split.y.ndim - 1  # 0, or 1 for one split per run
    n = split.y.shape[axis]
    size = self.eval_batch
    pad = -n % size

    def padded(array, value=0):
      width = [(0, 0)] * array.ndim
      width[axis] = (0, pad)
      return jnp.pad(array, width, constant_values=value)

    x, y, task = padded(split.x), padded(split.y, -1), padded(split.task)
    return np.asarray(sum(
        self.correct(params, *(jax.lax.slice_in_dim(a, i, i + size, axis=axis)
                               for a in (x, y, task)))
        for i in range(0, n + pad, size)))

  def task_data(self, x: chex.Array, y: chex.Array,
                task: int) -> regularizers.TaskData:
    """What a regularizer sees of a finished task: one example's loss/output."""
    output = _ExampleOutput(self.graphdef,
                            tuple(np.asarray(self.logit_masks[task]).tolist()))
    return regularizers.TaskData(x, y, _ExampleLoss(output), output)

  # What the shared loop (:func:`train_tasks`) asks of the runs it trains,
  # one value per run: here one run; a population learner overrides these.

  def orders(self, rngs: Sequence[np.random.Generator], n: int,
             shuffle: bool, steps: int, batch_size: int) -> chex.Array:
    """An epoch's batches of example indices, ``[steps, batch_size]``."""
    (rng,) = rngs
    order = rng.permutation(n) if shuffle else np.arange(n)
    return self.place(order[:steps * batch_size].reshape(steps, batch_size))

  def accuracies(self, params: optax.Params,
                 split: streams.Split) -> np.ndarray:
    """Each run's accuracy on a split, ``[runs]``."""
    return np.array([self.accuracy(params, split)])

  def diagnostic_values(self, diagnostic: Callable[[optax.OptState], Any],
                        opt_state: optax.OptState) -> np.ndarray:
    """Each run's value of an optimizer diagnostic, ``[runs]``."""
    return np.array([float(diagnostic(opt_state))])

  def diverged_at(self, state: TrainState) -> np.ndarray:
    """Each run's first non-finite step, or -1, ``[runs]``."""
    return np.atleast_1d(np.asarray(state.diverged_at))

  def set_hyperparams(self, state: TrainState,
                      values: Mapping[str, Any]) -> TrainState:
    """The state with the optimizer's injected hyperparameters replaced."""
    return state._replace(opt_state=classp_optax.set_hyperparams(
        state.opt_state, **values))

  def consolidate(self, state: TrainState, split: streams.Split, task: int,
                  num_samples: int,
                  rngs: Sequence[np.random.Generator]) -> TrainState:
    """Ends a task: the regularizer consolidates on a random subset of it."""
    (rng,) = rngs
    subset = rng.permutation(split.y.shape[0])[:num_samples]
    return state._replace(reg_state=self.regularizer.end_task(
        state.reg_state, state.params,
        self.task_data(split.x[subset], split.y[subset], task)))

  def member_bytes(self, state: TrainState) -> tuple[int, int]:
    """One run's optimizer plus regularizer state, and params, in bytes."""
    return (metrics.tree_bytes((state.opt_state, state.reg_state)),
            metrics.tree_bytes(state.params))


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


def make_phases(member_streams: Sequence[streams.Stream],
                spec: methods.MethodSpec, protocol: Protocol,
                learner: Learner) -> list[Phase]:
  """One phase per task, or one on all tasks' data for joint training.

  Each phase holds every run's split (``member_streams``: one stream per run
  of the learner). Joint training with ``protocol.steps_per_task`` takes as
  many steps as the whole stream.
  """
  tasks = [stream.tasks for stream in member_streams]
  steps = protocol.steps_per_task
  if spec.joint:
    # Joint training always shuffles: all tasks' examples are mixed.
    return [Phase('all tasks', learner.place_members([
        jax.tree.map(lambda *a: np.concatenate(a), *(t.train for t in own))
        for own in tasks]),
                  protocol.epochs_of(0), shuffle=True,
                  steps=None if steps is None else steps * len(tasks[0]))]
  return [Phase(task.name,
                learner.place_members([own[index].train for own in tasks]),
                protocol.epochs_of(index), protocol.shuffle, steps)
          for index, task in enumerate(tasks[0])]


def _train_phase(
    learner: Learner, state: TrainState, phase: Phase, batch_size: int,
    rngs: Sequence[np.random.Generator], progress_label: str | None, *,
    done: int = 0,
    on_step: Callable[[TrainState, int, dict[str, Any]], None] | None = None,
) -> TrainState:
  """Trains one phase; shows a progress bar unless the label is None.

  Stops early, within a tenth of an epoch of it, once every run's loss or
  params are not finite (``state.diverged_at`` records which step).

  Args:
    learner: the jitted functions.
    state: the state before the phase's step ``done``.
    phase: what to train on.
    batch_size: examples per step.
    rngs: draw each epoch's order, one per run.
    progress_label: the progress bar's label; None hides it.
    done: steps of the phase already taken (when resuming a checkpoint of
      one run): ``rngs`` must then be as they were when the order of the
      epoch of step ``done`` was drawn (the current state when ``done`` is
      0); that order is drawn again and its first steps skipped.
    on_step: called after each step with the state, the phase's steps taken
      and ``rngs[0].bit_generator.state`` as it was before the current
      epoch's order was drawn (what a resume passes back as ``done`` and
      ``rngs``).

  Returns:
    The state after the phase, or after the chunk where every run diverged.

  Raises:
    errors.ProtocolError: if the split is smaller than one batch.
  """
  n = phase.split.y.shape[-1]
  steps = n // batch_size
  if steps == 0:
    raise errors.ProtocolError(
        f'{phase.name}: {n} training examples, fewer than one batch of '
        f'{batch_size}; choose a batch size of at most {n}.')
  total = phase.epochs * steps if phase.steps is None else phase.steps
  chunk = max(1, steps // _PROGRESS_UPDATES_PER_EPOCH)
  # disable=None: shown on a terminal only, so logs stay readable; by
  # process 0 only. The bar reads the state, never changes it (every process
  # must compute alike).
  shown = progress_label is not None and devices.is_primary()
  with tqdm.tqdm(total=total, initial=done, desc=progress_label, leave=False,
                 disable=None if shown else True, unit='step') as bar:
    last = None  # the sums the bar last read
    for first in range(max(done - 1, 0) // steps * steps, total, steps):
      epoch_rng = rngs[0].bit_generator.state
      order = learner.orders(rngs, n, phase.shuffle, steps, batch_size)
      epoch_steps = min(steps, total - first)
      taken = max(done - first, 0)  # steps of this epoch before a resume
      for start in range(taken - taken % chunk, epoch_steps, chunk):
        stop = min(start + chunk, epoch_steps)
        for index in range(max(start, taken), stop):
          state = learner.train_step(state, phase.split, order, index)
          if on_step is not None:
            on_step(state, first + index + 1, epoch_rng)
        if np.all(learner.diverged_at(state) >= 0):
          return state
        if not bar.disable:
          sums = [np.sum(a) for a in jax.device_get(
              (state.loss_sum, state.correct, state.seen))]
          loss, correct, seen = (np.subtract(sums, last) if last is not None
                                 else sums)
          last = sums
          bar.set_postfix(loss=f'{loss / seen * batch_size:.3f}',
                          acc=f'{correct / max(seen, 1):.3f}')
        bar.update(stop - max(start, taken))
  return state


def logit_masks(stream: streams.Stream) -> np.ndarray:
  """Each task's logits, bool ``[num_tasks, num_classes]`` (all: no mask)."""
  all_heads = np.ones(stream.num_classes, bool)
  return np.stack([all_heads if t.logit_mask is None else t.logit_mask
                   for t in stream.tasks])


def initial_model(stream: streams.Stream, protocol: Protocol,
                  seed: int) -> tuple[nnx.GraphDef, optax.Params]:
  """The protocol's model for the stream, initialized with ``seed``."""
  return nnx.split(models.make_model(
      protocol.model, stream.num_classes, seed=seed, hidden=protocol.hidden,
      input_shape=stream.input_shape, vocab_size=stream.vocab_size),
                   nnx.Param)


def learner_and_state(
    stream: streams.Stream, spec: methods.MethodSpec,
    hyperparams: Mapping[str, Any], protocol: Protocol, seed: int,
    injectable: bool, mesh: jax.sharding.Mesh,
) -> tuple[Learner, TrainState]:
  """One run's learner and first state: model, optimizer, regularizer.

  Raises:
    errors.ProtocolError: if the batch does not split over the mesh.
  """
  devices.check_divisible(protocol.batch_size, mesh.size, 'the batch size')
  graphdef, params = initial_model(stream, protocol, seed)
  optimizer, regularizer = methods.build(spec, hyperparams,
                                         injectable=injectable)
  learner = Learner(graphdef, optimizer, regularizer, logit_masks(stream),
                    mesh)
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
               identity: dict[str, Any], record: 'RunRecord'):
    self.checkpointer = checkpointer
    self.identity = identity
    # The record's lists, which the loop appends to.
    self.results = {'test_acc': record.test_acc, 'val_acc': record.val_acc,
                    'diagnostics': record.diagnostics}

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
    mesh: jax.sharding.Mesh | None = None,
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
      (``wall_s`` apart). SIGTERM and SIGINT save and stop the run. A
      checkpoint resumes on any mesh (e.g. one saved on 8 devices on 1).
    mesh: the devices each step's batch is split over
      (:func:`experiments.devices.make_mesh`); default: every local device
      of every process. The batch size must be a multiple of its size.

  Returns:
    A :class:`RunResult`.

  Raises:
    errors.Interrupted: a signal stopped the checkpointed run (saved).
    errors.UserError: the checkpointer holds another run's checkpoint.
    errors.ProtocolError: the batch does not split over the mesh.
  """
  start_time = time.perf_counter()
  task_hyperparams = schedule(spec, stream, task_hyperparams)
  learner, state = learner_and_state(stream, spec, hyperparams, protocol, seed,
                          injectable=task_hyperparams is not None,
                          mesh=devices.make_mesh() if mesh is None else mesh)
  rng = np.random.default_rng(seed)
  phases = make_phases([stream], spec, protocol, learner)
  records = [RunRecord.empty(spec, hyperparams)]
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

    resumed = checkpointer.latest(like, learner.place)
    if resumed is not None:
      state, saved = resumed
      first_phase, done = saved['phase'], saved['done']
      rng.bit_generator.state = saved['rng']
      records = [RunRecord(saved['test_acc'], saved['val_acc'],
                           saved['diagnostics'])]
    saver = _Saver(checkpointer, identity, records[0])
  with (contextlib.nullcontext() if checkpointer is None
        else checkpointer.catching_signals()):
    state = train_tasks(
        learner, state, [stream], spec, protocol, phases, [rng], records,
        diagnostics=diagnostics_of(spec, hyperparams),
        task_hyperparams=task_hyperparams, progress=progress,
        first_phase=first_phase, done=done, saver=saver,
        on_task_end=on_task_end)
    if saver is not None:
      saver.stop_if_interrupted()
  (result,) = run_results(learner, state, records, start_time)
  return result


def schedule(
    spec: methods.MethodSpec, stream: streams.Stream,
    task_hyperparams: Sequence[Mapping[str, Any]] | None,
) -> Sequence[Mapping[str, Any]] | None:
  """The per-task hyperparameters: given, else the method's schedule."""
  if task_hyperparams is None:
    task_hyperparams = methods.task_schedule(spec, len(stream.tasks))
  if task_hyperparams is not None and len(task_hyperparams) != len(
      stream.tasks):
    raise ValueError(f'task_hyperparams has {len(task_hyperparams)} entries '
                     f'for {len(stream.tasks)} tasks.')
  return task_hyperparams


@dataclasses.dataclass
class RunRecord:
  """What one run has measured so far (see :class:`RunResult`)."""
  test_acc: list[list[float]]
  val_acc: list[list[float]]
  diagnostics: dict[str, list[float]]
  diverged: dict[str, int] | None = None

  @classmethod
  def empty(cls, spec: methods.MethodSpec,
            hyperparams: Mapping[str, Any]) -> 'RunRecord':
    return cls([], [], {name: [] for name in diagnostics_of(spec, hyperparams)})


def diagnostics_of(
    spec: methods.MethodSpec, hyperparams: Mapping[str, Any],
) -> Mapping[str, Callable[[optax.OptState], Any]]:
  return optimizers.get(spec.optimizer_name(hyperparams)).diagnostics


def train_tasks(
    learner: Learner, state: TrainState,
    member_streams: Sequence[streams.Stream], spec: methods.MethodSpec,
    protocol: Protocol, phases: Sequence[Phase],
    rngs: Sequence[np.random.Generator], records: Sequence[RunRecord], *,
    diagnostics: Mapping[str, Callable[[optax.OptState], Any]],
    task_hyperparams: Sequence[Mapping[str, Any]] | None = None,
    progress: bool = True, first_phase: int = 0, done: int = 0,
    saver: '_Saver | None' = None,
    on_task_end: Callable[[int, TrainState], None] | None = None,
) -> TrainState:
  """The loop every run goes through, for one run or a population.

  Trains the phases from ``first_phase`` (its first ``done`` steps already
  taken), and after each task consolidates the regularizer and tests every
  task; each run's results go to its record. A run whose loss or params stop
  being finite is recorded as diverged at that task and step, and keeps no
  later rows; the loop stops once every run has.

  Args:
    learner: the runs' jitted functions (one run, or a population).
    state: their state.
    member_streams: each run's stream (its test and validation splits).
    spec: the method.
    protocol: what the runs share.
    phases: from :func:`make_phases`.
    rngs: each run's generator of data orders and consolidation subsets.
    records: each run's results so far; appended to.
    diagnostics: the optimizer's diagnostics, recorded after each task.
    task_hyperparams: per-task optimizer hyperparameters (the same for
      every run), set at each phase's start.
    progress: show a progress bar per task.
    first_phase: the phase to start from.
    done: its steps already taken.
    saver: checkpoints one run as it goes.
    on_task_end: called with the task's index and the state after each
      task.

  Returns:
    The state after the last phase, or where every run diverged.

  Raises:
    ValueError: if a saver is given for several runs (a checkpoint holds
      one).
  """
  if saver is not None and len(records) != 1:
    raise ValueError(f'a saver checkpoints one run; got {len(records)}')
  tests = [learner.place_members([s.tasks[t].test for s in member_streams])
           for t in range(len(member_streams[0].tasks))]
  vals = [learner.place_members([s.tasks[t].val for s in member_streams])
          for t in range(len(member_streams[0].tasks))]
  for index in range(first_phase, len(phases)):
    phase = phases[index]
    if task_hyperparams is not None and done == 0:
      state = learner.set_hyperparams(state, task_hyperparams[index])
    first_step = int(np.atleast_1d(jax.device_get(state.step))[0]) - done
    state = _train_phase(
        learner, state, phase, protocol.batch_size, rngs,
        f'{spec.name} {phase.name}' if progress else None, done=done,
        on_step=None if saver is None
        else functools.partial(saver.after_step, index, first_step))
    done = 0
    for record, step in zip(records, learner.diverged_at(state)):
      if record.diverged is None and step >= 0:
        record.diverged = {'task': index, 'step': int(step) - first_step}
    if all(record.diverged is not None for record in records):
      break
    if not spec.joint:
      state = learner.consolidate(state, phase.split, index,
                                  protocol.fisher_samples, rngs)
    test_rows = np.stack([learner.accuracies(state.params, s) for s in tests],
                         axis=-1)
    val_rows = np.stack([learner.accuracies(state.params, s) for s in vals],
                        axis=-1)
    values = {name: learner.diagnostic_values(diagnostic, state.opt_state)
              for name, diagnostic in diagnostics.items()}
    for member, record in enumerate(records):
      if record.diverged is None:
        record.test_acc.append(test_rows[member].tolist())
        record.val_acc.append(val_rows[member].tolist())
        for name in diagnostics:
          record.diagnostics[name].append(float(values[name][member]))
    if saver is not None:
      saver.save(state, index + 1, 0, rngs[0].bit_generator.state)
    if on_task_end is not None:
      on_task_end(index, state)
  return state


def run_results(learner: Learner, state: TrainState,
             records: Sequence[RunRecord],
             start_time: float) -> list[RunResult]:
  """Each run's result; the wall time is the whole program's."""
  state_bytes, param_bytes = learner.member_bytes(state)
  wall_s = time.perf_counter() - start_time
  return [RunResult(
      test_acc=np.array(record.test_acc), val_acc=np.array(record.val_acc),
      state_bytes=state_bytes, param_bytes=param_bytes, wall_s=wall_s,
      diagnostics=record.diagnostics, diverged=record.diverged,
      devices=learner.mesh.size) for record in records]
