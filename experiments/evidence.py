"""What the literature protocols' results say: calibration, ablations, verdicts.

Tables and sentences for ``RESULTS.md`` and the README, from result files
(see :mod:`experiments.report`):

* :func:`calibration_table`: each baseline against the published table its
  protocol follows (:mod:`experiments.configs.literature`).
* :func:`ablation_table`: each CLASSP variant and pairing against full CLASSP.
* :func:`verdicts`: one sentence per stream, "does CLASSP beat EWC?".
* :func:`space_edges`: chosen values near the edge of a wide search space.
* :func:`by_accuracy`, :func:`scored`: a result's methods ranked by ACC.

Every comparison pairs seeds (every method of a stream trains on the same
seeds) and uses :func:`experiments.metrics.paired_difference`.
"""

from collections.abc import Mapping, Sequence
import math
from typing import Any

from experiments import methods as methods_lib
from experiments import metrics
from experiments import streams
from experiments import tables
from experiments.configs import literature

CLASSP = 'classp'
EWC = 'ewc'
# A chosen value this close to an end of its range (as a fraction of the
# range, in log scale for log-uniform knobs) is reported as an edge.
EDGE_FRACTION = 0.05
# Values a knob cannot exceed: choosing one is not an edge of the search.
KNOB_LIMITS = {'decay': 1.0}


def label(result: Mapping[str, Any]) -> str:
  """Display name of a result: ``'<stream>'`` or ``'<stream>/<scenario>'``."""
  scenario = result.get('scenario')
  return f"{result['stream']}/{scenario}" if scenario else result['stream']


def by_accuracy(methods: Mapping[str, Any]) -> list[str]:
  """Method names by mean ACC, best first (all-diverged last); ties by name."""

  def mean_accuracy(name):
    block = methods[name]
    return block['avg_acc']['mean'] if block.get('avg_acc') else -math.inf

  return sorted(methods, key=lambda name: (-mean_accuracy(name), name))


def scored(methods: Mapping[str, Any]) -> list[str]:
  """The methods with at least one finished seed, by mean ACC."""
  return [m for m in by_accuracy(methods) if methods[m].get('acc_matrix')]


def is_classp_family(name: str) -> bool:
  """Whether a method trains with CLASSP (itself, a variant, a pairing)."""
  return methods_lib.parse_method(name).optimizer == CLASSP


def _trains_with(name: str, block: Mapping[str, Any]) -> str | None:
  """The method a block ran (a preset's name such as ``'ewc_author_scale'``
  ran ``'ewc'``); None when it cannot be told (older blocks of preset
  names)."""
  method = block.get('method', name)
  try:
    methods_lib.parse_method(method)
  except ValueError:
    return None
  return method


def seed_accuracies(method: Mapping[str, Any],
                    seeds: Sequence[int]) -> dict[int, float]:
  """ACC of each finished seed of a method block, by seed.

  ``seeds`` are the result file's; a block without ``finished_seeds``
  (written before divergence was detected) finished them all.
  """
  if not method.get('acc_matrix'):
    return {}
  finished = method.get('finished_seeds') or seeds
  return {seed: metrics.average_accuracy(m)
          for seed, m in zip(finished, method['acc_matrix']['per_seed'])}


def accuracy_interval(method: Mapping[str, Any],
                      seeds: Sequence[int]) -> dict[str, float] | None:
  """Mean, sample std and 95% interval of a method's ACC over its seeds.

  None when fewer than two seeds finished.
  """
  accuracies = list(seed_accuracies(method, seeds).values())
  if len(accuracies) < 2:
    return None
  return metrics.interval(accuracies)


def interval_text(summary: Mapping[str, float] | None) -> str:
  """``'98.1 ± 0.3 [97.7, 98.5]'`` in %, or a dash."""
  if summary is None:
    return tables.DASH
  mean, std, low, high = (tables.percent(summary[k])
                          for k in ('mean', 'std', 'low', 'high'))
  return f'{mean} ± {std} [{low}, {high}]'


def compare(result: Mapping[str, Any], name: str,
            opponent: str) -> dict[str, Any] | None:
  """``name`` minus ``opponent`` (ACC) paired over the seeds both finished.

  Returns:
    :func:`experiments.metrics.paired_difference` of the two, or None when
    either is missing or fewer than two seeds finished in both.
  """
  blocks = result['methods']
  if name not in blocks or opponent not in blocks:
    return None
  ours = seed_accuracies(blocks[name], result['seeds'])
  theirs = seed_accuracies(blocks[opponent], result['seeds'])
  seeds = sorted(set(ours) & set(theirs))
  if len(seeds) < 2:
    return None
  return metrics.paired_difference([ours[s] for s in seeds],
                                   [theirs[s] for s in seeds])


