"""Continual-learning regularizers: penalties anchored to past tasks' weights.

A :class:`Regularizer` adds a penalty to the training loss. Its state is a
pytree that :attr:`Regularizer.end_task` consolidates when a task ends (and
that :attr:`Regularizer.after_step` updates after every step, for SI). Any
optimizer pairs with any regularizer::

  state = reg.init(params)
  for task in tasks:
    for batch in task:
      grads = jax.grad(task_loss)(params, batch)  # without the penalty
      total = optax.tree.add(grads, jax.grad(reg.penalty)(params, state))
      updates, opt_state = tx.update(total, opt_state, params)
      new_params = optax.apply_updates(params, updates)
      state = reg.after_step(state, params, new_params, grads)
      params = new_params
    state = reg.end_task(state, params, task_data)

Params may be any pytree of float arrays (dicts, ``flax.nnx.State``);
``penalty`` and ``after_step`` jit-compile. ``metrics.tree_bytes(state)``
reports a state's memory.

Penalties and state sizes (``strength`` is the paper's lambda or c; theta*
are the anchor weights):

* ``none``: 0; empty state.
* ``l2``: ``strength/2 * sum (theta - theta*)^2``; 1x params.
* ``ewc``: ``sum_t strength/2 * sum F_t (theta - theta*_t)^2``; 2x params per
  finished task.
* ``online_ewc``: ``strength/2 * sum F (theta - theta*)^2``; 2x params.
* ``si``: ``strength * sum Omega (theta - theta*)^2``; 3x params.
* ``mas``: ``strength * sum Omega (theta - theta*)^2``; 2x params.

Fisher information (EWC, online EWC) is the diagonal *empirical* Fisher: the
mean over examples of the squared per-example gradient of the loss at the
true labels, as in the EWC baseline of the CLASSP paper. It and MAS's
importance use the first ``num_samples`` examples of the task's
:class:`TaskData` (shuffle them beforehand for a random subset).

References:
  Kirkpatrick et al., `Overcoming catastrophic forgetting in neural networks
  <https://arxiv.org/abs/1612.00796>`_, 2017
  Schwarz et al., `Progress & Compress: A scalable framework for continual
  learning <https://arxiv.org/abs/1805.06370>`_, 2018
  Zenke et al., `Continual Learning Through Synaptic Intelligence
  <https://arxiv.org/abs/1703.04200>`_, 2017
  Aljundi et al., `Memory Aware Synapses: Learning what (not) to forget
  <https://arxiv.org/abs/1711.09601>`_, 2018
"""

from collections.abc import Callable
import dataclasses
import functools
import inspect
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

DEFAULT_NUM_SAMPLES = 1024
DEFAULT_CHUNK_SIZE = 256


@dataclasses.dataclass(frozen=True)
class TaskData:
  """What a regularizer may look at when a task ends.

  Attributes:
    x: a batch of the finished task's training inputs, shape ``[N, ...]``.
    y: their integer labels, shape ``[N]``.
    example_loss: ``(params, x, y) -> scalar``, the loss of ONE example
      (``x`` unbatched), already bound to the task (e.g. its logit mask).
    example_output: ``(params, x) -> [C]``, the model output (logits) of ONE
      example.
  """
  x: chex.Array
  y: chex.Array
  example_loss: Callable[[optax.Params, chex.Array, chex.Array], chex.Array]
  example_output: Callable[[optax.Params, chex.Array], chex.Array]


class Regularizer(NamedTuple):
  """A continual-learning penalty and the updates of its state.

  Attributes:
    init: ``params -> state``, the state before the first task.
    penalty: ``(params, state) -> scalar`` added to the loss; jittable,
      differentiable w.r.t. ``params``, 0 before the first task ends.
    after_step: ``(state, params_before, params_after, grads) -> state``,
      called after each step with the gradients of the task loss alone;
      jittable; the identity except for SI.
    end_task: ``(state, params, task_data) -> state``, consolidation with the
      weights at the end of a task.
  """
  init: Callable[[optax.Params], Any]
  penalty: Callable[[optax.Params, Any], chex.Array]
  after_step: Callable[
      [Any, optax.Params, optax.Params, optax.Updates], Any]
  end_task: Callable[[Any, optax.Params, TaskData], Any]


