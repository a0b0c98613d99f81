"""Populations: runs of one method that share shapes, trained as one program.

The members of a population differ in their seed (model initialization, data
carving, data order, dropout) and in the optimizer's injected
hyperparameters (e.g. learning rates, CLASSP's threshold); they share the
method, the base optimizer, the optimizer's static arguments (CLASSP's
power) and the regularizer's hyperparameters (:func:`population_key`). Their
params, optimizer states (CLASSP's accumulator included), regularizer
states, PRNG keys and data orders carry a leading member axis; the train
step, the evaluation and the regularizer's consolidation of
:class:`experiments.training.Learner` are :func:`jax.vmap`-ed over it (each
member's state is initialized on its own), and the loop is
:func:`experiments.training.train_tasks`, the one every run goes through.

Members stay independent: each computes what its own run computes, up to
the order of floating-point sums in batched kernels and the injected
(rather than constant) hyperparameters, so results match the sequential
runs to a tolerance (tests/experiments/test_population.py states it), not
bit for bit. A member whose loss or params stop being finite is recorded as
diverged at its task and step while the others go on.

Example::

  results = population.run_population(
      [stream_of(seed) for seed in (1, 2, 3)], methods.parse_method('sgd'),
      [{'learning_rate': 0.1}] * 3, protocol, seeds=[1, 2, 3])
"""

from collections.abc import Callable, Mapping, Sequence
import dataclasses
import json
import os
import time
from typing import Any

import chex
from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import classp_optax
from experiments import devices
from experiments import methods
from experiments import metrics
from experiments import optimizers
from experiments import regularizers
from experiments import streams
from experiments import training
from experiments.protocol import Protocol

# A population may take this share of the device's memory (the rest: XLA's
# own buffers, the host's copy of the data, other processes).
MEMORY_SHARE = 0.5


def population_key(spec: methods.MethodSpec,
                   hyperparams: Mapping[str, Any]) -> str:
  """What the members of one population share (JSON): see the module doc.

  Args:
    spec: the method.
    hyperparams: one member's hyperparameters.

  Returns:
    The method, base optimizer, the optimizer's static arguments and its
    non-numeric ones (flags, names, None: kept static or not injectable),
    and the regularizer's hyperparameters.
  """
  optimizer_kwargs, regularizer_kwargs = methods.split_hyperparams(
      spec, hyperparams)
  static = optimizers.get(spec.optimizer_name(hyperparams)).static_args
  return json.dumps([spec.name, hyperparams.get('base'), regularizer_kwargs,
                     {k: v for k, v in optimizer_kwargs.items()
                      if k in static or not _numeric(v)}],
                    sort_keys=True, default=str)


