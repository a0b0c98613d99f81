"""The headline across presets: CLASSP against EWC and the best baseline.

Reads the result files of every preset that searches (the literature
protocols, ``experiments/results/<preset>/``) and writes one table row and
one plot row per stream::

  python -m experiments summary

The table goes between ``<!-- results:summary:start -->`` and ``<!--
results:summary:end -->`` of the README, the plot to
``experiments/results/summary.png``.
"""

from collections.abc import Mapping, Sequence
import os
from pathlib import Path
from typing import Any, NamedTuple

from matplotlib.figure import Figure
import numpy as np

from experiments import errors
from experiments import evidence
from experiments import plots
from experiments import report
from experiments import tables
from experiments.configs import presets

CLASSP = evidence.CLASSP
EWC = evidence.EWC
SUMMARY = 'summary'  # the README section of :func:`write_summary`
SUMMARY_PLOT = 'summary.png'  # beside the presets' folders


def _difference_text(difference: Mapping[str, Any] | None) -> str:
  """``'+4.2 [3.3, 5.2], p < 0.001'`` (pp, paired over seeds), or a dash."""
  if difference is None:
    return tables.DASH
  mean, interval, _ = evidence.difference_cells(difference)
  sign = '+' if float(mean) > 0 else ''
  return f'{sign}{mean} {interval}, {evidence.p_phrase(difference["p_value"])}'


class PresetResult(NamedTuple):
  """A literature protocol's result file, for :func:`summary_table`.

  Attributes:
    preset: the preset's name, e.g. ``'hsu2018'``.
    planned: the methods its sweep runs (its tuned and fixed methods).
    result: the result file's content.
  """
  preset: str
  planned: tuple[str, ...]
  result: Mapping[str, Any]


# The summary's three differences, by their labels in the plot's legend.
_SUMMARY_LABELS = ('CLASSP − EWC', 'CLASSP − best baseline',
                   'best CLASSP-based − best baseline')


class SummaryRow(NamedTuple):
  """One stream of :func:`summary_table` and :func:`plot_summary`.

  Attributes:
    label: the stream and its preset, e.g.
      ``'permuted_mnist (`permuted_full`)'``.
    result: the result file's content.
    planned: the methods the preset's sweep runs.
    best: the best baseline (:func:`experiments.evidence.best_baseline`).
    variant: the best CLASSP-based method.
    differences: :func:`experiments.evidence.compare` of CLASSP − EWC,
      CLASSP − ``best`` and ``variant`` − ``best`` (None where one is
      missing), in the order of ``_SUMMARY_LABELS``.
  """
  label: str
  result: Mapping[str, Any]
  planned: tuple[str, ...]
  best: str | None
  variant: str | None
  differences: tuple[dict[str, Any] | None, ...]


def summary_rows(results: Sequence[PresetResult]) -> list[SummaryRow]:
  """The streams with CLASSP, each with the summary's three differences."""
  rows = []
  for preset, planned, result in results:
    if CLASSP not in result['methods']:
      continue
    best = evidence.best_baseline(result)
    variant = evidence.best_classp_based(result)
    pairs = ((CLASSP, EWC), (CLASSP, best), (variant, best))
    rows.append(SummaryRow(
        f'{evidence.label(result)} (`{preset}`)', result, planned, best,
        variant, tuple(None if None in pair else evidence.compare(result, *pair)
                       for pair in pairs)))
  return rows


def plot_summary(rows: Sequence[SummaryRow], path: Path) -> None:
  """Plots the summary's differences, each with its 95% interval.

  One row of markers per stream (:func:`summary_rows`), in percentage
  points, with a line at 0: a bar that does not cross it is significant at
  the 5% level.
  """
  fig = Figure(figsize=(9, 0.9 * len(rows) + 1.5), layout='constrained')
  ax = fig.add_subplot()
  markers = ('o', 's', 'D')
  offsets = np.linspace(0.25, -0.25, len(_SUMMARY_LABELS))
  for k, (label, marker) in enumerate(zip(_SUMMARY_LABELS, markers)):
    points = [(len(rows) - 1 - i + offsets[k], d, row)
              for i, row in enumerate(rows)
              if (d := row.differences[k]) is not None]
    if not points:
      continue
    y = np.array([p[0] for p in points])
    mean, low, high = (100 * np.array([p[1][key] for p in points])
                       for key in ('mean', 'low', 'high'))
    ax.errorbar(mean, y, xerr=[mean - low, high - mean], fmt=marker,
                capsize=3, label=label)
    if k:  # name the best baseline, or the best CLASSP-based method
      for y_k, high_k, (_, _, row) in zip(y, high, points):
        ax.annotate(row.best if k == 1 else row.variant, (high_k, y_k),
                    xytext=(4, 0), textcoords='offset points',
                    fontsize='x-small', va='center')
  ax.axvline(0, color='black', linewidth=0.8)
  ax.set_yticks(range(len(rows)),
                [row.label.replace('`', '') for row in reversed(rows)])
  ax.set_xlabel('Difference of ACC (percentage points), 95% interval')
  ax.set_title('CLASSP against EWC and the best baseline, paired over seeds')
  ax.grid(axis='x', alpha=0.3)
  fig.legend(loc='outside lower center', fontsize='small',
             ncols=len(_SUMMARY_LABELS))
  plots.save_png(fig, path)


