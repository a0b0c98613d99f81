"""Tests of experiments.plots."""

import numpy as np

from experiments import plots
from tests.experiments import result_blocks


def test_accuracy_over_tasks():
  seeds = [[[0.9, 0.1], [0.7, 0.8]], [[0.7, 0.1], [0.5, 0.6]]]
  mean, std = plots.accuracy_over_tasks(seeds)
  # After task 1: 0.9 and 0.7; after task 2: (0.7 + 0.8) / 2 = 0.75 and
  # (0.5 + 0.6) / 2 = 0.55.
  np.testing.assert_allclose(mean, [0.8, 0.65])
  np.testing.assert_allclose(std, [0.1, 0.1])


def test_a_method_keeps_its_color_across_streams():
  first = {'methods': {'classp': {}, 'ewc': {}}}
  second = {'methods': {'ewc': {}, 'sgd': {}}}
  colors = plots.method_colors([first, second])
  assert sorted(colors) == ['classp', 'ewc', 'sgd']
  assert len(set(colors.values())) == 3


def test_write_plots_writes_each_plot_of_each_result(tmp_path):
  result = result_blocks.permuted_mnist()
  plots.write_plots([result], tmp_path / 'plots', lambda r: r['stream'])
  written = sorted(p.name for p in (tmp_path / 'plots').iterdir())
  assert written == sorted(f'permuted_mnist_{kind}.png'
                           for kind in plots.STREAM_PLOTS)
  for name in written:
    png = (tmp_path / 'plots' / name).read_bytes()
    assert png.startswith(result_blocks.PNG_MAGIC), name