def p_text(p_value: float) -> str:
  """A p-value with three decimals, or ``'< 0.001'``."""
  return f'{p_value:.3f}' if p_value >= 0.001 else '< 0.001'


def p_phrase(p_value: float) -> str:
  """``'p = 0.013'`` or ``'p < 0.001'``, for running text."""
  text = p_text(p_value)
  return f'p {text}' if text.startswith('<') else f'p = {text}'


def difference_cells(difference: Mapping[str, Any]) -> list[str]:
  """Difference, 95% interval (both in pp) and p-value, as table cells."""
  mean, low, high = (tables.percent(difference[k])
                     for k in ('mean', 'low', 'high'))
  return [mean, f'[{low}, {high}]', p_text(difference['p_value'])]


def verdict(difference: Mapping[str, Any], name: str) -> str:
  """A paired difference at the 5% level, in words."""
  if not difference['significant']:
    return 'no significant difference'
  return f'{name} higher' if difference['mean'] > 0 else f'{name} lower'


def calibration(accuracies: Sequence[float], published: tuple[float, float],
                reference: literature.Reference) -> dict[str, Any]:
  """Our ACC over seeds against a published mean and spread (in %).

  Welch's t-test (:func:`experiments.metrics.welch_difference`) of our
  seeds against the published mean, with the published spread converted to
  a sample std over its runs (:meth:`~experiments.configs.literature.
  Reference.sample_std`).

  Returns:
    The test's result (``difference`` in %) and ``verdict``: ``'consistent'``
    when the difference is not significant at the 5% level, else
    ``'above'`` or ``'below'``.
  """
  mean, spread = published
  test = metrics.welch_difference([100 * a for a in accuracies], mean,
                                  reference.sample_std(spread),
                                  reference.runs)
  verdict = ('consistent' if not test['significant']
             else 'above' if test['difference'] > 0 else 'below')
  return {**test, 'verdict': verdict}


def calibration_table(results: Sequence[Mapping[str, Any]]) -> str:
  """Each baseline against the published table its protocol follows.

  Returns:
    One row per stream and published method: our ACC (mean ± sample std
    [95% interval], %), the published mean ± spread, our mean minus theirs,
    Welch's p-value and the verdict of :func:`calibration`; empty when no
    result follows a published protocol.
  """
  rows = []
  for result in results:
    reference = literature.reference_for(result)
    if reference is None:
      continue
    published = reference.numbers.get(
        streams.stream_key(result['stream'], result.get('scenario')), {})
    for name, numbers in published.items():
      block = result['methods'].get(name)
      if block is None:
        continue
      accuracies = list(seed_accuracies(block, result['seeds']).values())
      diverged = len(block.get('diverged', ()))
      ours = accuracy_interval(block, result['seeds'])
      cells = [tables.DASH, tables.DASH, 'too few finished seeds']
      if ours is not None:
        test = calibration(accuracies, numbers, reference)
        cells = [tables.one_decimal(test['difference']),
                 p_text(test['p_value']), test['verdict']]
      rows.append([
          label(result), name,
          interval_text(ours) + (f' ({diverged} diverged)' if diverged
                                 else ''),
          f'{numbers[0]:.2f} ± {numbers[1]:.2f} ({reference.name}, '
          f'{reference.spread}, {reference.runs} runs)', *cells])
  if not rows:
    return ''
  return tables.markdown_table(
      ['Stream', 'Method', 'Ours: ACC (%) ± sd [95% interval]', 'Published',
       'Ours − published (pp)', "p (Welch's t)", 'At the 5% level'], rows)


def _best(result: Mapping[str, Any], classp_based: bool) -> str | None:
  """The best method by mean ACC, CLASSP-based or not, joint apart."""
  blocks = result['methods']
  candidates = []
  for name, block in blocks.items():
    method = _trains_with(name, block)
    if (block.get('avg_acc') and method is not None
        and method != methods_lib.JOINT
        and is_classp_family(method) == classp_based):
      candidates.append(name)
  if not candidates:
    return None
  return max(sorted(candidates), key=lambda n: blocks[n]['avg_acc']['mean'])


def best_baseline(result: Mapping[str, Any]) -> str | None:
  """The best method by mean ACC that is neither CLASSP-based nor joint."""
  return _best(result, classp_based=False)


def best_classp_based(result: Mapping[str, Any]) -> str | None:
  """The best CLASSP-based method by mean ACC (CLASSP, a variant, a pairing)."""
  return _best(result, classp_based=True)


