"""How a sweep tunes a method: the configurations it tries, and in what stages.

Every method of a sweep gets the same :class:`Search`, so the same number of
configurations, drawn one of two ways:

* ``'grid'`` (the small-budget CPU protocol): a balanced draw from the grids
  of :mod:`experiments.configs.hyperparams`
  (:func:`experiments.methods.tuning_grid`).
* ``'quasi_random'`` (the literature protocols): the method's named points,
  always tried and counted in the budget (:func:`named_points`), then a
  scrambled Halton sequence over its wide space
  (:func:`experiments.methods.wide_space`).

With :class:`Halving`, every configuration first trains on the stream's first
tasks with the first tuning seed; the best ``keep`` go on to the whole stream
with every tuning seed (and, when the search widens a narrower one, the best
``keep`` of that search's configurations too, see :class:`Halving`). The
chosen configuration has the best validation ACC averaged over the tuning
seeds.
"""

from collections.abc import Sequence
import dataclasses
from typing import Any, NamedTuple
import zlib

from scipy.stats import qmc

from experiments import methods
from experiments import regularizers
from experiments import space
from experiments.configs import hyperparams as hyperparams_config
from experiments.configs import search_spaces

DRAWS = ('grid', 'quasi_random')


@dataclasses.dataclass(frozen=True)
class Halving:
  """Successive halving: screen every configuration, then tune the best.

  Every configuration is screened with the first tuning seed; the best
  ``keep`` go on to the whole stream with every tuning seed.

  A screening on the first tasks can rank configurations by what they do
  before most of the forgetting, so a wider search may send other
  finalists to the whole stream and end below a narrower one. The
  quasi-random draw tries the same configurations first whatever its
  budget, so a search of budget B contains the search of any budget
  b < B; with ``narrower_budget=b`` the best ``keep`` of the first b
  configurations go on to the whole stream too, and the choice (the best
  finalist on validation) is never below the narrower search's choice on
  validation.

  Attributes:
    first_tasks: tasks a screening run trains (and is scored on); None to
      screen on the whole stream (for streams with too few tasks to screen
      on), whose screening runs then count as the finalists' runs with the
      first tuning seed.
    keep: configurations that go on to the whole stream.
    narrower_budget: the budget of the narrower search this one widens
      (its finalists are finalists here too), or None.

  Example:
    >>> Halving(first_tasks=2, keep=3)  # 2 tasks of 5, then the best 3
    Halving(first_tasks=2, keep=3, narrower_budget=None)
    >>> Halving(first_tasks=None, keep=3)  # seed 0, then seed 1 for 3
    Halving(first_tasks=None, keep=3, narrower_budget=None)
    >>> Halving(first_tasks=2, keep=3, narrower_budget=12)  # of 12 and all
    Halving(first_tasks=2, keep=3, narrower_budget=12)
  """
  first_tasks: int | None
  keep: int
  narrower_budget: int | None = None

  def finalists(self, screen_scores: Sequence[float | None]) -> list[int]:
    """Indices that go on to the whole stream, in increasing order.

    Args:
      screen_scores: per configuration, its screening score (higher is
        better; None when it diverged).

    Returns:
      The best ``keep`` finished configurations (ties: the lower index),
      with the best ``keep`` of the first ``narrower_budget`` ones.

    Example:
      >>> Halving(2, keep=1, narrower_budget=2).finalists([0.5, 0.7, 0.9])
      [1, 2]
    """
    chosen = set(ranked(screen_scores)[:self.keep])
    if self.narrower_budget is not None:
      chosen |= set(ranked(screen_scores[:self.narrower_budget])[:self.keep])
    return sorted(chosen)


def ranked(scores: Sequence[float | None]) -> list[int]:
  """Indices of the finished (not None) scores, best first (ties: lower index).

  Example:
    >>> ranked([0.5, None, 0.9, 0.5])
    [2, 0, 3]
  """
  finished = [i for i, s in enumerate(scores) if s is not None]
  return sorted(finished, key=lambda i: -scores[i])


@dataclasses.dataclass(frozen=True)
class Search:
  """How a sweep tunes every method of a stream.

  Attributes:
    draw: one of :data:`DRAWS`.
    budget: configurations per method, named points included.
    tuning_seeds: seeds of the tuning runs (never the reported seeds).
    halving: screen every configuration first (:class:`Halving`), or None
      to train every configuration on the whole stream with every tuning
      seed.
    literature: whose defaults are named points (a key of
      :data:`experiments.configs.search_spaces.LITERATURE_DEFAULTS`), or
      None.
  """
  draw: str = 'grid'
  budget: int = 8
  tuning_seeds: tuple[int, ...] = (0,)
  halving: Halving | None = None
  literature: str | None = None

  def __post_init__(self):
    if self.draw not in DRAWS:
      raise ValueError(f'Unknown draw {self.draw!r}; valid: {list(DRAWS)}.')
    if self.budget < 1 or not self.tuning_seeds:
      raise ValueError('A search needs a budget of at least 1 and at least '
                       f'one tuning seed, got {self}.')
    if self.halving is not None and not (
        1 <= self.halving.keep <= self.budget
        and (self.halving.first_tasks is None
             or self.halving.first_tasks >= 1)):
      raise ValueError(f'Halving needs 1 <= keep <= budget and '
                       f'first_tasks >= 1 (or None), got {self}.')
    narrower = None if self.halving is None else self.halving.narrower_budget
    if narrower is not None and not (
        self.draw == 'quasi_random'
        and self.halving.keep <= narrower < self.budget):
      raise ValueError(f'Halving with a narrower_budget needs the '
                       "'quasi_random' draw (a grid of another budget is "
                       'another grid) and keep <= narrower_budget < budget, '
                       f'got {self}.')
    if (self.halving is not None and self.halving.first_tasks is None
        and len(self.tuning_seeds) < 2):
      raise ValueError('Halving on the whole stream screens with the first '
                       'tuning seed and tunes on the others: give at least 2 '
                       f'tuning seeds, got {self}.')


