"""Methods: an optimizer (an optax transformation) plus a regularizer.

A method name is one of :data:`METHODS`, or ``'<optimizer>+<regularizer>'``
for any pairing (e.g. ``'classp+ewc'``). A regularizer's own method tunes its
base optimizer (the ``'base'`` hyperparameter, one of
:data:`BASE_OPTIMIZERS`). A :data:`VARIANTS` entry is a method with some
knobs fixed or a per-task schedule (CLASSP's ablations). The names come from
the registries (:data:`experiments.optimizers.OPTIMIZERS`,
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
from experiments import space
from experiments.configs import hyperparams as hyperparams_config
from experiments.configs import search_spaces


@dataclasses.dataclass(frozen=True)
class Variant:
  """A method with knobs fixed, or a per-task schedule of its optimizer.

  Attributes:
    method: the method it runs (a name :func:`parse_method` takes).
    fixed: knobs set to these values whatever the search or defaults say.
    first_task: optimizer hyperparameters set at the first task's start.
    later_tasks: optimizer hyperparameters set at each later task's start.
    description: one line, for tables and the command line's help.
  """
  method: str
  fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  first_task: Mapping[str, Any] | None = None
  later_tasks: Mapping[str, Any] | None = None
  description: str = ''


# CLASSP's ablations: each principle alone, and the author's schedule.
VARIANTS = {
    'classp_adagrad': Variant(
        'classp', fixed={'power': 2.0, 'threshold': 0.0},
        description='AdaGrad as CLASSP: power 2, threshold 0'),
    'classp_mask_only': Variant(
        'classp', fixed={'power': 1.0, 'apply_scaling': False},
        description='threshold only: SGD behind the mask (no scaling)'),
    'classp_accumulator_only': Variant(
        'classp', fixed={'power': 1.0, 'threshold': 0.0},
        description='accumulator only: power 1, threshold 0'),
    'classp_author_schedule': Variant(
        'classp', fixed={'power': 1.0},
        first_task={'apply_scaling': False},
        later_tasks={'apply_scaling': True, 'threshold': 0.0},
        description="the author's schedule: task 1 unscaled at the tuned "
                    'threshold, later tasks scaled at threshold 0'),
}

OPTIMIZERS = tuple(optimizers.OPTIMIZERS)
REGULARIZED = tuple(name for name in regularizers.REGULARIZERS
                    if name != 'none')
JOINT = 'joint'
# Each optimizer alone, each regularizer on a tuned base, and joint training.
CORE_METHODS = OPTIMIZERS + REGULARIZED + (JOINT,)
METHODS = CORE_METHODS + tuple(VARIANTS)
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
    variant: the :data:`VARIANTS` entry, for a variant.
  """
  name: str
  optimizer: str | None
  regularizer: str
  joint: bool = False
  variant: Variant | None = None

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
  if name in VARIANTS:
    base = parse_method(VARIANTS[name].method)
    return dataclasses.replace(base, name=name, variant=VARIANTS[name])
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
  optimizer_kwargs, regularizer_kwargs = split_hyperparams(spec, hyperparams)
  regularizer = regularizers.make_regularizer(spec.regularizer,
                                              **regularizer_kwargs)
  optimizer = optimizers.make_optimizer(
      spec.optimizer_name(hyperparams), optimizer_kwargs,
      injectable=injectable)
  return optimizer, regularizer


def split_hyperparams(
    spec: MethodSpec, hyperparams: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
  """A method's hyperparameters as the optimizer's and the regularizer's.

  ``'base'`` (which optimizer a regularizer trains with) is in neither.

  Example::

    split_hyperparams(parse_method('ewc'),
                      {'base': 'sgd', 'learning_rate': 0.1, 'strength': 10.})
    # ({'learning_rate': 0.1}, {'strength': 10.0})
  """
  regularizer_keys = regularizers.hyperparams(spec.regularizer)
  return ({k: v for k, v in hyperparams.items()
           if k not in regularizer_keys and (spec.optimizer or k != 'base')},
          {k: v for k, v in hyperparams.items() if k in regularizer_keys})


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
  if spec.variant is not None:
    return {**default_hyperparams(spec.variant.method), **spec.variant.fixed}
  regularizer_keys = regularizers.hyperparams(spec.regularizer)
  return {**defaults[spec.optimizer],
          **{k: v for k, v in defaults[spec.regularizer].items()
             if k in regularizer_keys}}


def task_schedule(
    spec: MethodSpec, num_tasks: int,
) -> tuple[Mapping[str, Any], ...] | None:
  """Per-task optimizer hyperparameters of a variant with a schedule.

  Args:
    spec: the method.
    num_tasks: tasks in the stream.

  Returns:
    One mapping per task (see :func:`experiments.training.run`), or None
    when the method has no schedule.
  """
  variant = spec.variant
  if variant is None or variant.first_task is None:
    return None
  return (variant.first_task,) + (variant.later_tasks or {},) * (
      num_tasks - 1)


def _fixing(spec: MethodSpec, configs: Sequence[Mapping[str, Any]],
            ) -> list[dict[str, Any]]:
  """``configs`` with a variant's fixed knobs set, duplicates dropped."""
  if spec.variant is None:
    return [dict(c) for c in configs]
  fixed = []
  for config in configs:
    config = {**config, **spec.variant.fixed}
    if config not in fixed:
      fixed.append(config)
  return fixed


def wide_space(spec: MethodSpec) -> space.Space:
  """A method's literature-wide search space (:mod:`experiments.space`).

  From :mod:`experiments.configs.search_spaces`: one branch per base
  optimizer for a regularizer's own method, else one; a variant's fixed
  knobs are constants.
  """
  spaces = search_spaces.OPTIMIZER_SPACES
  branches = ([{'base': base, **spaces[base]}
               for base in search_spaces.BASE_OPTIMIZERS]
              if spec.optimizer is None else [spaces[spec.optimizer]])
  fixed = spec.variant.fixed if spec.variant is not None else {}
  return tuple(
      {**branch, **search_spaces.REGULARIZER_SPACES[spec.regularizer],
       **fixed}
      for branch in branches)


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
  return _fixing(spec, [
      {**config, **extra} for config in optimizer_space
      for extra in _product(
          hyperparams_config.REGULARIZER_SPACES[spec.regularizer])])


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