class L2State(NamedTuple):
  """State of :func:`l2`."""
  anchor: optax.Params  # the weights at the end of the previous task
  num_tasks: chex.Array  # finished tasks (int32); no penalty while 0


class Consolidation(NamedTuple):
  """Per-weight importance and the weights it anchors the penalty to.

  The state of :func:`online_ewc` and :func:`mas`, and one term of
  :func:`ewc`'s state.
  """
  importance: optax.Params
  anchor: optax.Params


class SIState(NamedTuple):
  """State of :func:`si`."""
  omega: optax.Params  # path integral over the current task's steps
  importance: optax.Params  # Omega, consolidated over finished tasks
  anchor: optax.Params  # weights at the end of the previous task = start


def _keep_state(state: Any, *unused_args) -> Any:
  """Returns ``state`` unchanged (a no-op ``after_step`` or ``end_task``)."""
  return state


def _sum_leaves(tree: Any) -> chex.Array:
  """Sums all elements of ``tree`` in at least float32."""
  return sum((jnp.sum(x, dtype=jnp.promote_types(x.dtype, jnp.float32))
              for x in jax.tree.leaves(tree)), jnp.zeros((), jnp.float32))


def _squared_distance(params: optax.Params, anchor: optax.Params) -> chex.Array:
  """``sum (params - anchor)^2`` over all weights."""
  return _sum_leaves(jax.tree.map(
      lambda p, a: jnp.square(p - a), params, anchor))


def _weighted_squared_distance(
    params: optax.Params, consolidation: Consolidation) -> chex.Array:
  """``sum importance * (params - anchor)^2`` over all weights."""
  return _sum_leaves(jax.tree.map(
      lambda p, w, a: w * jnp.square(p - a),
      params, consolidation.importance, consolidation.anchor))


@functools.partial(jax.jit, static_argnames=('example_scalar', 'transform'))
def _weighted_grad_sum(example_scalar, transform, params, x, y, weights):
  """``sum_i weights[i] * transform(grad example_scalar(params, x_i, y_i))``."""
  grads = jax.vmap(jax.grad(example_scalar), in_axes=(None, 0, 0))(params, x, y)
  return jax.tree.map(
      lambda g, p: jnp.tensordot(
          weights, transform(g).astype(jnp.promote_types(p.dtype, jnp.float32)),
          axes=1),
      grads, params)


def _mean_per_example_grad(
    example_scalar: Callable[[optax.Params, chex.Array, chex.Array],
                             chex.Array],
    transform: Callable[[chex.Array], chex.Array],
    params: optax.Params,
    x: chex.Array,
    y: chex.Array,
    chunk_size: int,
) -> optax.Params:
  """Mean over examples of ``transform(grad example_scalar(params, x_i, y_i))``.

  Per-example gradients are computed ``chunk_size`` examples at a time, one
  jitted call per chunk (a host loop: on XLA:CPU a ``lax.scan`` over chunks
  loses the fast convolution path), so memory is ``chunk_size`` x params
  whatever ``N``. The last chunk is filled up with repeated examples of
  weight 0, so every chunk has one shape (one compilation).

  Args:
    example_scalar: ``(params, x_i, y_i) -> scalar`` for one example.
    transform: elementwise map of each per-example gradient (e.g. square).
    params: the weights to differentiate at.
    x: inputs, ``[N, ...]``.
    y: labels, ``[N]``.
    chunk_size: examples per vectorized chunk.

  Returns:
    A pytree like ``params``, in the dtypes of ``params``.

  Raises:
    ValueError: if there are no examples.
  """
  n = x.shape[0]
  if n == 0:
    raise ValueError('The task data holds no examples.')
  chunk_size = min(chunk_size, n)
  total = None
  for start in range(0, n, chunk_size):
    index = jnp.arange(start, start + chunk_size)
    weights = (index < n).astype(jnp.float32)
    chunk_sum = _weighted_grad_sum(example_scalar, transform, params,
                                   x[index % n], y[index % n], weights)
    total = chunk_sum if total is None else optax.tree.add(total, chunk_sum)
  return jax.tree.map(lambda t, p: (t / n).astype(p.dtype), total, params)


