"""Markdown tables of the experiment results, RESULTS.md and the README.

Reads the result files ``<results_dir>/<stream>[_<scenario>].json`` and writes
``<results_dir>/RESULTS.md`` with PNG plots (:mod:`experiments.plots`) in
``<results_dir>/plots/``::

  python -m experiments report

Accuracies are fractions in the JSON files and percentages in the report. The
output depends only on the JSON files (sorted keys, no timestamps), so
regenerating it from unchanged results gives byte-identical Markdown.
"""

from collections.abc import Mapping, Sequence
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from experiments import errors
from experiments import evidence
from experiments import methods as methods_lib
from experiments import plots
from experiments import streams
from experiments import tables
from experiments.configs import literature

JOINT = methods_lib.JOINT  # the upper bound, drawn apart
RESULTS_FILE = 'RESULTS.md'
PLOTS_DIR = 'plots'
README_START = '<!-- results:start -->'
README_END = '<!-- results:end -->'

_MIB = 2**20


def result_name(result: dict[str, Any]) -> str:
  """File stem of a result: ``'<stream>'`` or ``'<stream>_<scenario>'``."""
  return streams.stream_key(result['stream'], result.get('scenario'))


def load_results(results_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
  """Loads the result files in ``results_dir``, sorted by stream and scenario.

  Args:
    results_dir: folder of ``*.json`` result files. Subfolders and JSON files
      that are not result objects (no ``'methods'`` key) are ignored.

  Returns:
    The parsed results.

  Raises:
    json.JSONDecodeError: if a ``*.json`` file is not valid JSON.
  """
  results = []
  for path in sorted(Path(results_dir).glob('*.json')):
    if not path.is_file():
      continue
    content = json.loads(path.read_text(encoding='utf-8'))
    if isinstance(content, dict) and 'methods' in content:
      results.append(content)
  return sorted(
      results, key=lambda r: (r['stream'], r.get('scenario') or ''))


def _mean_std(summary: dict[str, float] | None, scale: float = 100.0) -> str:
  """``'mean ± std'`` of a summary, scaled, one decimal; a dash if None."""
  if summary is None:
    return tables.DASH
  return ' ± '.join(tables.one_decimal(scale * summary[k])
                    for k in ('mean', 'std'))


def _format_value(value: Any) -> str:
  """Compact text of a hyperparameter or protocol value."""
  if isinstance(value, str):
    return value
  if isinstance(value, float):
    return f'{value:.4g}'
  return json.dumps(value, sort_keys=True)


def _hyperparams(hyperparams: dict[str, Any] | None) -> str:
  """``'k=v, ...'`` in key order; a dash if there are none."""
  if not hyperparams:
    return tables.DASH
  return ', '.join(f'{k}={_format_value(v)}'
                   for k, v in sorted(hyperparams.items()))


def _state(method: dict[str, Any]) -> tuple[str, str]:
  """State memory in MiB and as a multiple of the parameter bytes."""
  state_bytes = method.get('state_bytes')
  if state_bytes is None:
    return tables.DASH, tables.DASH
  param_bytes = method.get('param_bytes')
  ratio = f'{state_bytes / param_bytes:.1f}x' if param_bytes else tables.DASH
  return f'{state_bytes / _MIB:.2f}', ratio


def _best_accuracy(methods: dict[str, Any]) -> float | None:
  """Best mean ACC over the non-joint methods; None if there are none."""
  accs = [v['avg_acc']['mean'] for m, v in methods.items()
          if m != JOINT and v.get('avg_acc')]
  return max(accs) if accs else None


def accuracy_cell(method: dict[str, Any], best: float | None, name: str,
                  seeds: Sequence[int] | None = None,
                  interval: bool = True) -> str:
  """ACC (bold if best), with diverged seeds counted.

  ``'mean ± std'`` (population std); with the result's ``seeds`` (the
  literature protocols), mean ± sample std, and its 95% interval unless
  ``interval`` is false; one finished seed shows its ACC alone.
  """
  diverged = len(method.get('diverged', ()))
  if not method.get('avg_acc'):
    return f'diverged ({diverged}/{diverged} seeds)'
  cell = _mean_std(method['avg_acc'])
  if seeds is not None:
    summary = evidence.accuracy_interval(method, seeds)
    if summary is None:
      cell = f'{tables.percent(method["avg_acc"]["mean"])} (1 seed)'
    elif interval:
      cell = evidence.interval_text(summary)
    else:
      cell = (f'{tables.percent(summary["mean"])} ± '
              f'{tables.percent(summary["std"])}')
  if name != JOINT and method['avg_acc']['mean'] == best:
    cell = f'**{cell}**'
  if diverged:
    total = diverged + len(method['acc_matrix']['per_seed'])
    cell += f' ({diverged}/{total} seeds diverged)'
  return cell


def methods_table(methods: dict[str, Any],
                  seeds: Sequence[int] | None = None,
                  published: dict[str, tuple[float, float]] | None = None,
                  reference: str = '') -> str:
  """Markdown table of methods' metrics, best ACC first.

  Args:
    methods: method name to its results (``avg_acc``, ``bwt``, ...).
    seeds: the result file's seeds; when given, ACC is shown as mean ±
      sample std with its 95% interval (else mean ± population std).
    published: published ACC (mean, spread in %) by method, shown in a
      column named after ``reference``.
    reference: the published table's name.

  Returns:
    One row per method: ACC, BWT and forgetting (mean ± std, %), state
    memory (MiB and multiple of params), wall time (s) and hyperparameters.
    The best non-joint ACC is bold.
  """
  best = _best_accuracy(methods)
  rows = []
  for name in evidence.by_accuracy(methods):
    method = methods[name]
    row = [name, accuracy_cell(method, best, name, seeds)]
    if published is not None:
      numbers = published.get(name)
      row.append(tables.DASH if numbers is None
                 else f'{numbers[0]:.2f} ± {numbers[1]:.2f}')
    rows.append([
        *row, _mean_std(method.get('bwt')),
        _mean_std(method.get('forgetting')),
        *_state(method),
        _mean_std(method.get('wall_s'), scale=1.0),
        _hyperparams(method.get('hyperparams')),
    ])
  accuracy_header = ('ACC (%) ± sd [95% interval]' if seeds is not None
                     else 'ACC (%)')
  return tables.markdown_table(
      ['Method', accuracy_header,
       *([f'{reference} ACC (%)'] if published is not None else []),
       'BWT (pp)', 'Forgetting (pp)', 'State (MiB)', 'State / params',
       'Wall time (s)', 'Hyperparameters'], rows)


def result_table(result: dict[str, Any]) -> str:
  """:func:`methods_table` of a result file, as its protocol calls for.

  A result tuned by a wide search (the literature protocols) shows
  intervals, and the published numbers when its protocol follows a
  published table (:mod:`experiments.configs.literature`).
  """
  if 'search' not in result:
    return methods_table(result['methods'])
  reference = literature.reference_for(result)
  return methods_table(
      result['methods'], result['seeds'],
      published=None if reference is None else reference.numbers.get(
          result_name(result), {}),
      reference='' if reference is None else reference.name)


def headline_table(results: Sequence[dict[str, Any]]) -> str:
  """Markdown table of ACC (mean ± std, %) by method and stream.

  Args:
    results: loaded results, e.g. from :func:`load_results`.

  Returns:
    One row per method (sorted by name), one column per stream/scenario (in
    the order of ``results``); a dash where a method was not run. The best
    non-joint ACC of each column is bold. A result of a literature protocol
    (one with a ``search``) shows mean ± sample std, and the published
    numbers its protocol follows in the next column.
  """
  names = sorted({m for result in results for m in result['methods']})
  best = [_best_accuracy(result['methods']) for result in results]
  references = [literature.reference_for(r) if 'search' in r else None
                for r in results]
  rows = []
  for name in names:
    row = [name]
    for result, column_best, reference in zip(results, best, references):
      method = result['methods'].get(name)
      if method is None:
        row.append(tables.DASH)
      else:
        # The literature protocols: mean ± sample std (ddof=1).
        row.append(accuracy_cell(
            method, column_best, name,
            result['seeds'] if 'search' in result else None, interval=False))
      if reference is not None:
        numbers = reference.numbers.get(result_name(result), {}).get(name)
        row.append(tables.DASH if numbers is None
                   else f'{numbers[0]:.2f} ± {numbers[1]:.2f}')
    rows.append(row)
  header = ['Method']
  for result, reference in zip(results, references):
    header.append(evidence.label(result))
    if reference is not None:
      header.append(f'{evidence.label(result)}: {reference.name}')
  return tables.markdown_table(header, rows)


CLASSP = evidence.CLASSP
EWC = evidence.EWC


def comparison_table(results: Sequence[dict[str, Any]],
                     method: str = CLASSP) -> str:
  """Markdown table: ``method`` against EWC and the best baseline.

  Args:
    results: loaded results.
    method: the method compared.

  Returns:
    Per stream, the difference in ACC (percentage points) of ``method`` minus
    EWC and minus the best baseline (by mean ACC; neither CLASSP-based nor
    joint, :func:`experiments.evidence.best_baseline`), with its 95%
    interval and the two-sided p-value of a t-test paired over seeds
    (:func:`experiments.metrics.paired_difference`); a verdict at the 5%
    level, over the seeds both finished. Streams without ``method``, and
    pairs with fewer than two such seeds, are left out.
  """
  rows = []
  for result in results:
    if not result['methods'].get(method, {}).get('acc_matrix'):
      continue
    opponents = [EWC] if EWC in result['methods'] else []
    best = evidence.best_baseline(result)
    if best is not None and best not in opponents:
      opponents.append(best)
    for opponent in opponents:
      difference = evidence.compare(result, method, opponent)
      if difference is None:
        continue
      label = opponent if opponent == EWC else f'{opponent} (best baseline)'
      rows.append([evidence.label(result), f'{method} − {label}',
                   *evidence.difference_cells(difference),
                   evidence.verdict(difference, method)])
  return tables.markdown_table(
      ['Stream', 'Comparison', 'Difference (pp)', '95% interval (pp)',
       'p (paired t over seeds)', 'At the 5% level'], rows)


def _final_per_task_table(methods: dict[str, Any]) -> str:
  """Markdown table of the mean final accuracy (%) on each task."""
  rows = []
  for name in evidence.scored(methods):
    final = np.asarray(methods[name]['acc_matrix']['mean'])[-1]
    rows.append([name, *(tables.one_decimal(100 * acc) for acc in final)])
  if not rows:
    return 'Every method diverged.'
  header = [f'Task {t}' for t in range(1, len(rows[0]))]
  return tables.markdown_table(['Method', *header], rows)


# How each draw of the search picks a method's configurations.
_DRAWS = {
    'grid': 'drawn from its grid, balanced over the knob values (a method '
            'with more knobs sees fewer values of each: CLASSP searches '
            'learning rate, threshold and power, so it sees fewer learning '
            'rates than the one-knob optimizers)',
    'quasi_random': 'drawn quasi-randomly over its whole space, named points '
                    'always included and counted',
}


def _halving_words(search: Mapping[str, Any]) -> str:
  """How a search screened its configurations, as a clause of the list."""
  halving = search['halving']
  if halving is None:
    return ''
  first_seed = search['tuning_seeds'][0]
  keep = halving['keep']
  narrower = halving.get('narrower_budget')
  finalists = f'the best {keep}' + (
      '' if narrower is None else
      f' (with the best {keep} of the first {narrower}: the finalists of '
      f'the {narrower}-configuration search this one widens)')
  if halving.get('first_tasks') is None:
    return (f'; each trained on every task with seed {first_seed}, '
            f'{finalists} also with the other tuning seeds')
  return (f"; each screened on the first {halving['first_tasks']} tasks "
          f'with seed {first_seed}, {finalists} trained on every task with '
          'every tuning seed')


def _protocol(result: dict[str, Any]) -> str:
  """Markdown list of the seeds, the search and the protocol settings."""
  seeds = ', '.join(str(s) for s in result['seeds'])
  search = result.get('search')
  if search is None:
    lines = [f"- seeds: {seeds} (hyperparameters tuned on seed "
             f"{result['tuning_seed']})"]
  else:
    tuning = ', '.join(str(s) for s in search['tuning_seeds'])
    lines = [f'- seeds: {seeds} (hyperparameters tuned on seeds {tuning})',
             f"- search: {search['budget']} configurations per method, "
             + _DRAWS[search['draw']]
             + _halving_words(search)
             + '; chosen by validation ACC averaged over the tuning seeds']
  lines += [f'- {k}: {_format_value(v)}'
            for k, v in sorted(result.get('protocol', {}).items())]
  return '\n'.join(lines)


def grid_edges(chosen_config: dict[str, Any],
               space: Sequence[dict[str, Any]]) -> list[str]:
  """The chosen knob values that sit at the edge of the search space.

  Args:
    chosen_config: the hyperparameters a sweep chose.
    space: every configuration the method could have been given (its search
      space, :func:`experiments.methods.search_space`), not only the drawn
      ones.

  Returns:
    ``'<knob>=<value> (lowest)'`` or ``'(highest)'`` for each numeric knob
    that the space gives at least two values and whose chosen value is the
    smallest or largest of them: a better value may lie beyond the space.
    Values at a knob's own limit (0, or 1 for a decay) are not edges.
    Only configurations with the chosen categorical knobs (e.g. the same
    ``base`` optimizer) are compared.
  """

  def numeric(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)

  categorical = {k: v for k, v in chosen_config.items() if not numeric(v)}
  space = [config for config in space
           if all(config.get(k) == v for k, v in categorical.items())]
  edges = []
  for knob, chosen in sorted(chosen_config.items()):
    values = {config[knob] for config in space if knob in config}
    if len(values) < 2 or not all(map(numeric, {chosen, *values})):
      continue
    if chosen == min(values) and chosen != 0:
      edges.append(f'{knob}={_format_value(chosen)} (lowest)')
    elif chosen == max(values) and evidence.KNOB_LIMITS.get(knob) != chosen:
      edges.append(f'{knob}={_format_value(chosen)} (highest)')
  return edges


def edge_notes(methods: dict[str, Any]) -> str:
  """Markdown list of the swept methods whose choice sits at an edge.

  A block that records its wide search space is judged against it
  (:func:`experiments.evidence.space_edges`); a grid-tuned one against the
  method's grid (:func:`grid_edges`).
  """
  lines = []
  for name in sorted(methods):
    block = methods[name]
    if 'grid' not in block:
      continue  # not tuned
    space = block.get('search_space')
    if space and isinstance(space[0], dict) and any(
        isinstance(knob, dict) for knob in space[0].values()):
      edges = evidence.space_edges(block['hyperparams'], space)
    else:
      edges = grid_edges(block['hyperparams'], methods_lib.search_space(
          methods_lib.parse_method(name)))
    if edges:
      lines.append(f'- {name}: {", ".join(edges)}')
  return '\n'.join(lines)


def _compute_cost(methods: dict[str, Any], num_seeds: int) -> str:
  """One line: the runs a stream's sweep trained and their wall time.

  Only for blocks that record their tuning runs' wall time (sweeps since
  it is recorded); empty otherwise.
  """
  blocks = [b for b in methods.values() if 'wall_s' in b]
  tuned = [b for b in blocks if 'tuning_runs' in b]
  if not tuned or any('wall_s' not in r for b in tuned
                      for r in b['tuning_runs']):
    return ''
  tuning = [r['wall_s'] for b in tuned for r in b['tuning_runs']]
  seconds = sum(tuning) + sum(b['wall_s']['mean'] * num_seeds
                              for b in blocks)
  runs = len(tuning) + num_seeds * len(blocks)
  return (f'Compute: {runs} runs ({len(tuning)} of them tuning), '
          f'{seconds / 3600:.1f} h of wall time in all.')


def _section(result: dict[str, Any]) -> str:
  """The RESULTS.md section of one stream/scenario."""
  name, methods = result_name(result), result['methods']
  parts = [f'## {evidence.label(result)}', '### Protocol', _protocol(result)]
  if result.get('notes'):
    parts += ['### Notes', '\n'.join(f'- {n}' for n in result['notes'])]
  parts += ['### Results', result_table(result)]
  if notes := edge_notes(methods):
    parts += ['Chosen at the edge of the search space (a better value may '
              'lie beyond it):', notes]
  for preset, content in sorted(result.get('presets', {}).items()):
    parts.append(f'### Preset: {preset}')
    if content.get('description'):
      parts.append(content['description'])
    parts.append(methods_table(content['methods']))
  blocks = [*methods.values(), *(m for content in result.get(
      'presets', {}).values() for m in content['methods'].values())]
  devices = sorted({d for block in blocks for d in block.get('devices', ())})
  if devices:
    parts.append(f'Ran on: {"; ".join(devices)}.')
  if cost := _compute_cost(methods, len(result['seeds'])):
    parts.append(cost)
  parts += ['### Final accuracy per task (%)', _final_per_task_table(methods),
            '### Plots']
  parts += [f'![{title}]({PLOTS_DIR}/{name}_{kind}.png)'
            for kind, title in plots.STREAM_PLOTS.items()]
  return '\n\n'.join(parts)


def results_markdown(results: Sequence[dict[str, Any]]) -> str:
  """The full text of RESULTS.md."""
  intro = (
      'Generated by `python -m experiments report` from the JSON files in '
      'this folder.\n\n'
      'ACC: mean accuracy over all tasks after training on the last one. '
      'BWT: backward transfer (negative means forgetting). Forgetting: mean '
      'drop from each task\'s best accuracy to its final one. All are mean '
      '± population std (ddof=0) over the seeds, in % (points), except ACC '
      'in the literature protocols (results with a search: mean ± sample '
      'std, ddof=1, with the 95% Student-t interval of the mean). State: '
      'optimizer and regularizer state at the end of the stream, after the '
      'last task\'s consolidation (what a learner carries into a next task; '
      'EWC thus holds one Fisher and anchor per task), parameters excluded, '
      'in MiB and as a multiple of the parameter bytes. Wall time: seconds '
      'per seed for the whole run: compilation, training, the task-end '
      'importance passes (Fisher, MAS) and the test and validation '
      'evaluations after every task. The best ACC other than `joint` is '
      'bold; `joint` trains on all tasks at once (an upper bound), so it has '
      'no BWT or forgetting. A run whose loss or weights stop being finite '
      'is stopped and reported as diverged, never as a score: "diverged '
      '(k/n seeds)" when every seed diverged, else the finished seeds\' '
      'metrics with the diverged count. Runs recorded before this check '
      '(those without a `diverged` field) count as finished; '
      '`python -m experiments verify` retrains any of them to check.')
  parts = ['# Results', intro]
  if verdict_list := evidence.verdicts(
      [r for r in results if 'search' in r]):
    parts += ['## Does CLASSP beat EWC?', verdict_list]
  parts += ['## Summary: ACC (%)', headline_table(results),
            '## CLASSP against EWC and the best baseline',
            COMPARISON_NOTE, comparison_table(results)]
  if calibration := evidence.calibration_table(results):
    parts += ['## Calibration against the literature', CALIBRATION_NOTE,
              calibration]
  if ablations := evidence.ablation_table(results):
    parts += ["## CLASSP's ablations and pairings", ABLATION_NOTE, ablations]
  parts += [_section(result) for result in results]
  return '\n\n'.join(parts) + '\n'


def replace_between_markers(path: Path, start_marker: str, end_marker: str,
                            body: str) -> str:
  """The text of ``path`` with ``body`` between the two markers.

  Raises:
    experiments.errors.InputError: (a ValueError) naming the file, if the
      markers are missing or out of order.
  """
  with open(path, encoding='utf-8', newline='') as f:
    text = f.read()
  start = text.find(start_marker)
  end = text.find(end_marker, start + len(start_marker))
  if start < 0 or end < 0:
    raise errors.InputError(
        f'{path} lacks the markers {start_marker!r} and {end_marker!r} '
        '(in that order); add them where the results go, or pass another '
        '--section or --readme.')
  return text[:start + len(start_marker)] + body + text[end:]


COMPARISON_NOTE = (
    'Differences of ACC in percentage points, the same seeds paired (every '
    'method of a stream trains on the same seeds: the same data, order and '
    'initialization), with a 95% Student-t interval and the two-sided '
    'p-value of a paired t-test; the best baseline is the best method that '
    'is neither CLASSP-based nor `joint`.')


CALIBRATION_NOTE = (
    'Each baseline against the published table whose protocol it follows. '
    'Ours: mean ± sample std over the reported seeds and the 95% Student-t '
    'interval of the mean. The difference is tested with Welch\'s t-test '
    'against the published mean, its spread converted to a sample std over '
    'its runs: "consistent" when not significant at the 5% level, else '
    '"above" or "below".')

ABLATION_NOTE = (
    'Each CLASSP variant and pairing minus full CLASSP (ACC, percentage '
    'points, paired over seeds, 95% Student-t interval and paired t-test). '
    '`classp_adagrad`: power 2, threshold 0 (AdaGrad as CLASSP); '
    '`classp_mask_only`: the threshold alone (SGD behind the mask); '
    '`classp_accumulator_only`: power 1, threshold 0; '
    "`classp_author_schedule`: the author's schedule (task 1 unscaled, later "
    'tasks scaled at threshold 0); `classp+<regularizer>`: CLASSP under the '
    "regularizer's penalty. Each is tuned with the same budget.")


def readme_markers(section: str | None = None) -> tuple[str, str]:
  """The README markers of a results section (None: the main one)."""
  if section is None:
    return README_START, README_END
  return f'<!-- results:{section}:start -->', f'<!-- results:{section}:end -->'


def _readme_body(results: Sequence[dict[str, Any]], link: str) -> str:
  """What goes between a README section's markers."""
  parts = []
  if verdict_list := evidence.verdicts([r for r in results if 'search' in r]):
    parts += ['Does CLASSP beat EWC?', verdict_list]
  parts += [headline_table(results), COMPARISON_NOTE,
            comparison_table(results)]
  if calibration := evidence.calibration_table(results):
    parts += [CALIBRATION_NOTE, calibration]
  parts.append(f'Full results: [{link}]({link})')
  return '\n' + '\n\n'.join(parts) + '\n'


def write_report(results_dir: str | os.PathLike[str],
                 readme_path: str | os.PathLike[str] | None = None,
                 section: str | None = None) -> Path:
  """Writes RESULTS.md and the plots of the results in ``results_dir``.

  Args:
    results_dir: folder of result JSON files (see :func:`load_results`).
    readme_path: optional Markdown file whose text between
      ``<!-- results:start -->`` and ``<!-- results:end -->`` is replaced by
      the headline tables and a link to RESULTS.md; nothing else changes.
    section: the README section instead, between
      ``<!-- results:<section>:start -->`` and ``<!-- results:<section>:end
      -->`` (:func:`readme_markers`).

  Returns:
    The path of RESULTS.md.

  Raises:
    experiments.errors.InputError: if ``results_dir`` holds no result file,
      or ``readme_path`` lacks the markers (nothing is written).
  """
  results_dir = Path(results_dir)
  results = load_results(results_dir)
  if not results:
    raise errors.InputError(
        f'{results_dir} holds no result files (<stream>.json); run '
        '`python -m experiments sweep` first, or pass --out with the folder '
        'that holds them.')
  markdown_path = results_dir / RESULTS_FILE
  readme_text = None
  if readme_path is not None:
    readme_path = Path(readme_path)
    link = readme_link(markdown_path, readme_path)
    readme_text = replace_between_markers(
        readme_path, *readme_markers(section), _readme_body(results, link))

  plots.write_plots(results, results_dir / PLOTS_DIR, result_name)
  markdown_path.write_text(results_markdown(results), encoding='utf-8')
  if readme_text is not None:
    write_keeping_newlines(readme_path, readme_text)
  return markdown_path


def readme_link(target: Path, readme_path: Path) -> str:
  """``target`` as a Markdown link from ``readme_path``'s folder."""
  return Path(os.path.relpath(target, readme_path.parent)).as_posix()


def write_keeping_newlines(path: Path, text: str) -> None:
  """Writes ``text`` as read by :func:`replace_between_markers` (no newline
  translation, so a file's CRLF or LF endings stay as they were)."""
  with open(path, 'w', encoding='utf-8', newline='') as f:
    f.write(text)
