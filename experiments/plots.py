"""The plots of the experiment results (PNG, matplotlib's Agg backend).

Per stream (:data:`STREAM_PLOTS`): the mean accuracy over the tasks seen so
far after each task, the final accuracy per task, and each method's optimizer
and regularizer state. One color per method across every plot of a report.
"""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import numpy as np

from experiments import evidence
from experiments import methods as methods_lib
from experiments import metrics

JOINT = methods_lib.JOINT  # the upper bound, drawn apart

# Above this ratio of largest to smallest nonzero state, memory plots use a
# log scale.
LOG_SCALE_RATIO = 100.0


def method_colors(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
  """One color per method name, the same in every plot."""
  names = sorted({m for result in results for m in result['methods']})
  cmap = colormaps['tab20' if len(names) > 10 else 'tab10']
  return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def accuracy_over_tasks(
    acc_matrices: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
  """Mean accuracy on the tasks seen so far after each task, over seeds.

  Args:
    acc_matrices: the ``[T, T]`` accuracy matrix of each seed.

  Returns:
    ``(mean, std)`` over seeds, each ``[T]``: entry ``i`` summarizes
    ``mean_{j <= i} R[i, j]``.
  """
  matrices = [np.asarray(r, dtype=np.float64) for r in acc_matrices]
  summaries = [
      metrics.summarize([metrics.average_accuracy(r[:i, :i])
                         for r in matrices])
      for i in range(1, len(matrices[0]) + 1)]
  return (np.array([s['mean'] for s in summaries]),
          np.array([s['std'] for s in summaries]))


def save_png(fig: Figure, path: Path) -> None:
  """Writes ``fig`` as a PNG with the Agg backend."""
  FigureCanvasAgg(fig)
  fig.savefig(path, format='png', dpi=100, metadata={'Software': None})


def _finish(fig: Figure, ax: Any, path: Path, xlabel: str, ylabel: str,
            title: str) -> None:
  """Labels a per-task line plot, adds the legend and saves it."""
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.xaxis.get_major_locator().set_params(integer=True)
  ax.grid(alpha=0.3)
  ax.legend(fontsize='small', loc='center left', bbox_to_anchor=(1, 0.5))
  save_png(fig, path)


def _line_plot() -> tuple[Figure, Any]:
  """A figure and axes for a per-task line plot."""
  fig = Figure(figsize=(7, 4.5), layout='constrained')
  return fig, fig.add_subplot()


def _plot_acc_over_tasks(result: dict[str, Any], colors: dict[str, Any],
                         path: Path) -> None:
  """Plots the mean ACC over the tasks seen so far after each task."""
  fig, ax = _line_plot()
  methods = result['methods']
  for name in evidence.scored(methods):
    method = methods[name]
    if name == JOINT:
      ax.axhline(100 * method['avg_acc']['mean'], color=colors[name],
                 linestyle='--', label=name)
      continue
    mean, std = (100 * a for a in accuracy_over_tasks(
        method['acc_matrix']['per_seed']))
    steps = np.arange(1, len(mean) + 1)
    ax.plot(steps, mean, marker='o', color=colors[name], label=name)
    ax.fill_between(steps, mean - std, mean + std, color=colors[name],
                    alpha=0.15, linewidth=0)
  _finish(fig, ax, path, 'Tasks trained', 'Mean accuracy on tasks seen (%)',
          f'{evidence.label(result)}: accuracy over tasks seen')


def _plot_final_per_task(result: dict[str, Any], colors: dict[str, Any],
                         path: Path) -> None:
  """Plots each method's mean final accuracy on every task."""
  fig, ax = _line_plot()
  methods = result['methods']
  for name in evidence.scored(methods):
    final = 100 * np.asarray(methods[name]['acc_matrix']['mean'])[-1]
    ax.plot(range(1, len(final) + 1), final, marker='o', color=colors[name],
            linestyle='--' if name == JOINT else '-', label=name)
  _finish(fig, ax, path, 'Task', 'Final accuracy (%)',
          f'{evidence.label(result)}: final accuracy per task')


def _format_bytes(num_bytes: float) -> str:
  """``num_bytes`` with a binary unit, e.g. ``'1.5 MiB'``."""
  if num_bytes < 1024:
    return f'{num_bytes:.0f} B'
  for unit in ('KiB', 'MiB', 'GiB'):
    num_bytes /= 1024
    if num_bytes < 1024 or unit == 'GiB':
      return f'{num_bytes:.1f} {unit}'


def _plot_memory(result: dict[str, Any], colors: dict[str, Any],
                 path: Path) -> None:
  """Plots the state bytes of each method as horizontal bars."""
  methods = result['methods']
  names = [m for m in sorted(methods)
           if methods[m].get('state_bytes') is not None]
  sizes = [methods[m]['state_bytes'] for m in names]
  fig = Figure(figsize=(7, 0.4 * len(names) + 1.5), layout='constrained')
  ax = fig.add_subplot()
  ax.barh(names, sizes, color=[colors[m] for m in names])
  ax.invert_yaxis()
  positive = [s for s in sizes if s > 0]
  log_scale = bool(positive) and (
      max(positive) / min(positive) > LOG_SCALE_RATIO)
  if log_scale:
    ax.set_xscale('log')
  # Zero-byte bars vanish on a log scale; their labels sit at the axis floor.
  floor = min(positive) if log_scale else 0
  for i, size in enumerate(sizes):
    ax.annotate(f' {_format_bytes(size)}', (max(size, floor), i),
                va='center', fontsize='small')
  param_bytes = {methods[m].get('param_bytes') for m in names} - {None}
  if len(param_bytes) == 1:
    ax.axvline(param_bytes.pop(), color='gray', linestyle=':',
               label='parameters')
    ax.legend(fontsize='small', loc='lower right')
  ax.set_xlabel('State at the end of the stream (bytes)')
  ax.set_title(f'{evidence.label(result)}: optimizer + regularizer state')
  ax.margins(x=0.25)
  save_png(fig, path)


# The plots of each stream: file name suffix -> title and plotting function.
_PLOTS = {
    'acc_over_tasks': ('Average accuracy over the tasks seen so far',
                       _plot_acc_over_tasks),
    'final_per_task': ('Final accuracy per task', _plot_final_per_task),
    'memory': ('Optimizer and regularizer state', _plot_memory),
}

# File name suffix -> title of each plot of a stream.
STREAM_PLOTS = {kind: title for kind, (title, _) in _PLOTS.items()}


def write_plots(results: Sequence[dict[str, Any]], plots_dir: Path,
                file_name: Callable[[dict[str, Any]], str]) -> None:
  """Writes every :data:`STREAM_PLOTS` of each result into ``plots_dir``.

  Args:
    results: loaded result files (:func:`experiments.report.load_results`).
    plots_dir: the folder (created if missing).
    file_name: a result's file name stem, e.g. ``'split_mnist_class'``;
      plots are ``<stem>_<kind>.png``.
  """
  plots_dir.mkdir(exist_ok=True)
  colors = method_colors(results)
  for result in results:
    for kind, (_, plot) in _PLOTS.items():
      plot(result, colors, plots_dir / f'{file_name(result)}_{kind}.png')