def _first_examples(
    task_data: TaskData, num_samples: int | None
) -> tuple[chex.Array, chex.Array]:
  """The first ``num_samples`` inputs and labels (all for None)."""
  return task_data.x[:num_samples], task_data.y[:num_samples]


def empirical_fisher(
    params: optax.Params,
    task_data: TaskData,
    num_samples: int | None = DEFAULT_NUM_SAMPLES,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> optax.Params:
  """Diagonal empirical Fisher: mean squared per-example loss gradient.

  The gradients are taken at the true labels ``task_data.y`` (not at labels
  sampled from the model, which would give the true Fisher).

  Args:
    params: the weights at the end of the task.
    task_data: the finished task's examples and loss.
    num_samples: how many of the first examples to use; None for all.
    chunk_size: examples per vectorized chunk (bounds memory).

  Returns:
    A pytree like ``params``.
  """
  x, y = _first_examples(task_data, num_samples)
  return _mean_per_example_grad(
      task_data.example_loss, jnp.square, params, x, y, chunk_size=chunk_size)


@dataclasses.dataclass(frozen=True)
class _SquaredOutputNorm:
  """``(params, x, y) -> ||example_output(params, x)||^2``.

  A value-compared callable (not a ``functools.partial``, compared by
  identity), so that the jitted per-example gradients are reused across tasks
  whose ``example_output`` compares equal.
  """
  example_output: Callable[[optax.Params, chex.Array], chex.Array]

  def __call__(self, params, x, unused_y):
    return jnp.sum(jnp.square(self.example_output(params, x)))


def output_sensitivity(
    params: optax.Params,
    task_data: TaskData,
    num_samples: int | None = DEFAULT_NUM_SAMPLES,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> optax.Params:
  """MAS importance: mean over examples of ``|d ||f(x)||_2^2 / d theta|``.

  Args:
    params: the weights at the end of the task.
    task_data: the finished task's examples and model output.
    num_samples: how many of the first examples to use; None for all.
    chunk_size: examples per vectorized chunk (bounds memory).

  Returns:
    A pytree like ``params``.

  References:
    Aljundi et al., 2018 (see module docstring).
  """
  x, y = _first_examples(task_data, num_samples)
  return _mean_per_example_grad(
      _SquaredOutputNorm(task_data.example_output),
      jnp.abs, params, x, y, chunk_size=chunk_size)


def _check_range(name: str, value: chex.Numeric, *, minimum: float = 0.0,
                 inclusive: bool = True, maximum: float | None = None) -> None:
  """Raises ValueError naming ``name`` unless a concrete ``value`` is in range.

  Traced values (a factory called under ``jax.jit``) are not checked.
  """
  if isinstance(value, jax.core.Tracer):
    return
  array = np.asarray(value)
  if not (np.issubdtype(array.dtype, np.integer)
          or np.issubdtype(array.dtype, np.floating)):
    raise ValueError(f'{name} must be a real number, got {value!r}.')
  array = array.astype(np.float64)
  if not np.all(np.isfinite(array)):
    raise ValueError(f'{name} must be finite, got {value!r}.')
  if np.any(array < minimum if inclusive else array <= minimum):
    bound = '>=' if inclusive else '>'
    raise ValueError(f'{name} must be {bound} {minimum}, got {value!r}.')
  if maximum is not None and np.any(array > maximum):
    raise ValueError(f'{name} must be <= {maximum}, got {value!r}.')


def _check_sampling(num_samples: int | None, chunk_size: int) -> None:
  """Raises ValueError unless both are positive ints (or None samples)."""
  for name, value, optional in (('num_samples', num_samples, True),
                                ('chunk_size', chunk_size, False)):
    if optional and value is None:
      continue
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
        or value < 1):
      allowed = 'a positive int or None' if optional else 'a positive int'
      raise ValueError(f'{name} must be {allowed}, got {value!r}.')


def none() -> Regularizer:
  """No penalty: plain optimizers and joint training.

  Returns:
    A :class:`Regularizer` with an empty state and a zero penalty.
  """
  return Regularizer(
      init=lambda params: optax.EmptyState(),
      penalty=lambda params, state: jnp.zeros((), jnp.float32),
      after_step=_keep_state,
      end_task=_keep_state)


def l2(strength: float) -> Regularizer:
  """L2 pull towards the weights at the end of the previous task.

  Penalty ``strength/2 * sum (theta - theta*)^2``; state: 1x params.

  Args:
    strength: ``>= 0``.

  Returns:
    A :class:`Regularizer` with an :class:`L2State`.
  """
  _check_range('strength', strength)

  def penalty(params, state):
    return jnp.where(state.num_tasks > 0,
                     0.5 * strength * _squared_distance(params, state.anchor),
                     0.0)

  return Regularizer(
      init=lambda params: L2State(params, jnp.zeros((), jnp.int32)),
      penalty=penalty,
      after_step=_keep_state,
      end_task=lambda state, params, task_data: L2State(
          params, state.num_tasks + 1))


def ewc(
    strength: float,
    num_samples: int | None = DEFAULT_NUM_SAMPLES,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Regularizer:
  """Elastic weight consolidation, one penalty per finished task.

  Penalty ``sum_t strength/2 * sum F_t (theta - theta*_t)^2`` with ``F_t``
  the empirical Fisher (:func:`empirical_fisher`) and ``theta*_t`` the weights
  at the end of task ``t``. The state is a tuple of one
  :class:`Consolidation` per finished task: it grows by 2x params per task
  (and changes structure, so a jitted step retraces once per task).

  Args:
    strength: ``lambda >= 0``.
    num_samples: examples per Fisher estimate (the first ones); None for all.
    chunk_size: examples per vectorized chunk of per-example gradients.

  Returns:
    A :class:`Regularizer`.

  References:
    Kirkpatrick et al., 2017 (see module docstring).
  """
  _check_range('strength', strength)
  _check_sampling(num_samples, chunk_size)

  def penalty(params, state):
    return 0.5 * strength * sum(
        (_weighted_squared_distance(params, term) for term in state),
        jnp.zeros((), jnp.float32))

  def end_task(state, params, task_data):
    fisher = empirical_fisher(params, task_data, num_samples, chunk_size)
    return state + (Consolidation(fisher, params),)

  return Regularizer(
      init=lambda params: (),
      penalty=penalty,
      after_step=_keep_state,
      end_task=end_task)


def _running_importance(
    strength: float,
    importance_fn: Callable[..., optax.Params],
    decay: float,
    num_samples: int | None,
    chunk_size: int,
) -> Regularizer:
  """``strength * sum Omega (theta - theta*)^2``, Omega <- decay Omega + new.

  ``new = importance_fn(params, task_data, num_samples, chunk_size)``.
  """
  _check_sampling(num_samples, chunk_size)

  def end_task(state, params, task_data):
    new = importance_fn(params, task_data, num_samples, chunk_size)
    return Consolidation(
        jax.tree.map(lambda old, n: decay * old + n, state.importance, new),
        params)

  return Regularizer(
      init=lambda params: Consolidation(optax.tree.zeros_like(params), params),
      penalty=lambda params, state: strength * _weighted_squared_distance(
          params, state),
      after_step=_keep_state,
      end_task=end_task)


def online_ewc(
    strength: float,
    decay: float,
    num_samples: int | None = DEFAULT_NUM_SAMPLES,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Regularizer:
  """Online EWC: one running Fisher anchored to the latest task's weights.

  At each task end ``F <- decay * F + F_new`` (``F_new`` the empirical Fisher,
  :func:`empirical_fisher`) and ``theta* <- theta``. Penalty
  ``strength/2 * sum F (theta - theta*)^2``; state: 2x params.

  Args:
    strength: ``lambda >= 0``.
    decay: ``gamma`` in [0, 1].
    num_samples: examples per Fisher estimate (the first ones); None for all.
    chunk_size: examples per vectorized chunk of per-example gradients.

  Returns:
    A :class:`Regularizer` with a :class:`Consolidation` state.

  References:
    Schwarz et al., 2018 (see module docstring).
  """
  _check_range('strength', strength)
  _check_range('decay', decay, maximum=1.0)
  return _running_importance(0.5 * strength, empirical_fisher, decay,
                             num_samples, chunk_size)


def si(strength: float, damping: float = 0.1) -> Regularizer:
  """Synaptic intelligence: importance from each weight's path integral.

  After each step ``omega <- omega - grads * (theta_after - theta_before)``.
  At a task end ``Omega <- Omega + omega / ((theta - theta_start)^2 +
  damping)``, ``omega <- 0`` and the anchor (which is also the next task's
  start) ``<- theta``. Penalty ``strength * sum Omega (theta - anchor)^2``;
  state: 3x params.

  Args:
    strength: ``c >= 0``.
    damping: ``xi > 0``.

  Returns:
    A :class:`Regularizer` with an :class:`SIState`.

  References:
    Zenke et al., 2017 (see module docstring).
  """
  _check_range('strength', strength)
  _check_range('damping', damping, inclusive=False)

  def init(params):
    zeros = optax.tree.zeros_like(params)
    return SIState(omega=zeros, importance=zeros, anchor=params)

  def after_step(state, params_before, params_after, grads):
    omega = jax.tree.map(lambda o, g, a, b: o - g * (a - b),
                         state.omega, grads, params_after, params_before)
    return state._replace(omega=omega)

  def end_task(state, params, task_data):
    del task_data
    importance = jax.tree.map(
        lambda big, o, p, a: big + o / (jnp.square(p - a) + damping),
        state.importance, state.omega, params, state.anchor)
    return SIState(omega=optax.tree.zeros_like(params),
                   importance=importance, anchor=params)

  return Regularizer(
      init=init,
      penalty=lambda params, state: strength * _weighted_squared_distance(
          params, Consolidation(state.importance, state.anchor)),
      after_step=after_step,
      end_task=end_task)


def mas(
    strength: float,
    num_samples: int | None = DEFAULT_NUM_SAMPLES,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Regularizer:
  """Memory aware synapses: importance from the output's sensitivity.

  At each task end ``Omega <- Omega + Omega_new`` (:func:`output_sensitivity`;
  summed over tasks, like the authors' code, not averaged) and
  ``theta* <- theta``. Penalty ``strength * sum Omega (theta - theta*)^2``
  (the paper's ``lambda``, without a factor 1/2); state: 2x params.

  Args:
    strength: ``lambda >= 0``.
    num_samples: examples per importance estimate (the first ones); None for
      all.
    chunk_size: examples per vectorized chunk of per-example gradients.

  Returns:
    A :class:`Regularizer` with a :class:`Consolidation` state.

  References:
    Aljundi et al., 2018 (see module docstring).
  """
  _check_range('strength', strength)
  return _running_importance(strength, output_sensitivity, 1.0, num_samples,
                             chunk_size)


# name -> factory; the factory's keyword parameters are the hyperparameters.
REGULARIZERS: dict[str, Callable[..., Regularizer]] = {
    'none': none,
    'ewc': ewc,
    'online_ewc': online_ewc,
    'si': si,
    'mas': mas,
    'l2': l2,
}


def hyperparams(name: str) -> tuple[str, ...]:
  """The hyperparameters regularizer ``name`` accepts (its factory's)."""
  return tuple(inspect.signature(_factory(name)).parameters)


def _factory(name: str) -> Callable[..., Regularizer]:
  if name not in REGULARIZERS:
    raise ValueError(
        f'Unknown regularizer {name!r}; valid names: {sorted(REGULARIZERS)}.')
  return REGULARIZERS[name]


def make_regularizer(name: str, **hyperparams: Any) -> Regularizer:
  """Builds the regularizer ``REGULARIZERS[name](**hyperparams)``.

  Args:
    name: a key of :data:`REGULARIZERS`.
    **hyperparams: the factory's arguments.

  Returns:
    A :class:`Regularizer`.

  Raises:
    ValueError: for an unknown name, an unknown or missing hyperparameter, or
      an invalid value (naming it).
  """
  factory = _factory(name)
  parameters = inspect.signature(factory).parameters
  unknown = sorted(set(hyperparams) - set(parameters))
  if unknown:
    raise ValueError(
        f'Unknown hyperparameter(s) {unknown} for regularizer {name!r}; '
        f'valid: {list(parameters)}.')
  missing = [p for p, spec in parameters.items()
             if spec.default is spec.empty and p not in hyperparams]
  if missing:
    raise ValueError(
        f'Missing hyperparameter(s) {missing} for regularizer {name!r}.')
  return factory(**hyperparams)
