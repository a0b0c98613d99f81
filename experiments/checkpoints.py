"""Checkpoints that let a run resume where it stopped.

A :class:`RunCheckpointer` keeps a run's last few checkpoints in a folder with
Orbax's :class:`orbax.checkpoint.CheckpointManager` (atomic writes: a
checkpoint cut short by a kill is never read back). Each holds the run's whole
state as one pytree of arrays and a JSON record of the run's progress; what
the progress says is up to the caller (:func:`experiments.training.run`).

The pytree is stored as its flat list of leaves and restored into the tree
structure of a template (``like``), so that any pytree (optax states, nnx
params, named tuples) round-trips exactly. Typed PRNG keys are stored as
their raw data (:func:`jax.random.key_data`) and rewrapped with the
template's implementation.

The checkpointer also turns SIGTERM and SIGINT into a request to stop
(:attr:`RunCheckpointer.interrupted`, see :meth:`catching_signals`): the run
finishes its step, saves and raises :class:`experiments.errors.Interrupted`.
"""

from collections.abc import Callable, Iterator, Mapping
import contextlib
import json
from pathlib import Path
import signal
import threading
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from experiments import errors

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _is_key(leaf: Any) -> bool:
  return jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _stored(leaf: Any) -> Any:
  """A leaf as saved: raw data for a typed PRNG key."""
  return jax.random.key_data(leaf) if _is_key(leaf) else leaf


def _target(leaf: Any) -> np.ndarray:
  """The host array a leaf of the template is restored into."""
  stored = jax.eval_shape(jax.random.key_data, leaf) if _is_key(leaf) else leaf
  return np.empty(stored.shape, stored.dtype)


def _signature(leaves: list[Any]) -> list[list[Any]]:
  """Shapes and dtypes of the stored leaves (JSON)."""
  return [[list(leaf.shape), str(leaf.dtype)] for leaf in leaves]


class RunCheckpointer:
  """The last checkpoints of one run, in one folder.

  Args:
    directory: the run's checkpoint folder (created when missing).
    every_steps: also save every this many training steps (None: only where
      the run saves of itself, e.g. at task ends).
    keep: how many of the newest checkpoints are kept.

  Raises:
    ValueError: if ``every_steps`` or ``keep`` is below 1.
  """

  def __init__(self, directory: str | Path, *, every_steps: int | None = None,
               keep: int = 2):
    if every_steps is not None and every_steps < 1:
      raise ValueError(f'every_steps must be >= 1, got {every_steps}')
    if keep < 1:
      raise ValueError(f'keep must be >= 1, got {keep}')
    self.directory = Path(directory).absolute()
    self.every_steps = every_steps
    self.keep = keep
    self.interrupted: str | None = None  # the name of the signal received
    self._manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, cleanup_tmp_directories=True,
            enable_async_checkpointing=False))

  def steps(self) -> list[int]:
    """The numbers of the kept checkpoints, oldest first (0, 1, ...)."""
    return sorted(self._manager.all_steps())

  def due(self, step: int) -> bool:
    """Whether to save after training step ``step`` (counted from 1).

    Args:
      step: training steps taken in the run.

    Returns:
      True every ``every_steps`` steps, and after a signal.
    """
    return self.interrupted is not None or (
        self.every_steps is not None and step % self.every_steps == 0)

  def save(self, state: Any, progress: Mapping[str, Any]) -> None:
    """Saves a checkpoint (synchronously) and drops those beyond ``keep``.

    Args:
      state: a pytree of arrays.
      progress: a JSON-able record of where the run is.
    """
    leaves = [_stored(leaf) for leaf in jax.tree.leaves(state)]
    latest = self._manager.latest_step()
    self._manager.save(
        0 if latest is None else latest + 1,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(
                {f'{i:05d}': leaf for i, leaf in enumerate(leaves)}),
            progress=ocp.args.JsonSave(
                {'progress': progress, 'leaves': _signature(leaves)})))

  def latest(
      self, like: Any | Callable[[Mapping[str, Any]], Any],
      place: Callable[[Any], Any] | None = None,
  ) -> tuple[Any, dict[str, Any]] | None:
    """The newest checkpoint, restored into the structure of ``like``.

    Arrays are read to the host whole, then placed: a checkpoint saved on
    any devices restores on any others.

    Args:
      like: a template of the state (e.g. a freshly initialized one; leaves
        may be :class:`jax.ShapeDtypeStruct`, except PRNG keys), or a
        function from the checkpoint's progress to one, for states whose
        structure changes as the run goes.
      place: puts the restored pytree on devices (e.g.
        :meth:`experiments.training.Learner.place`); default:
        :func:`jax.device_put` on the default device.

    Returns:
      ``(state, progress)``, or None when the folder has no checkpoint.

    Raises:
      errors.UserError: if the checkpoint's arrays do not fit the template.
    """
    step = self._manager.latest_step()
    if step is None:
      return None
    record = self._manager.restore(step, args=ocp.args.Composite(
        progress=ocp.args.JsonRestore()))['progress']
    template = like(record['progress']) if callable(like) else like
    leaves, treedef = jax.tree.flatten(template)
    if _signature([_target(leaf) for leaf in leaves]) != record['leaves']:
      raise errors.UserError(
          f'the checkpoint {self.directory / str(step)} holds another '
          'model or method than this run; delete '
          f'{self.directory} or choose another checkpoint folder')
    arrays = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(
            {f'{i:05d}': _target(leaf) for i, leaf in enumerate(leaves)})))
    restored = [
        jax.random.wrap_key_data(array, impl=jax.random.key_impl(leaf))
        if _is_key(leaf) else array
        for leaf, array in zip(leaves, (arrays['state'][f'{i:05d}']
                                        for i in range(len(leaves))))]
    state = jax.tree.unflatten(treedef, restored)
    return (jax.device_put(state) if place is None else place(state),
            record['progress'])

  @contextlib.contextmanager
  def catching_signals(self) -> Iterator[None]:
    """Within it, SIGTERM and SIGINT set :attr:`interrupted` instead.

    The run checks :meth:`due` after each step, saves and stops. A second
    signal stops at once (KeyboardInterrupt). Outside the main thread (where
    Python cannot handle signals) or in a multi-process run (where a signal
    reaches one process, and a save must be every process's) it changes
    nothing: the run resumes from its last task-end or every-N-steps
    checkpoint.

    Yields:
      None.
    """
    if (threading.current_thread() is not threading.main_thread()
        or jax.process_count() > 1):
      yield
      return

    def handle(signum, unused_frame):
      if self.interrupted is not None:
        raise KeyboardInterrupt
      self.interrupted = signal.Signals(signum).name

    previous = {signum: signal.signal(signum, handle) for signum in _SIGNALS}
    try:
      yield
    finally:
      for signum, handler in previous.items():
        signal.signal(signum, handler)

  def close(self) -> None:
    """Releases the manager (waits for any write in flight)."""
    self._manager.close()


def to_json(value: Any) -> Any:
  """``value`` as plain JSON types (numpy scalars and arrays as numbers)."""

  def default(item):
    if isinstance(item, (np.ndarray, np.generic)):
      return item.tolist()
    return str(item)

  return json.loads(json.dumps(value, default=default))