def ablation_table(results: Sequence[Mapping[str, Any]]) -> str:
  """Each CLASSP variant and pairing minus full CLASSP, per stream.

  Returns:
    One row per stream and CLASSP-based method other than ``classp``:
    the paired difference of ACC in percentage points with its 95% interval,
    p-value and verdict; empty when no stream has one.
  """
  rows = []
  for result in results:
    for name, block in sorted(result['methods'].items()):
      method = _trains_with(name, block)
      if name == CLASSP or method is None or not is_classp_family(method):
        continue
      difference = compare(result, name, CLASSP)
      if difference is None:
        rows.append([label(result), f'{name} − {CLASSP}', *[tables.DASH] * 3,
                     'not comparable (diverged or missing seeds)'])
        continue
      rows.append([label(result), f'{name} − {CLASSP}',
                   *difference_cells(difference),
                   verdict(difference, name)])
  if not rows:
    return ''
  return tables.markdown_table(['Stream', 'Comparison', 'Difference (pp)',
                 '95% interval (pp)', 'p (paired t over seeds)',
                 'At the 5% level'], rows)


def _mean_text(block: Mapping[str, Any]) -> str:
  return f'{tables.percent(block["avg_acc"]["mean"])}%'


def verdict_sentence(result: Mapping[str, Any]) -> str | None:
  """"Does CLASSP beat EWC?" on one stream, in one sentence; None if unrun."""
  blocks = result['methods']
  if CLASSP not in blocks or EWC not in blocks:
    return None
  stream = label(result)
  for name in (CLASSP, EWC):
    if not blocks[name].get('avg_acc'):
      return (f'**{stream}**: {name} diverged on every seed, so the '
              'comparison is not possible.')
  difference = compare(result, CLASSP, EWC)
  head = (f'**{stream}**: CLASSP {_mean_text(blocks[CLASSP])} vs EWC '
          f'{_mean_text(blocks[EWC])}')
  if difference is None:
    return f'{head}; too few seeds finished in both to test.'
  interval = (f'{tables.percent(difference["mean"])} pp, 95% interval '
              f'[{tables.percent(difference["low"])}, '
              f'{tables.percent(difference["high"])}], '
              f'{p_phrase(difference["p_value"])}, '
              f'{difference["n"]} seeds paired')
  if not difference['significant']:
    return f'{head}: no significant difference ({interval}).'
  answer = 'yes' if difference['mean'] > 0 else 'no, EWC is better'
  return f'{head}: {answer} ({interval}).'


def verdicts(results: Sequence[Mapping[str, Any]]) -> str:
  """:func:`verdict_sentence` of each stream, as a Markdown list."""
  sentences = [s for s in map(verdict_sentence, results) if s]
  return '\n'.join(f'- {s}' for s in sentences)


def _position(knob: Mapping[str, Any], value: float) -> float | None:
  """Where ``value`` lies in a recorded range knob, from 0 to 1."""
  if 'log_uniform' in knob:
    low, high = knob['log_uniform']
    if value <= 0 or high == low:
      return None
    return math.log(value / low) / math.log(high / low)
  if 'uniform' in knob:
    low, high = knob['uniform']
    return None if high == low else (value - low) / (high - low)
  return None


def space_edges(chosen: Mapping[str, Any],
                space: Sequence[Mapping[str, Any]]) -> list[str]:
  """Chosen values within :data:`EDGE_FRACTION` of an end of their range.

  Args:
    chosen: the chosen hyperparameters.
    space: the method's wide space as recorded in its result block
      (``search_space``: branches of ``{'knob': {'log_uniform': [lo, hi]}}``,
      see :func:`experiments.search.describe`).

  Returns:
    ``'<knob>=<value> (near the lowest, <low>)'`` or ``'(near the highest,
    <high>)'``, for every range knob of the chosen branch; 0 for a knob
    whose range also holds 0 (a threshold off), or a value at the knob's own
    limit (a decay of 1), is not an edge.
  """
  branches = [branch for branch in space if set(branch) == set(chosen)
              and all(isinstance(knob, Mapping) or knob == chosen[name]
                      for name, knob in branch.items())]
  if not branches:
    return []
  edges = []
  for name, knob in sorted(branches[0].items()):
    if not isinstance(knob, Mapping):
      continue
    position = _position(knob, chosen[name])
    if position is None or KNOB_LIMITS.get(name) == chosen[name]:
      continue
    bounds = knob.get('log_uniform') or knob.get('uniform')
    if position <= EDGE_FRACTION:
      edges.append(f'{name}={chosen[name]:.4g} (near the lowest, '
                   f'{bounds[0]:.4g})')
    elif position >= 1 - EDGE_FRACTION:
      edges.append(f'{name}={chosen[name]:.4g} (near the highest, '
                   f'{bounds[1]:.4g})')
  return edges
