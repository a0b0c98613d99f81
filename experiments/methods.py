"""Methods: an optimizer (an optax transformation) plus a regularizer.

A method name is one of :data:`METHODS`, or ``'<optimizer>+<regularizer>'``
for any pairing (e.g. ``'classp+ewc'``). The regularizers' base optimizer is
a tuned hyperparameter (``'base'``: ``'sgd'`` or ``'adam'``).
"""

import collections
import dataclasses
import itertools
import zlib
from typing import Any, Mapping, Optional, Sequence

import jax.numpy as jnp
import numpy as np
import optax

import classp_optax
from experiments import regularizers

OPTIMIZERS = ('classp', 'sgd', 'adam', 'adagrad')
REGULARIZED = ('ewc', 'online_ewc', 'si', 'mas', 'l2')
METHODS = OPTIMIZERS + REGULARIZED + ('joint',)
BASE_OPTIMIZERS = ('sgd', 'adam')

_OPTIMIZER_KEYS = ('learning_rate', 'threshold', 'power', 'eps',
                   'apply_scaling', 'initial_accumulator_value')
_REGULARIZER_KEYS = ('strength', 'decay', 'damping')

# Search spaces: each method draws the same number of configurations.
_LEARNING_RATES = {
    'classp': (0.003, 0.01, 0.03, 0.1),
    'sgd': (0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
    'adam': (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2),
    'adagrad': (0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
}
# AdaGrad's accumulator starts at 0, like CLASSP's (optax's default is 0.1),
# so that CLASSP with power 2 differs from it only by the threshold and eps.
_FIXED = {'adagrad': {'initial_accumulator_value': 0.0}}
_BASE_LEARNING_RATES = {'sgd': (0.01, 0.03, 0.1), 'adam': (3e-4, 1e-3)}
_SPACES = {
    'classp': {'threshold': (0.0, 1e-6, 1e-5, 1e-4), 'power': (1.0, 2.0)},
    'ewc': {'strength': (1.0, 10.0, 100.0, 1e3, 1e4)},
    'online_ewc': {'strength': (1.0, 10.0, 100.0, 1e3, 1e4),
                   'decay': (0.7, 1.0)},
    'si': {'strength': (0.01, 0.1, 1.0, 10.0)},
    'mas': {'strength': (0.01, 0.1, 1.0, 10.0)},
    'l2': {'strength': (0.01, 0.1, 1.0, 10.0)},
}


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
  optimizer: Optional[str]
  regularizer: str
  joint: bool = False

  @property
  def uses_classp(self) -> bool:
    return self.optimizer == 'classp'


def parse_method(name: str) -> MethodSpec:
  """Parses ``name`` into a :class:`MethodSpec`; raises ValueError if unknown."""
  if name in OPTIMIZERS:
    return MethodSpec(name, name, 'none')
  if name in REGULARIZED:
    return MethodSpec(name, None, name)
  if name == 'joint':
    return MethodSpec(name, 'adam', 'none', joint=True)
  optimizer, plus, regularizer = name.partition('+')
  if plus and optimizer in OPTIMIZERS and regularizer in REGULARIZED:
    return MethodSpec(name, optimizer, regularizer)
  raise ValueError(
      f'Unknown method {name!r}; valid: {list(METHODS)} or '
      f"'<optimizer>+<regularizer>' with optimizer in {list(OPTIMIZERS)} and "
      f'regularizer in {list(REGULARIZED)}.')


def make_optimizer(
    name: str, hyperparams: Mapping[str, Any], *, injectable: bool = False,
) -> optax.GradientTransformation:
  """Builds an optimizer from the optimizer keys of ``hyperparams``.

  Args:
    name: one of :data:`OPTIMIZERS`.
    hyperparams: at least ``learning_rate``; CLASSP also reads ``threshold``,
      ``power``, ``eps`` and ``apply_scaling``.
    injectable: wrap in ``optax.inject_hyperparams`` so that
      :func:`classp_optax.set_hyperparams` can change them between tasks.

  Returns:
    The optax transformation.
  """
  kwargs = {k: v for k, v in hyperparams.items() if k in _OPTIMIZER_KEYS}
  factories = {'classp': classp_optax.classp, 'sgd': optax.sgd,
               'adam': optax.adam, 'adagrad': optax.adagrad}
  if name not in factories:
    raise ValueError(f'Unknown optimizer {name!r}; valid: {list(OPTIMIZERS)}.')
  accepted = {'classp': set(_OPTIMIZER_KEYS) - {'initial_accumulator_value'},
              'adagrad': {'learning_rate', 'initial_accumulator_value'}}
  extra = set(kwargs) - accepted.get(name, {'learning_rate'})
  if extra:
    raise ValueError(f'{name} takes no {sorted(extra)}.')
  if not injectable:
    return factories[name](**kwargs)
  if 'apply_scaling' in kwargs:
    kwargs['apply_scaling'] = jnp.asarray(kwargs['apply_scaling'])
  static = ('power',) if name == 'classp' else ()
  return optax.inject_hyperparams(factories[name], static_args=static)(**kwargs)


def build(
    spec: MethodSpec, hyperparams: Mapping[str, Any], *,
    injectable: bool = False,
) -> tuple[optax.GradientTransformation, regularizers.Regularizer]:
  """The optimizer and regularizer of a method with chosen hyperparameters."""
  optimizer = spec.optimizer or hyperparams.get('base')
  if optimizer is None:
    raise ValueError(f"{spec.name} needs a 'base' optimizer hyperparameter, "
                     f'one of {list(BASE_OPTIMIZERS)}.')
  regularizer = regularizers.make_regularizer(
      spec.regularizer,
      **{k: v for k, v in hyperparams.items() if k in _REGULARIZER_KEYS})
  return (make_optimizer(optimizer, hyperparams, injectable=injectable),
          regularizer)


def _product(space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
  keys = sorted(space)
  return [dict(zip(keys, values))
          for values in itertools.product(*(space[k] for k in keys))]


def search_space(spec: MethodSpec) -> list[dict[str, Any]]:
  """Every configuration a method may be tuned over."""
  if spec.optimizer is None:
    optimizer_space = [{'base': base, 'learning_rate': lr}
                       for base in BASE_OPTIMIZERS
                       for lr in _BASE_LEARNING_RATES[base]]
  else:
    optimizer_space = [{'learning_rate': lr, **_FIXED.get(spec.optimizer, {})}
                       for lr in _LEARNING_RATES[spec.optimizer]]
    if spec.uses_classp:
      optimizer_space = [{**c, **extra} for c in optimizer_space
                         for extra in _product(_SPACES['classp'])]
  if spec.regularizer == 'none':
    return optimizer_space
  return [{**c, **extra} for c in optimizer_space
          for extra in _product(_SPACES[spec.regularizer])]


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
