"""Gauges of how much plasticity a CLASSP state has used up.

Each function takes an optimizer state that holds one or more
:class:`~classp_optax.ScaleByAccumulatorDecayState` anywhere inside it: the
state of :func:`~classp_optax.classp`, or of any chain, ``inject_hyperparams``,
``MultiSteps`` or ``partition`` around it. All of them jit-compile.
"""

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from classp_optax import transforms


def accumulator_leaves(opt_state: optax.OptState) -> list[chex.Array]:
  """Returns the leaves of every accumulator found in ``opt_state``.

  Args:
    opt_state: an optimizer state containing at least one
      :class:`~classp_optax.ScaleByAccumulatorDecayState`.

  Returns:
    The accumulator arrays, in tree order (several states are concatenated;
    elements masked out by ``optax.partition`` are not included).

  Raises:
    ValueError: if ``opt_state`` holds no such state.
  """
  found = optax.tree_utils.tree_get_all_with_path(
      opt_state, transforms.ScaleByAccumulatorDecayState.__name__)
  if not found:
    raise ValueError(
        'No ScaleByAccumulatorDecayState in this optimizer state: pass the '
        'state of classp(...) or of a chain containing '
        'scale_by_accumulator_decay(...).')
  return [leaf for _, state in found
          for leaf in jax.tree.leaves(state.accumulator)]


def _total(leaves: list[chex.Array], fn) -> chex.Array:
  """Sums ``fn(leaf)`` over leaves in at least float32."""
  return sum(jnp.sum(fn(x), dtype=jnp.promote_types(x.dtype, jnp.float32))
             for x in leaves)


def _size(leaves: list[chex.Array]) -> int:
  return sum(x.size for x in leaves)


def capacity_used(opt_state: optax.OptState) -> chex.Array:
  """Share of weights ever updated, i.e. whose accumulator is above 0.

  Weights never updated are the capacity still free for later tasks (the
  sparsity that the threshold promotes).

  Examples:
    >>> import jax.numpy as jnp
    >>> from classp_optax import classp, capacity_used
    >>> tx = classp(learning_rate=0.1, threshold=0.25)
    >>> state = tx.init(jnp.zeros(4))
    >>> _, state = tx.update(jnp.array([1.0, 0.1, -2.0, 0.0]), state)
    >>> print(capacity_used(state))
    0.5

  Args:
    opt_state: a state holding a ``ScaleByAccumulatorDecayState``.

  Returns:
    A scalar in [0, 1].
  """
  leaves = accumulator_leaves(opt_state)
  return _total(leaves, lambda a: a > 0) / _size(leaves)


def mean_accumulator(opt_state: optax.OptState) -> chex.Array:
  """The accumulator summed over all weights divided by their number.

  The author's ``average_grad_sum()``: a gauge of how far the network's step
  sizes have decayed.

  Args:
    opt_state: a state holding a ``ScaleByAccumulatorDecayState``.

  Returns:
    A scalar, at least float32.
  """
  leaves = accumulator_leaves(opt_state)
  return _total(leaves, lambda a: a) / _size(leaves)


class StepSizeSummary(NamedTuple):
  """Minimum, median and maximum of the per-weight step size."""
  min: chex.Array
  median: chex.Array
  max: chex.Array


def effective_step_size(
    opt_state: optax.OptState,
    learning_rate: chex.Numeric,
    power: float = 1.0,
    eps: float = 1e-5,
) -> StepSizeSummary:
  """Summarizes ``learning_rate / (eps + A) ** (1 / power)`` over all weights.

  For a weight updated before, this is an upper bound of the factor that
  multiplies its next gradient when ``apply_scaling`` is on (the next
  ``|g|**power`` enters ``A`` first); with it off, every step is
  ``learning_rate``. A weight never updated reports ``lr / eps**(1/power)``
  (infinite for ``eps=0``), although its next step is bounded by ``lr`` for
  ``power=1``: read ``max`` together with :func:`capacity_used`.

  Args:
    opt_state: a state holding a ``ScaleByAccumulatorDecayState``.
    learning_rate: the learning rate to scale by.
    power: the power the state was built with.
    eps: the epsilon the state was built with.

  Returns:
    A :class:`StepSizeSummary` of scalars.
  """
  leaves = accumulator_leaves(opt_state)
  flat = jnp.concatenate([
      jnp.ravel(a).astype(jnp.promote_types(a.dtype, jnp.float32))
      for a in leaves])
  # The step size decreases with A, so summarize A and map the three values.
  summary = jnp.stack([jnp.max(flat), jnp.median(flat), jnp.min(flat)])
  steps = learning_rate / (eps + summary) ** (1.0 / power)
  return StepSizeSummary(min=steps[0], median=steps[1], max=steps[2])


def mask_pass_fraction(grads: Any, threshold: chex.Numeric) -> chex.Array:
  """Share of gradient elements that :func:`threshold_mask` lets through.

  Args:
    grads: a gradient pytree.
    threshold: the threshold on the squared gradient.

  Returns:
    A scalar in [0, 1]: the share of finite elements with ``g**2 > threshold``.
  """
  leaves = jax.tree.leaves(grads)
  root = jnp.sqrt(threshold)
  return _total(
      leaves, lambda g: transforms.passes_threshold(g, root)) / _size(leaves)