def summary_table(rows: Sequence[SummaryRow]) -> str:
  """CLASSP against EWC and the best baseline, one row per stream.

  Args:
    rows: :func:`summary_rows` of the literature protocols' result files.

  Returns:
    Per stream: CLASSP's and EWC's ACC (mean ± sample std, %), CLASSP minus
    EWC, the best baseline (:func:`experiments.evidence.best_baseline`)
    and CLASSP minus it, and the best CLASSP-based method (a variant or a
    pairing) minus the best baseline: differences in percentage points,
    paired over seeds, with 95% intervals and p-values; then how many of
    the preset's planned methods have run. Empty if no result has CLASSP.
  """
  cells = []
  for row in rows:
    blocks = row.result['methods']
    seeds = row.result['seeds']

    def cell(name, blocks=blocks, seeds=seeds):
      if name not in blocks:
        return tables.DASH
      return report.accuracy_cell(blocks[name], None, name, seeds,
                                  interval=False)

    versus_ewc, versus_best, variant_versus_best = (
        _difference_text(d) for d in row.differences)
    cells.append([
        row.label, cell(CLASSP), cell(EWC), versus_ewc,
        tables.DASH if row.best is None else f'{row.best}: {cell(row.best)}',
        versus_best,
        tables.DASH if row.variant is None or row.best is None else
        f'{row.variant}: {variant_versus_best}',
        f'{len(set(blocks) & set(row.planned))} of {len(row.planned)}'])
  if not cells:
    return ''
  return tables.markdown_table(
      ['Stream (preset)', 'CLASSP ACC (%)', 'EWC ACC (%)',
       'CLASSP − EWC (pp)', 'Best baseline ACC (%)',
       'CLASSP − best baseline (pp)',
       'Best CLASSP-based − best baseline (pp)', 'Methods run'], cells)


SUMMARY_NOTE = (
    'ACC after the last task, mean ± sample std over the reported seeds. '
    'Differences in percentage points, paired over seeds, with a 95% '
    'Student-t interval and the p-value of a paired t-test. The best '
    'baseline is the best method run so far that is neither CLASSP-based '
    'nor `joint`; the best CLASSP-based method is the best of CLASSP, its '
    'ablations and its pairings, picked on the same test numbers, so its '
    'p-value is that of one comparison among several (a Bonferroni '
    'correction multiplies it by the number of CLASSP-based methods run). '
    '`python -m experiments summary` writes this table from the result '
    'files.')


def load_presets(results_root: str | os.PathLike[str]) -> list[PresetResult]:
  """The result files of the presets that search (the literature protocols).

  Args:
    results_root: the folder of the presets' result folders (e.g.
      ``experiments/results``, holding ``hsu2018/``, ``text_wide/``...).

  Returns:
    Per preset with a search and a results folder of its own (by name), its
    result files that record a search, by stream and scenario.
  """
  loaded = []
  for preset in sorted(presets.PRESETS.values(), key=lambda p: p.name):
    folder = Path(results_root) / preset.results
    if preset.search is None or not preset.results or not folder.is_dir():
      continue
    planned = tuple(dict.fromkeys(
        (*(preset.sweep_methods or preset.methods), *preset.fixed)))
    loaded += [PresetResult(preset.name, planned, result)
               for result in report.load_results(folder)
               if 'search' in result]
  return loaded


def write_summary(results_root: str | os.PathLike[str],
                  readme_path: str | os.PathLike[str]) -> str:
  """Writes :func:`summary_table` between ``<!-- results:summary:... -->``.

  Also draws :func:`plot_summary` as ``<results_root>/summary.png`` and
  links it below the table.

  Returns:
    The table written.

  Raises:
    experiments.errors.InputError: if no literature protocol has results
      with CLASSP, or ``readme_path`` lacks the markers (nothing is written).
  """
  rows = summary_rows(load_presets(results_root))
  table = summary_table(rows)
  if not table:
    raise errors.InputError(
        f'{results_root} holds no result of a literature protocol with '
        'CLASSP; run `python -m experiments sweep --preset hsu2018` (or '
        'another preset with a search) first.')
  readme_path = Path(readme_path)
  plot_path = Path(results_root) / SUMMARY_PLOT
  link = report.readme_link(plot_path, readme_path)
  readme_text = report.replace_between_markers(
      readme_path, *report.readme_markers(SUMMARY),
      f'\n{table}\n\n{SUMMARY_NOTE}\n\n'
      f'![CLASSP against EWC and the best baseline, per stream]({link})\n')
  plot_summary(rows, plot_path)
  report.write_keeping_newlines(readme_path, readme_text)
  return table
