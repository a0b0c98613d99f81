"""Throughput of whole runs: one by one or as populations, on 1 or N devices.

Part of ``python -m experiments.benchmark`` (``--throughput``), measured in
one process so that every ratio compares like with like:

* runs per hour of a protocol's real runs, trained one by one
  (:func:`experiments.training.run`) and as populations of one or more
  sizes (:func:`experiments.population.run_population`), in turn;
* training steps per second of the same step on a mesh of 1 device and of
  every device of the process (``--host-devices N`` gives a CPU N devices).

(The optimizer step's share of the machine's copy bandwidth is measured with
the step itself, in :func:`experiments.benchmark.optimizer_step_benchmark`.)
"""

from collections.abc import Mapping, Sequence
import time
from typing import Any

import jax
import numpy as np

from experiments import devices
from experiments import methods
from experiments import population
from experiments import streams
from experiments import training
from experiments.protocol import Setup


def runs_per_hour(setup: Setup, method: str, hyperparams: Mapping[str, Any],
                  sequential_seeds: Sequence[int],
                  population_sizes: Sequence[int], data_dir: str | None,
                  ) -> dict[str, Any]:
  """Runs trained one by one, then as populations of each size, on 1 device.

  Population ``n`` trains the runs of seeds ``1..n`` as one program; its
  members whose seed is also in ``sequential_seeds`` are compared with their
  runs.

  Args:
    setup: the protocol (its real sizes).
    method: a method name.
    hyperparams: its hyperparameters (every run's).
    sequential_seeds: the runs trained one by one (the baseline rate).
    population_sizes: members of each population.
    data_dir: the data folder.

  Returns:
    ``sequential_s`` (wall time of all the sequential runs, compilation
    included) and ``sequential_runs_per_hour``, how many of them diverged,
    and per population size: ``seconds``, ``runs_per_hour``, ``speedup``
    over one by one and the largest difference of an accuracy entry between
    a member and its run (None if none finished alike).
  """
  spec = methods.parse_method(method)
  mesh = devices.make_mesh(1)
  task_streams = {
      seed: setup.make_stream(seed, data_dir)
      for seed in {*sequential_seeds, *range(1, max(population_sizes) + 1)}}
  start = time.perf_counter()
  sequential = {seed: training.run(task_streams[seed], spec, hyperparams,
                                   setup.protocol, seed, progress=False,
                                   mesh=mesh)
                for seed in sequential_seeds}
  sequential_s = time.perf_counter() - start
  sequential_rate = 3600 * len(sequential) / sequential_s
  populations = []
  for size in population_sizes:
    seeds = list(range(1, size + 1))
    start = time.perf_counter()
    members = population.run_population(
        [task_streams[seed] for seed in seeds], spec, [hyperparams] * size,
        setup.protocol, seeds, progress=False, mesh=mesh)
    seconds = time.perf_counter() - start
    rate = 3600 * size / seconds
    populations.append({
        'size': size, 'seconds': seconds, 'runs_per_hour': rate,
        'speedup': rate / sequential_rate,
        # Over runs that finished alike (a diverged run keeps fewer rows).
        'max_accuracy_difference': max(
            (float(np.max(np.abs(sequential[seed].test_acc
                                 - member.test_acc)))
             for seed, member in zip(seeds, members)
             if seed in sequential
             and sequential[seed].test_acc.shape == member.test_acc.shape),
            default=None)})
  return {
      'setup': setup.key, 'method': method,
      'steps_per_run': _steps_per_run(task_streams[sequential_seeds[0]],
                                      setup),
      'sequential_runs': len(sequential), 'sequential_s': sequential_s,
      'sequential_runs_per_hour': sequential_rate,
      'diverged': sum(run.diverged is not None for run in sequential.values()),
      'populations': populations,
  }


def _steps_per_run(stream: streams.Stream, setup: Setup) -> int:
  protocol = setup.protocol
  return sum(
      protocol.steps_per_task
      or protocol.epochs_of(i) * (task.train.y.size // protocol.batch_size)
      for i, task in enumerate(stream.tasks))


def steps_per_second(setup: Setup, method: str,
                     hyperparams: Mapping[str, Any], data_dir: str | None,
                     device_counts: Sequence[int], steps: int,
                     repeats: int) -> dict[int, float]:
  """Training steps per second of one run's step on meshes of each size.

  The median over ``repeats`` of ``steps`` steps on the stream's first task
  (seed 0), after a warm-up; every mesh size is timed in each repetition.
  """
  stream = setup.make_stream(0, data_dir)
  spec = methods.parse_method(method)
  runners = {}
  for count in device_counts:
    learner, state = training.learner_and_state(
        stream, spec, hyperparams, setup.protocol, 0, injectable=False,
        mesh=devices.make_mesh(count))
    split = learner.place(stream.tasks[0].train)
    batch = setup.protocol.batch_size
    order = learner.place(np.arange(steps * batch).reshape(steps, batch)
                          % split.y.shape[0])
    runners[count] = [learner, state, split, order]
  times = {count: [] for count in device_counts}
  for repeat in range(repeats + 1):  # the first: warm-up
    for count, runner in runners.items():
      learner, state, split, order = runner
      start = time.perf_counter()
      for index in range(steps):
        state = learner.train_step(state, split, order, index)
      jax.block_until_ready(state)
      runner[1] = state
      if repeat:
        times[count].append(time.perf_counter() - start)
  return {count: steps / float(np.median(t)) for count, t in times.items()}
