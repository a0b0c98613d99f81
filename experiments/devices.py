"""Where runs compute: a data-parallel mesh of devices, on one or more hosts.

A run trains on a :class:`jax.sharding.Mesh` with one axis, ``'data'``: each
step's batch is split over the mesh's devices, while params, optimizer and
regularizer states and the datasets are replicated on each of them (the
models of these streams fit one device many times over). XLA sums the
gradients across devices; results match the one-device run up to the order
of floating-point sums.

Several hosts (processes) join one mesh after :func:`initialize`: every
process runs the same program on the same data and the same seeds, each
computes its devices' share of every batch, and only the primary process
(:func:`is_primary`) writes files.

Example::

  mesh = devices.make_mesh(2)  # the first 2 local devices of each process
  state = jax.device_put(state, devices.replicated(mesh))
"""

import jax
from jax.experimental import multihost_utils
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec

from experiments import errors

AXIS = 'data'


def initialize(coordinator: str | None = None,
               num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """Joins this process to a multi-process run (``jax.distributed``).

  Call it before any other JAX call. Without arguments, JAX detects the
  cluster (SLURM, Cloud TPU, ``JAX_COORDINATOR_ADDRESS`` and its siblings).
  On CPU, collectives go over gloo.

  Args:
    coordinator: ``HOST:PORT`` of process 0.
    num_processes: how many processes take part.
    process_id: this process's index, from 0.

  Raises:
    errors.UserError: if only some of the three are given.
  """
  given = [value is not None for value in (coordinator, num_processes,
                                           process_id)]
  if any(given) and not all(given):
    raise errors.UserError(
        '--coordinator, --num-processes and --process-id go together: give '
        'all three, or none to let JAX detect the cluster')
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(coordinator_address=coordinator,
                             num_processes=num_processes,
                             process_id=process_id)


def is_primary() -> bool:
  """Whether this process writes results (process 0)."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Waits until every process reaches the barrier ``name`` (one: no wait)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def make_mesh(devices: int | None = None) -> Mesh:
  """A ``'data'`` mesh of each process's first ``devices`` local devices.

  Args:
    devices: devices per process; None: all of them.

  Returns:
    The mesh, processes in order, each process's devices by id.

  Raises:
    errors.UserError: if a process has fewer devices than asked for.
  """
  available = jax.local_device_count()
  if devices is None:
    devices = available
  if not 1 <= devices <= available:
    raise errors.UserError(
        f'--devices {devices}: this process has {available} '
        f'{jax.default_backend()} device(s); choose 1 to {available}')
  chosen = []
  for process in range(jax.process_count()):
    own = sorted((d for d in jax.devices() if d.process_index == process),
                 key=lambda d: d.id)
    chosen.extend(own[:devices])
  return Mesh(chosen, (AXIS,), axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
  """A whole copy of an array on every device of the mesh."""
  return NamedSharding(mesh, PartitionSpec())


def batched(mesh: Mesh) -> NamedSharding:
  """An array split along its first axis over the mesh's devices."""
  return NamedSharding(mesh, PartitionSpec(AXIS))


def check_divisible(size: int, count: int, what: str) -> None:
  """Raises unless ``size`` splits evenly over ``count`` devices.

  Raises:
    errors.ProtocolError: naming the sizes that would.
  """
  if size % count:
    raise errors.ProtocolError(
        f'{what} {size} does not split over {count} devices; choose a '
        f'multiple of {count}, or --devices that divides {size}')
