"""Changing injected hyperparameters between steps or tasks, functionally."""

from typing import Any

import jax
from jax.experimental import checkify
import jax.numpy as jnp
import optax

from classp_optax import _validation


def _is_inject_state(node: Any) -> bool:
  fields = getattr(node, '_fields', ())
  return 'hyperparams' in fields and 'inner_state' in fields


def _inject_states(opt_state: optax.OptState) -> list[Any]:
  """The ``inject_hyperparams`` states anywhere in ``opt_state``."""
  return [node for node in jax.tree.leaves(opt_state,
                                           is_leaf=_is_inject_state)
          if _is_inject_state(node)]


def check_hyperparams(opt_state: optax.OptState) -> None:
  """Checks the injected CLASSP hyperparameters of a state, traced ones too.

  ``threshold >= 0``, ``power > 0``, ``eps >= 0`` and a finite
  ``learning_rate``, wherever an ``inject_hyperparams`` state in
  ``opt_state`` holds them. Each is a :func:`jax.experimental.checkify.check`:
  call it inside a function transformed with
  :func:`~jax.experimental.checkify.checkify` (then jitted as usual) and read
  the error it returns; called on concrete values outside ``jax.jit`` it
  raises at once. Values that :func:`set_hyperparams` wrote are checked
  already; this catches the ones a jitted computation produced.

  Examples:
    >>> import jax
    >>> from jax.experimental import checkify
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from classp_optax import check_hyperparams, classp
    >>> tx = optax.inject_hyperparams(classp)(learning_rate=0.1)
    >>> def step(state, threshold):  # a threshold computed under jit
    ...   state.hyperparams['threshold'] = threshold
    ...   check_hyperparams(state)
    ...   return tx.update(jnp.ones(2), state)[0]
    >>> checked = jax.jit(checkify.checkify(step))
    >>> error, _ = checked(tx.init(jnp.zeros(2)), -1.0)
    >>> print(error.get().splitlines()[0])
    threshold must be >= 0.0 and finite, got -1.0 (`check` failed)

  Args:
    opt_state: a state holding ``inject_hyperparams`` states.
  """
  for state in _inject_states(opt_state):
    for name, (minimum, inclusive) in _validation.CLASSP_RANGES.items():
      if name not in state.hyperparams:
        continue
      value = jnp.asarray(jax.tree.leaves(state.hyperparams[name])[0])
      in_range = value >= minimum if inclusive else value > minimum
      bound = f'{">=" if inclusive else ">"} {minimum} and ' if (
          minimum > -float('inf')) else ''
      checkify.check(jnp.all(jnp.isfinite(value) & in_range),
                     f'{name} must be {bound}finite, got {{value}}',
                     value=value)


def set_hyperparams(opt_state: optax.OptState, **values: Any) -> optax.OptState:
  """Returns ``opt_state`` with injected hyperparameters replaced.

  Use it with a state of ``optax.inject_hyperparams(classp, ...)`` to switch,
  e.g., ``apply_scaling``, ``threshold`` or ``learning_rate`` between tasks.
  Each new value is cast to the dtype and shape the state already holds, and
  kept in the same container (e.g. the variable wrapper of
  ``flax.nnx.Optimizer``'s ``opt_state``), so a jitted step that takes the
  state is not recompiled (assigning a Python float, a weakly typed array or
  a bare array in place of a wrapper would retrace it). The
  accumulator is untouched. Every injected state inside ``opt_state`` (e.g.
  in each group of ``optax.partition``) that has the name gets the value.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from classp_optax import classp, set_hyperparams
    >>> tx = optax.inject_hyperparams(classp, static_args=('power',))(
    ...     learning_rate=0.2, threshold=0.5, apply_scaling=jnp.asarray(False))
    >>> state = tx.init(jnp.zeros(3))
    >>> state = set_hyperparams(state, threshold=0.0, apply_scaling=True)
    >>> hyperparams = state.hyperparams
    >>> print(hyperparams['threshold'], hyperparams['apply_scaling'])
    0.0 True

  Args:
    opt_state: a state holding one or more ``inject_hyperparams`` states.
    **values: new values by hyperparameter name.

  Returns:
    A new state; ``opt_state`` is not modified.

  Raises:
    ValueError: if no injected state holds a name (the message lists the
      injectable names: static ones such as ``power`` or a Python-bool
      ``apply_scaling`` are not), if a name follows a schedule, if a value has
      the wrong shape, if a boolean one (``apply_scaling``) gets a number, or
      if a CLASSP hyperparameter is out of range.
  """
  states = _inject_states(opt_state)
  if not states:
    raise ValueError(
        'set_hyperparams: no optax.inject_hyperparams state in opt_state; '
        'build the optimizer with '
        'optax.inject_hyperparams(classp, static_args=("power",)).')
  injectable = set().union(*(s.hyperparams for s in states))
  scheduled = set().union(*(getattr(s, 'hyperparams_states', {})
                            for s in states))
  for name, value in values.items():
    if name not in injectable:
      raise ValueError(
          f'set_hyperparams: {name!r} is not an injected hyperparameter; '
          f'injected: {sorted(injectable)}. Static arguments and Python '
          'bools are not injected (pass apply_scaling=jnp.asarray(...)).')
    if name in scheduled:
      raise ValueError(f'set_hyperparams: {name!r} follows a schedule and is '
                       'recomputed at every step; it cannot be set.')
    if name in _validation.CLASSP_RANGES:
      _validation.check_classp_hyperparameter(name, value)

  def replace(node):
    if not _is_inject_state(node):
      return node
    hyperparams = dict(node.hyperparams)
    for name, value in values.items():
      if name in hyperparams:
        old = hyperparams[name]
        if jnp.shape(value) != jnp.shape(old):
          raise ValueError(
              f'set_hyperparams: {name!r} has shape {jnp.shape(old)} in the '
              f'state, got a value of shape {jnp.shape(value)}.')
        if jnp.result_type(old) == jnp.bool_ and jnp.result_type(
            value) != jnp.bool_:
          raise ValueError(f'set_hyperparams: {name!r} is boolean, got '
                           f'{value!r}.')
        # Mapped over ``old`` so that a wrapper around the array (e.g. the
        # variable flax.nnx.Optimizer keeps) stays: a jitted step sees the
        # same pytree structure and is not retraced.
        hyperparams[name] = jax.tree.map(
            lambda leaf, value=value: jnp.asarray(
                value, dtype=jnp.result_type(leaf)), old)
    return node._replace(hyperparams=hyperparams)

  return jax.tree.map(replace, opt_state, is_leaf=_is_inject_state)
