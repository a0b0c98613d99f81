"""Search spaces over hyperparameters, and the unit cube mapped onto them.

A space is one or more *branches*, each mapping every knob to a
:class:`LogUniform` or :class:`Uniform` range, a :class:`Choice`, or a constant
(a fixed knob). A point of the unit cube picks a branch with its first
coordinate (when there are several, e.g. one per base optimizer, each with its
own learning-rate range) and sets the branch's free knobs, in order, with the
next ones::

  space = ({'learning_rate': LogUniform(1e-4, 1.0), 'power': 2.0},)
  at(space, [0.5])  # {'learning_rate': 0.01, 'power': 2.0}
"""

from collections.abc import Mapping, Sequence
import dataclasses
import math
from typing import Any

_SIGNIFICANT_DIGITS = 3


def _rounded(value: float) -> float:
  """``value`` to 3 significant digits, so configurations read cleanly."""
  return float(f'{value:.{_SIGNIFICANT_DIGITS}g}')


@dataclasses.dataclass(frozen=True)
class LogUniform:
  """Values spread evenly in log scale over ``[low, high]`` (``0 < low``).

  Attributes:
    low: the smallest value.
    high: the largest value.
    with_zero: 0 belongs to the space too (e.g. a threshold that masks
      nothing); draws never give it, so name it as a point that is always
      tried (:data:`experiments.configs.search_spaces.NAMED_POINTS`).
  """
  low: float
  high: float
  with_zero: bool = False

  def __post_init__(self):
    if not 0 < self.low <= self.high:
      raise ValueError(f'LogUniform needs 0 < low <= high, got {self}.')

  def at(self, u: float) -> float:
    """The value at quantile ``u`` in [0, 1]."""
    return _rounded(math.exp(math.log(self.low)
                             + u * math.log(self.high / self.low)))

  def contains(self, value: Any) -> bool:
    return self.low <= value <= self.high or (self.with_zero and value == 0)


@dataclasses.dataclass(frozen=True)
class Uniform:
  """Values spread evenly over ``[low, high]``."""
  low: float
  high: float

  def __post_init__(self):
    if not self.low <= self.high:
      raise ValueError(f'Uniform needs low <= high, got {self}.')

  def at(self, u: float) -> float:
    """The value at quantile ``u`` in [0, 1]."""
    return _rounded(self.low + u * (self.high - self.low))

  def contains(self, value: Any) -> bool:
    return self.low <= value <= self.high


@dataclasses.dataclass(frozen=True)
class Choice:
  """One of ``values``, each an equal share of [0, 1]."""
  values: tuple[Any, ...]

  def __post_init__(self):
    if not self.values:
      raise ValueError('Choice needs at least one value.')

  def at(self, u: float) -> Any:
    """The value whose share of [0, 1] holds ``u``."""
    return self.values[min(int(u * len(self.values)), len(self.values) - 1)]

  def contains(self, value: Any) -> bool:
    return value in self.values


Range = LogUniform | Uniform | Choice
Branch = Mapping[str, Any]  # knob -> a Range, or a constant
Space = tuple[Branch, ...]


def is_free(knob: Any) -> bool:
  """Whether a knob is searched (a range or a choice), not a constant."""
  return isinstance(knob, (LogUniform, Uniform, Choice))


def dimensions(space: Space) -> int:
  """Coordinates a point needs: the branch's, then the most free knobs."""
  return (len(space) > 1) + max(
      sum(map(is_free, branch.values())) for branch in space)


def at(space: Space, point: Sequence[float]) -> dict[str, Any]:
  """The configuration at ``point`` of the unit cube (see the module doc)."""
  if len(point) != dimensions(space):
    raise ValueError(f'A point of this space has {dimensions(space)} '
                     f'coordinates, got {len(point)}.')
  coordinates = iter(point)
  branch = space[Choice(tuple(range(len(space)))).at(next(coordinates))
                 if len(space) > 1 else 0]
  return {name: knob.at(next(coordinates)) if is_free(knob) else knob
          for name, knob in branch.items()}


def contains(space: Space, config: Mapping[str, Any]) -> bool:
  """Whether some branch of ``space`` holds ``config`` (the same knobs)."""
  return any(
      set(branch) == set(config) and all(
          knob.contains(config[name]) if is_free(knob)
          else knob == config[name]
          for name, knob in branch.items())
      for branch in space)
