"""Methods: an optimizer (an optax transformation) plus a regularizer.

A method name is one of :data:`METHODS`, or ``'<optimizer>+<regularizer>'``
for any pairing (e.g. ``'classp+ewc'``). A regularizer's own method tunes its
base optimizer (the ``'base'`` hyperparameter, one of
:data:`BASE_OPTIMIZERS`). The names come from the registries
(:data:`experiments.optimizers.OPTIMIZERS`,
:data:`experiments.regularizers.REGULARIZERS`); the search spaces and defaults
from :mod:`experiments.configs.hyperparams`.
"""

import collections
from collections.abc import Mapping, Sequence
import dataclasses
import itertools
from typing import Any
import zlib

import numpy as np
import optax

from experiments import optimizers
from experiments import regularizers
from experiments.configs import hyperparams as hyperparams_config

OPTIMIZERS = tuple(optimizers.OPTIMIZERS)
REGULARIZED = tuple(name for name in regularizers.REGULARIZERS
                    if name != 'none')
JOINT = 'joint'
METHODS = OPTIMIZERS + REGULARIZED + (JOINT,)
BASE_OPTIMIZERS = tuple(hyperparams_config.BASE_OPTIMIZER_SPACES)
# Joint training (all tasks at once, the upper bound) uses this optimizer.
JOINT_OPTIMIZER = 'adam'


@dataclasses.dataclass(frozen=True)
class MethodSpec:
  """A parsed method name.

  Attributes:
    name: the method's name as given.
    optimizer: the optimizer's name, or None when tuned (``'base'``).
    regularizer: the regularizer's name (``'none'`` for plain optimizers).
    joint: whether all tasks train together (the upper bound).
  """
  name: str
  optimizer: str | None
  regularizer: str
  joint: bool = False

  def optimizer_name(self, hyperparams: Mapping[str, Any]) -> str:
    """The optimizer the method trains with under ``hyperparams``."""
    optimizer = self.optimizer or hyperparams.get('base')
    if optimizer is None:
      raise ValueError(f"{self.name} needs a 'base' optimizer hyperparameter, "
                       f'one of {list(BASE_OPTIMIZERS)}.')
    return optimizer


def parse_method(name: str) -> MethodSpec:
  """Parses a method name; raises ValueError, listing the valid ones."""
  if name in OPTIMIZERS:
    return MethodSpec(name, name, 'none')
  if name in REGULARIZED:
    return MethodSpec(name, None, name)
  if name == JOINT:
    return MethodSpec(name, JOINT_OPTIMIZER, 'none', joint=True)
  optimizer, plus, regularizer = name.partition('+')
  if plus and optimizer in OPTIMIZERS and regularizer in REGULARIZED:
    return MethodSpec(name, optimizer, regularizer)
  raise ValueError(
      f'Unknown method {name!r}; valid: {list(METHODS)} or '
      f"'<optimizer>+<regularizer>' with optimizer in {list(OPTIMIZERS)} and "
      f'regularizer in {list(REGULARIZED)}.')


def build(
    spec: MethodSpec, hyperparams: Mapping[str, Any], *,
    injectable: bool = False,
) -> tuple[optax.GradientTransformation, regularizers.Regularizer]:
  """The optimizer and regularizer of a method with chosen hyperparameters.

  Args:
    spec: the method.
    hyperparams: the regularizer's knobs (its factory's parameters), the
      optimizer's (its factory's) and, when the method tunes it, ``'base'``.
    injectable: see :func:`experiments.optimizers.make_optimizer`.

  Returns:
    ``(optimizer, regularizer)``.

  Raises:
    ValueError: naming a missing, unknown or invalid hyperparameter.
  """
  regularizer_keys = regularizers.hyperparams(spec.regularizer)
  optimizer_kwargs = {
      k: v for k, v in hyperparams.items()
      if k not in regularizer_keys and (spec.optimizer or k != 'base')}
  regularizer = regularizers.make_regularizer(
      spec.regularizer,
      **{k: v for k, v in hyperparams.items() if k in regularizer_keys})
  optimizer = optimizers.make_optimizer(
      spec.optimizer_name(hyperparams), optimizer_kwargs,
      injectable=injectable)
  return optimizer, regularizer


def default_hyperparams(name: str) -> dict[str, Any]:
  """Built-in hyperparameters of a method (used where no sweep chose any).

  Args:
    name: a method name.

  Returns:
    :data:`experiments.configs.hyperparams.DEFAULT_HYPERPARAMS` ``[name]``;
    for a pairing ``'optimizer+regularizer'`` without an entry, the
    optimizer's defaults plus the regularizer's own knobs.
  """
  defaults = hyperparams_config.DEFAULT_HYPERPARAMS
  if name in defaults:
    return dict(defaults[name])
  spec = parse_method(name)
  regularizer_keys = regularizers.hyperparams(spec.regularizer)
  return {**defaults[spec.optimizer],
          **{k: v for k, v in defaults[spec.regularizer].items()
             if k in regularizer_keys}}


def _product(space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
  """Every combination of the knobs' values, the last knob varying fastest."""
  return [dict(zip(space, values))
          for values in itertools.product(*space.values())]


def search_space(spec: MethodSpec) -> list[dict[str, Any]]:
  """Every configuration a method may be tuned over, in a fixed order."""
  if spec.optimizer is None:
    optimizer_space = [
        {'base': base, **config}
        for base, space in hyperparams_config.BASE_OPTIMIZER_SPACES.items()
        for config in _product(space)]
  else:
    optimizer_space = _product(
        hyperparams_config.OPTIMIZER_SPACES[spec.optimizer])
  return [{**config, **extra} for config in optimizer_space
          for extra in _product(
              hyperparams_config.REGULARIZER_SPACES[spec.regularizer])]


def tuning_grid(spec: MethodSpec, size: int) -> list[dict[str, Any]]:
  """``size`` configurations drawn from the method's search space.

  Every method gets the same number of configurations: the whole space when
  it is not larger, else a balanced draw: one at a time, the configuration
  whose knob values have been drawn least so far (ties broken by a generator
  seeded with the method's name), so that every value of every knob appears
  about equally often.

  Args:
    spec: the method.
    size: the tuning budget, in configurations.

  Returns:
    A list of hyperparameter dicts, in the search space's order.
  """
  space = search_space(spec)
  if len(space) <= size:
    return space
  rng = np.random.default_rng(zlib.crc32(spec.name.encode()))
  candidates = [int(i) for i in rng.permutation(len(space))]
  drawn = collections.Counter()
  chosen = []
  for _ in range(size):
    best = min(candidates, key=lambda i: sum(
        drawn[item] for item in space[i].items()))
    candidates.remove(best)
    chosen.append(best)
    drawn.update(space[best].items())
  return [space[i] for i in sorted(chosen)]