def _numeric(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _floats(hyperparams: Mapping[str, Any]) -> dict[str, Any]:
  """Integer values as floats, so every member injects the same dtype."""
  return {k: float(v) if _numeric(v) else v for k, v in hyperparams.items()}


class PopulationLearner(training.Learner):
  """A :class:`experiments.training.Learner` of several runs at once.

  Every array the learner's functions take or return carries a leading
  member axis, except the data when every member trains on the same data
  (``shared_data``).

  Args:
    graphdef: the model's graph definition (the same for every member).
    optimizer: an injectable optax transformation (the members'
      hyperparameters live in their states).
    regularizer: the members' regularizer.
    logit_masks: bool [num_tasks, num_classes].
    shared_data: whether every member has the same splits.
    plain_optimizer: the optimizer as one member's own run builds it (its
      state's size is the member's).
    mesh: the devices each member's batch is split over.
  """

  def __init__(self, graphdef: nnx.GraphDef,
               optimizer: optax.GradientTransformation,
               regularizer: regularizers.Regularizer,
               logit_masks: np.ndarray, shared_data: bool,
               plain_optimizer: optax.GradientTransformation,
               mesh: jax.sharding.Mesh | None = None):
    super().__init__(graphdef, optimizer, regularizer, logit_masks, mesh)
    self.plain_optimizer = plain_optimizer
    self.shared_data = shared_data
    data = None if shared_data else 0
    self.train_step = jax.jit(
        jax.vmap(self._train_step, in_axes=(0, data, 0, None)),
        out_shardings=self._replicated)
    self.correct = jax.jit(
        jax.vmap(self._correct, in_axes=(0, data, data, data)),
        out_shardings=self._replicated)

  def place_members(self, splits: Sequence[streams.Split]) -> streams.Split:
    """One split for all (shared data), else the splits stacked."""
    if self.shared_data:
      return self.place(splits[0])
    return self.place(jax.tree.map(lambda *a: np.stack(a), *splits))

  def init_states(
      self, params: Sequence[optax.Params], keys: Sequence[chex.PRNGKey],
      member_optimizers: Sequence[optax.GradientTransformation],
  ) -> training.TrainState:
    """The members' first states, stacked.

    Args:
      params: each member's initial params.
      keys: each member's PRNG key.
      member_optimizers: each member's optimizer, built (injectable) from
        its own hyperparameters: its state holds them, and its ``init``
        applies any that only act there.
    """
    # Jitted onto the mesh: device_put cannot move arrays that span
    # processes.
    states = []
    for member_params, key, optimizer in zip(params, keys, member_optimizers):
      state = self.init_state(member_params, key)
      states.append(state._replace(opt_state=jax.jit(
          optimizer.init, out_shardings=self._replicated)(state.params)))
    return jax.jit(lambda *s: jax.tree.map(lambda *a: jnp.stack(a), *s),
                   out_shardings=self._replicated)(*states)

  def orders(self, rngs: Sequence[np.random.Generator], n: int,
             shuffle: bool, steps: int, batch_size: int) -> chex.Array:
    """Each member's epoch order, ``[members, steps, batch_size]``."""
    return self.place(np.stack([
        (rng.permutation(n) if shuffle else np.arange(n))[:steps * batch_size]
        .reshape(steps, batch_size) for rng in rngs]))

  def accuracies(self, params: optax.Params,
                 split: streams.Split) -> np.ndarray:
    return self.count_correct(params, split) / split.y.shape[-1]

  def diagnostic_values(self, diagnostic, opt_state) -> np.ndarray:
    return np.asarray(jax.vmap(diagnostic)(opt_state), np.float64)

  def diverged_at(self, state: training.TrainState) -> np.ndarray:
    return np.asarray(state.diverged_at)

  def set_hyperparams(self, state: training.TrainState,
                      values: Mapping[str, Any]) -> training.TrainState:
    """Every member's injected hyperparameters set to the same values."""
    return state._replace(opt_state=jax.vmap(
        lambda s: classp_optax.set_hyperparams(s, **values))(state.opt_state))

  def consolidate(self, state: training.TrainState, split: streams.Split,
                  task: int, num_samples: int,
                  rngs: Sequence[np.random.Generator]) -> training.TrainState:
    """Each member consolidates on its own random subset of the task."""
    n = split.y.shape[-1]
    subsets = [rng.permutation(n)[:num_samples] for rng in rngs]
    if self.shared_data:
      x = jnp.stack([split.x[s] for s in subsets])
      y = jnp.stack([split.y[s] for s in subsets])
    else:
      x = jnp.stack([split.x[m, s] for m, s in enumerate(subsets)])
      y = jnp.stack([split.y[m, s] for m, s in enumerate(subsets)])
    task_data = self.task_data(None, None, task)

    def end_task(reg_state, params, x, y):
      return self.regularizer.end_task(
          reg_state, params, dataclasses.replace(task_data, x=x, y=y))

    return state._replace(reg_state=jax.vmap(end_task)(
        state.reg_state, state.params, x, y))

  def member_bytes(self, state: training.TrainState) -> tuple[int, int]:
    """One member's bytes as its own run holds them.

    Not counting the injected hyperparameters, which a run without a
    per-task schedule keeps as constants.
    """
    member = jax.tree.map(lambda a: a[0], state)
    opt_state = jax.eval_shape(self.plain_optimizer.init, member.params)
    return (metrics.tree_bytes((opt_state, member.reg_state)),
            metrics.tree_bytes(member.params))


def max_members(per_member_bytes: int,
                device: jax.Device | None = None) -> int:
  """How many members fit :data:`MEMORY_SHARE` of a device's memory.

  Args:
    per_member_bytes: what one member needs (e.g. from :func:`run_bytes`).
    device: the device (default: the first local one); on CPU, the host's
      physical memory.

  Returns:
    At least 1.
  """
  device = device or jax.local_devices()[0]
  stats = device.memory_stats() if device.platform != 'cpu' else None
  if stats and 'bytes_limit' in stats:
    limit = stats['bytes_limit']
  else:
    limit = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
  return max(1, int(MEMORY_SHARE * limit) // max(1, per_member_bytes))


def run_bytes(stream: streams.Stream, spec: methods.MethodSpec,
              hyperparams: Mapping[str, Any], protocol: Protocol, seed: int,
              mesh: jax.sharding.Mesh | None = None) -> int:
  """What one member of a population holds on a device.

  XLA's memory analysis of the compiled step of the run on its first task
  (arguments, outputs, temporaries; a backend without the analysis: the
  arguments), plus the rest of its data (every task's splits, which a
  population of several seeds holds once per member).
  """
  learner, state = training.learner_and_state(
      stream, spec, hyperparams, protocol, seed, injectable=True,
      mesh=devices.make_mesh() if mesh is None else mesh)
  split = learner.place(stream.tasks[0].train)
  order = learner.place(np.zeros((1, protocol.batch_size), np.int32))
  analysis = learner.train_step.lower(state, split, order,
                                      0).compile().memory_analysis()
  other_data = metrics.tree_bytes(
      [(task.train, task.val, task.test) for task in stream.tasks]
  ) - metrics.tree_bytes(stream.tasks[0].train)
  if analysis is None:
    return metrics.tree_bytes((state, split)) + other_data
  return (analysis.argument_size_in_bytes + analysis.output_size_in_bytes
          + analysis.temp_size_in_bytes + other_data)


def run_population(
    member_streams: Sequence[streams.Stream],
    spec: methods.MethodSpec,
    hyperparams: Sequence[Mapping[str, Any]],
    protocol: Protocol,
    seeds: Sequence[int],
    *,
    task_hyperparams: Sequence[Mapping[str, Any]] | None = None,
    progress: bool = True,
    mesh: jax.sharding.Mesh | None = None,
    on_task_end: Callable[[int, training.TrainState], None] | None = None,
) -> list[training.RunResult]:
  """Trains the runs ``(member_streams[i], hyperparams[i], seeds[i])`` at once.

  Args:
    member_streams: each member's stream (the same tasks and shapes; one
      object for all when they train on the same data).
    spec: the method.
    hyperparams: each member's hyperparameters; they share
      :func:`population_key`.
    protocol: what every member shares.
    seeds: each member's seed.
    task_hyperparams: per-task optimizer overrides, the same for every
      member (default: the method's schedule).
    progress: show a progress bar per task.
    mesh: the devices each member's batch is split over (default: all).
    on_task_end: called with the task's index and the members' state
      (stacked) after each task.

  Returns:
    Each member's :class:`experiments.training.RunResult`; ``wall_s`` is
    the population's.

  Raises:
    ValueError: if the members differ in what they must share.
  """
  start_time = time.perf_counter()
  count = len(member_streams)
  if not count == len(hyperparams) == len(seeds):
    raise ValueError(f'{count} streams, {len(hyperparams)} hyperparameter '
                     f'sets and {len(seeds)} seeds: give one of each per '
                     'member.')
  keys = {population_key(spec, h) for h in hyperparams}
  if len(keys) > 1:
    raise ValueError(
        f'members of one population share the method, base optimizer, '
        f'static optimizer arguments and regularizer hyperparameters; got '
        f'{sorted(keys)}')
  shapes = {tuple((t.name, t.train.x.shape, t.val.x.shape, t.test.x.shape)
                  for t in s.tasks) for s in member_streams}
  if len(shapes) > 1:
    raise ValueError('members of one population train on streams of the '
                     f'same tasks and shapes; got {sorted(shapes)}')
  stream = member_streams[0]
  task_hyperparams = training.schedule(spec, stream, task_hyperparams)
  mesh = devices.make_mesh() if mesh is None else mesh
  devices.check_divisible(protocol.batch_size, mesh.size, 'the batch size')
  hyperparams = [_floats(h) for h in hyperparams]
  member_optimizers = [methods.build(spec, h, injectable=True)[0]
                       for h in hyperparams]
  regularizer = methods.build(spec, hyperparams[0])[1]
  initial = [training.initial_model(stream, protocol, seed) for seed in seeds]
  graphdef = initial[0][0]  # the same for every member
  params = [member_params for _, member_params in initial]
  # Member 0's update applies to all: each state holds its member's values.
  learner = PopulationLearner(
      graphdef, member_optimizers[0], regularizer,
      training.logit_masks(stream),
      shared_data=all(s is stream for s in member_streams),
      plain_optimizer=methods.build(
          spec, hyperparams[0], injectable=task_hyperparams is not None)[0],
      mesh=mesh)
  state = learner.init_states(
      params, [jax.random.key(seed) for seed in seeds], member_optimizers)
  records = [training.RunRecord.empty(spec, h) for h in hyperparams]
  state = training.train_tasks(
      learner, state, member_streams, spec, protocol,
      training.make_phases(member_streams, spec, protocol, learner),
      [np.random.default_rng(seed) for seed in seeds], records,
      diagnostics=training.diagnostics_of(spec, hyperparams[0]),
      task_hyperparams=task_hyperparams, progress=progress,
      on_task_end=on_task_end)
  return training.run_results(learner, state, records, start_time)
