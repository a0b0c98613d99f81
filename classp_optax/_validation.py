"""Checks of hyperparameters that skip traced values."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def concrete_value(value: Any) -> np.ndarray | None:
  """Returns ``value`` as a NumPy array, or None when it is traced.

  Hyperparameters reach a factory as Python numbers, concrete arrays, or
  tracers (under ``jax.jit`` or inside ``optax.inject_hyperparams``). Only the
  first two can be checked; tracers are skipped so that injection works.
  """
  if isinstance(value, jax.core.Tracer):
    return None
  return np.asarray(value)


def check_hyperparameter(
    name: str,
    value: Any,
    *,
    minimum: float,
    inclusive: bool,
) -> None:
  """Raises ``ValueError`` naming ``name`` if a concrete ``value`` is invalid.

  Args:
    name: the hyperparameter's name, as the user passed it.
    value: a Python number, a concrete array or a tracer (which is skipped).
    minimum: the smallest allowed value.
    inclusive: whether ``minimum`` itself is allowed.

  Raises:
    ValueError: if ``value`` is concrete and non-finite, not a real number,
      or below (or equal to, when not ``inclusive``) ``minimum``.
  """
  array = concrete_value(value)
  if array is None:
    return
  real = (jnp.issubdtype(array.dtype, jnp.integer)
          or jnp.issubdtype(array.dtype, jnp.floating))
  if not real:
    raise ValueError(f'{name} must be a real number, got {value!r}.')
  array = array.astype(np.float64)
  if not np.all(np.isfinite(array)):
    raise ValueError(f'{name} must be finite, got {value!r}.')
  too_small = array < minimum if inclusive else array <= minimum
  if np.any(too_small):
    bound = '>=' if inclusive else '>'
    raise ValueError(f'{name} must be {bound} {minimum}, got {value!r}.')


# The CLASSP hyperparameters' ranges: (minimum, whether it is allowed).
CLASSP_RANGES = {
    'learning_rate': (-float('inf'), False),
    'threshold': (0.0, True),
    'power': (0.0, False),
    'eps': (0.0, True),
}


def check_classp_hyperparameter(name: str, value: Any) -> None:
  """:func:`check_hyperparameter` with the range of CLASSP's ``name``."""
  minimum, inclusive = CLASSP_RANGES[name]
  check_hyperparameter(name, value, minimum=minimum, inclusive=inclusive)
