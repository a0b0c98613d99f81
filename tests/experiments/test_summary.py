"""Tests of experiments.summary."""

import json

import numpy as np
import pytest

from experiments import summary
from tests.experiments import result_blocks

PNG_MAGIC = result_blocks.PNG_MAGIC
_three_seed_result = result_blocks.three_seed_result
_permuted_mnist = result_blocks.permuted_mnist


def test_summary_table_compares_classp_with_ewc_and_the_best_baseline():
  # The worked example of test_comparison_table_pairs_seeds_and_names_the_
  # verdict: classp - ewc = 5.0 pp [2.5, 7.5], p = 0.013. mas (80.0%) is the
  # best baseline: classp - mas = [-0.1, 0.1, 0.0], mean 0, sample std 0.1,
  # interval 0 +- 4.303 * 0.1 / sqrt(3) = +-24.8 pp. A pairing at 0.85, 0.87,
  # 0.83 is the best CLASSP-based method: its differences from mas are
  # classp's plus 0.05, so the interval is 5.0 +- 24.8 pp and t = 0.05 /
  # (0.1 / sqrt(3)) = 0.866 on 2 degrees of freedom: p = 1 - t / sqrt(t**2
  # + 2) = 0.478.
  result = _three_seed_result(ewc_accs=[0.75, 0.76, 0.74],
                              other_accs=[0.90, 0.72, 0.78])
  pairing = result['methods']['classp']
  result['methods']['classp+mas'] = {
      **pairing, 'acc_matrix': {'per_seed': [[[0.85]], [[0.87]], [[0.83]]]},
      'avg_acc': {'mean': 0.85, 'std': 0.0163}}
  result['search'] = {'draw': 'quasi_random'}
  table = summary.summary_table(summary.summary_rows([summary.PresetResult(
      'toy_preset', ('classp', 'ewc', 'mas', 'sgd', 'classp+mas', 'joint'),
      result)]))
  header, _, row = table.splitlines()
  assert header.split(' | ')[1:4] == ['CLASSP ACC (%)', 'EWC ACC (%)',
                                       'CLASSP − EWC (pp)']
  assert row.split(' | ') == [
      '| toy (`toy_preset`)', '80.0 ± 2.0', '75.0 ± 1.0',
      '+5.0 [2.5, 7.5], p = 0.013', 'mas: 80.0 ± 9.2',
      '0.0 [-24.8, 24.8], p = 1.000',
      'classp+mas: +5.0 [-19.8, 29.8], p = 0.478', '5 of 6 |']


def test_summary_rows_hold_the_table_s_three_differences():
  # The worked example above: classp - ewc = 5.0 pp [2.5, 7.5]; mas is the
  # best baseline and classp+mas the best CLASSP-based method, 5.0 pp above
  # it [-19.8, 29.8].
  result = _three_seed_result(ewc_accs=[0.75, 0.76, 0.74],
                              other_accs=[0.90, 0.72, 0.78])
  result['methods']['classp+mas'] = {
      **result['methods']['classp'],
      'acc_matrix': {'per_seed': [[[0.85]], [[0.87]], [[0.83]]]},
      'avg_acc': {'mean': 0.85, 'std': 0.0163}}
  [row] = summary.summary_rows([summary.PresetResult('toy_preset', (), result)])
  assert (row.label, row.best, row.variant) == (
      'toy (`toy_preset`)', 'mas', 'classp+mas')
  versus_ewc, versus_best, variant_versus_best = row.differences
  np.testing.assert_allclose(
      [versus_ewc['mean'], versus_ewc['low'], versus_ewc['high']],
      [0.05, 0.025, 0.075], atol=5e-4)
  np.testing.assert_allclose(versus_best['mean'], 0.0, atol=1e-12)
  np.testing.assert_allclose(
      [variant_versus_best['low'], variant_versus_best['high']],
      [-0.198, 0.298], atol=5e-4)


def test_summary_rows_without_ewc_leave_its_difference_out():
  result = _three_seed_result([0.7] * 3, [0.6, 0.65, 0.62])
  del result['methods']['ewc']
  [row] = summary.summary_rows([summary.PresetResult('toy', (), result)])
  assert row.differences[0] is None
  assert row.differences[1] is not None


def test_summary_table_leaves_out_streams_without_classp():
  result = _three_seed_result([0.7] * 3, [0.6] * 3)
  del result['methods']['classp']
  assert summary.summary_table(summary.summary_rows(
      [summary.PresetResult('toy', ('ewc',), result)])) == ''


def test_write_summary_reads_each_searching_preset_s_folder(tmp_path):
  root = tmp_path / 'results'
  (root / 'hsu2018').mkdir(parents=True)
  searched = _three_seed_result([0.75, 0.76, 0.74], [0.70, 0.72, 0.71])
  searched |= {'stream': 'split_mnist', 'scenario': 'class',
               'search': {'draw': 'quasi_random'}}
  (root / 'hsu2018' / 'split_mnist_class.json').write_text(
      json.dumps(searched))
  # A result of the small-budget protocol (no search) is not a literature
  # protocol's, even in a preset's folder.
  (root / 'hsu2018' / 'permuted_mnist.json').write_text(
      json.dumps(_permuted_mnist()))
  loaded = summary.load_presets(root)
  assert [(p.preset, p.result['stream']) for p in loaded] == [
      ('hsu2018', 'split_mnist')]
  assert 'classp_accumulator_only' in loaded[0].planned
  assert 'joint' in loaded[0].planned
  readme = tmp_path / 'README.md'
  readme.write_text('a\n<!-- results:summary:start -->\nold\n'
                    '<!-- results:summary:end -->\nb\n')
  table = summary.write_summary(root, readme)
  text = readme.read_text()
  assert 'old' not in text and table in text
  assert text.startswith('a\n') and text.endswith('\nb\n')
  assert '| split_mnist/class (`hsu2018`) |' in table
  plot = root / 'summary.png'
  assert plot.read_bytes().startswith(PNG_MAGIC) and plot.stat().st_size > 1000
  assert '](results/summary.png)' in text


def test_write_summary_without_literature_results_names_the_fix(tmp_path):
  readme = tmp_path / 'README.md'
  readme.write_text('<!-- results:summary:start -->\n'
                    '<!-- results:summary:end -->\n')
  with pytest.raises(ValueError, match='run `python -m experiments sweep'):
    summary.write_summary(tmp_path, readme)