def record(search: Search) -> dict[str, Any]:
  """A search as a result file records it.

  ``halving.narrower_budget`` appears only when set, so the files of
  searches that widen none read as they did before it existed.

  Example:
    >>> record(Search('quasi_random', 12, (0, 1), Halving(2, 3)))['halving']
    {'first_tasks': 2, 'keep': 3}
  """
  document = dataclasses.asdict(search)
  halving = document['halving']
  if halving is not None and halving['narrower_budget'] is None:
    del halving['narrower_budget']
  return document


class Candidate(NamedTuple):
  """A configuration to try, and its label when it is a named point."""
  hyperparams: dict[str, Any]
  label: str | None = None


def named_points(name: str, stream_key: str,
                 literature: str | None = None) -> dict[str, dict[str, Any]]:
  """The configurations a quasi-random draw of a method always includes.

  Args:
    name: a method name.
    stream_key: the stream (literature defaults differ per stream).
    literature: whose defaults to include (see :class:`Search`).

  Returns:
    Label -> configuration: the points of
    :data:`experiments.configs.search_spaces.NAMED_POINTS` for the method's
    optimizer (for a variant, those its fixed knobs leave as they are, e.g.
    the AdaGrad-equivalent for ``classp_adagrad``; for a pairing such as
    ``'classp+ewc'`` completed with the regularizer's literature default, or
    without one its built-in default,
    :data:`experiments.configs.hyperparams.DEFAULT_HYPERPARAMS`),
    and the method's own default in ``literature`` on ``stream_key``
    (:data:`~experiments.configs.search_spaces.LITERATURE_DEFAULTS`) as
    ``'literature'``.

  Raises:
    ValueError: if a named point lies outside the method's wide space.
  """
  spec = methods.parse_method(name)
  defaults = search_spaces.LITERATURE_DEFAULTS.get(literature, {}).get(
      stream_key, {})
  points = {}
  if name in defaults:
    points['literature'] = dict(defaults[name])
  regularizer_keys = regularizers.hyperparams(spec.regularizer)
  regularizer_default = {
      k: v for k, v in (defaults.get(spec.regularizer) or
                        hyperparams_config.DEFAULT_HYPERPARAMS.get(
                            spec.regularizer, {})).items()
      if k in regularizer_keys}
  for label, point in search_spaces.NAMED_POINTS.get(
      spec.optimizer, {}).items():
    point = {**point, **regularizer_default}
    if spec.variant is not None:
      fixed = {**point, **spec.variant.fixed}
      if fixed != point:
        continue  # the variant changes it: no longer the named point
    if point not in points.values():
      points[label] = point
  wide = methods.wide_space(spec)
  for label, point in points.items():
    if not space.contains(wide, point):
      raise ValueError(f'Named point {label!r} of {name}, {point}, lies '
                       f"outside the method's search space {wide}.")
  return points


def quasi_random(name: str, size: int) -> list[dict[str, Any]]:
  """``size`` configurations of a scrambled Halton sequence over the space.

  Seeded by the method's name: the same method always draws the same ones.
  """
  wide = methods.wide_space(methods.parse_method(name))
  dimensions = space.dimensions(wide)
  if size <= 0:
    return []
  if dimensions == 0:
    return [space.at(wide, [])]
  sampler = qmc.Halton(d=dimensions, scramble=True,
                       seed=zlib.crc32(name.encode()))
  return [space.at(wide, point) for point in sampler.random(size)]


def configurations(name: str, search: Search,
                   stream_key: str) -> list[Candidate]:
  """The ``search.budget`` configurations a sweep tries for a method.

  Args:
    name: a method name.
    search: the sweep's search.
    stream_key: the stream (for the literature's named points).

  Returns:
    Named points first (labelled), then drawn ones.
  """
  spec = methods.parse_method(name)
  if search.draw == 'grid':
    return [Candidate(c) for c in methods.tuning_grid(spec, search.budget)]
  named = list(named_points(name, stream_key,
                            search.literature).items())[:search.budget]
  return ([Candidate(point, label) for label, point in named]
          + [Candidate(c) for c in quasi_random(name,
                                                search.budget - len(named))])


def describe(wide: space.Space) -> list[dict[str, Any]]:
  """A space as JSON-ready branches: ``{'knob': {'log_uniform': [lo, hi]}}``."""

  def knob(value: Any) -> Any:
    if isinstance(value, space.LogUniform):
      return {'log_uniform': [value.low, value.high],
              **({'or': 0.0} if value.with_zero else {})}
    if isinstance(value, space.Uniform):
      return {'uniform': [value.low, value.high]}
    if isinstance(value, space.Choice):
      return {'choice': list(value.values)}
    return value

  return [{name: knob(value) for name, value in branch.items()}
          for branch in wide]


def space_record(name: str, search: Search) -> Any:
  """What a result file records of a method's search space."""
  spec = methods.parse_method(name)
  if search.draw == 'grid':
    return methods.search_space(spec)
  return describe(methods.wide_space(spec))

