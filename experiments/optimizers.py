"""The optimizers methods train with, registered by name in :data:`OPTIMIZERS`.

An entry declares, once, how to build an optimizer and what to record of its
state; its search space and defaults live in :mod:`experiments.configs`.
Adding an optimizer variant is one entry here and one in
:mod:`experiments.configs.hyperparams`.
"""

from collections.abc import Callable, Mapping
import dataclasses
import inspect
from typing import Any

import jax.numpy as jnp
import optax

import classp_optax


@dataclasses.dataclass(frozen=True)
class Optimizer:
  """An optimizer the experiments can train with.

  Attributes:
    factory: ``(**hyperparams) -> optax.GradientTransformation``, e.g.
      ``optax.adam``; its keyword parameters are the hyperparameters it
      accepts.
    static_args: hyperparameters that ``optax.inject_hyperparams`` must keep
      static (they change the computation's structure).
    flags: boolean hyperparameters that can be injected (the computation
      branches on them with ``jnp.where``), so they switch between tasks
      even when left at their defaults.
    diagnostics: name -> ``opt_state -> scalar``, recorded after each task.
  """
  factory: Callable[..., optax.GradientTransformation]
  static_args: tuple[str, ...] = ()
  flags: tuple[str, ...] = ()
  diagnostics: Mapping[str, Callable[[optax.OptState], Any]] = (
      dataclasses.field(default_factory=dict))

  @property
  def hyperparams(self) -> tuple[str, ...]:
    """The hyperparameters the factory accepts."""
    return tuple(inspect.signature(self.factory).parameters)


OPTIMIZERS: dict[str, Optimizer] = {
    'classp': Optimizer(
        classp_optax.classp, static_args=('power',),
        flags=('apply_scaling',),
        diagnostics={'capacity_used': classp_optax.capacity_used,
                     'mean_accumulator': classp_optax.mean_accumulator}),
    'sgd': Optimizer(optax.sgd),
    'adam': Optimizer(optax.adam),
    'adagrad': Optimizer(optax.adagrad),
}


def get(name: str) -> Optimizer:
  """The entry ``name``; raises ValueError naming the valid ones."""
  if name not in OPTIMIZERS:
    raise ValueError(
        f'Unknown optimizer {name!r}; valid: {list(OPTIMIZERS)}.')
  return OPTIMIZERS[name]


def make_optimizer(
    name: str, hyperparams: Mapping[str, Any], *, injectable: bool = False,
) -> optax.GradientTransformation:
  """Builds a registered optimizer.

  Args:
    name: a key of :data:`OPTIMIZERS`.
    hyperparams: keyword arguments of its factory (at least
      ``learning_rate``).
    injectable: wrap in ``optax.inject_hyperparams`` (with the entry's static
      arguments) so that :func:`classp_optax.set_hyperparams` can change them
      between tasks; the entry's flags (given, or at their defaults) are
      passed as arrays so that they are injected too.

  Returns:
    The optax transformation.

  Raises:
    ValueError: for an unknown name, or a hyperparameter the factory does not
      take (naming both).

  Example::

    tx = make_optimizer('classp', {'learning_rate': 0.03, 'power': 1.0})
  """
  optimizer = get(name)
  extra = set(hyperparams) - set(optimizer.hyperparams)
  if extra:
    raise ValueError(f'{name} takes no {sorted(extra)}; valid: '
                     f'{list(optimizer.hyperparams)}.')
  if not injectable:
    return optimizer.factory(**hyperparams)
  # The entry's flags, given or at their defaults, become arrays so that
  # they are injected too (a Python bool would stay static).
  parameters = inspect.signature(optimizer.factory).parameters
  flags = {name: parameters[name].default for name in optimizer.flags}
  kwargs = {k: jnp.asarray(v) if k in optimizer.flags else v
            for k, v in {**flags, **hyperparams}.items()}
  return optax.inject_hyperparams(
      optimizer.factory, static_args=optimizer.static_args)(**kwargs)
