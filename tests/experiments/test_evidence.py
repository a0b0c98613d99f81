"""Tests of experiments.evidence against worked examples."""

import numpy as np
import pytest
import scipy.stats

from experiments import evidence
from experiments.configs import literature


def _block(accuracies, diverged=()):
  """A method block whose seeds 1..n end with these ACCs (2 tasks)."""
  diverged_runs = [{'seed': s, 'task': 1, 'step': 0} for s in diverged]
  if not accuracies:  # every seed diverged, as method_summary writes it
    return {'acc_matrix': None, 'avg_acc': None, 'finished_seeds': [],
            'diverged': diverged_runs}
  per_seed = [[[a, 0.0], [a, a]] for a in accuracies]
  return {'acc_matrix': {'per_seed': per_seed,
                         'mean': np.mean(per_seed, axis=0).tolist()},
          'avg_acc': {'mean': float(np.mean(accuracies)), 'std': 0.0},
          'finished_seeds': [s for s in range(1, len(accuracies) + 1 +
                                              len(diverged))
                             if s not in diverged],
          'diverged': diverged_runs}


def _result(**blocks):
  return {'stream': 'split_mnist', 'scenario': 'task', 'seeds': [1, 2, 3],
          'protocol': {'stream': 'split_mnist', 'hidden': [400, 400],
                       'epochs': 4, 'batch_size': 128,
                       'train_per_task': None},
          'search': {}, 'methods': blocks}


def test_accuracy_interval_of_a_worked_example():
  # ACC 0.90, 0.92, 0.94: mean 0.92, sample std 0.02,
  # half-width t(0.975, 2) * 0.02 / sqrt(3) = 4.3027 * 0.011547 = 0.04968.
  summary = evidence.accuracy_interval(_block([0.90, 0.92, 0.94]), [1, 2, 3])
  assert summary['mean'] == pytest.approx(0.92)
  assert summary['std'] == pytest.approx(0.02)
  assert summary['low'] == pytest.approx(0.92 - 0.04968, abs=1e-5)
  assert evidence.interval_text(summary) == '92.0 ± 2.0 [87.0, 97.0]'


def test_verdict_sentence_answers_with_the_interval():
  result = _result(classp=_block([0.95, 0.96, 0.97]),
                   ewc=_block([0.90, 0.92, 0.91]))
  # Differences 0.05, 0.04, 0.06: mean 5.0 pp, sample std 1.0 pp,
  # half-width 4.3027 * 1.0 / sqrt(3) = 2.48 pp.
  sentence = evidence.verdict_sentence(result)
  assert sentence.startswith('**split_mnist/task**: CLASSP 96.0% vs EWC '
                             '91.0%: yes (5.0 pp, 95% interval [2.5, 7.5], '
                             'p = 0.')
  assert sentence.endswith(', 3 seeds paired).')
  result['methods']['ewc'] = _block([0.97, 0.95, 0.96])
  assert 'no significant difference' in evidence.verdict_sentence(result)
  result['methods']['ewc'] = _block([], diverged=(1, 2, 3))
  assert 'ewc diverged on every seed' in evidence.verdict_sentence(result)
  assert evidence.verdict_sentence(_result(classp=_block([0.9]))) is None


def test_calibration_is_welchs_test_against_the_published_runs():
  # Ours 97, 98, 99 (mean 98, sd 1, n 3) against 95 ± 0.9 (population std
  # of 10 runs: sample std 0.9 * sqrt(10 / 9) = 0.9487). Welch: t = 3 /
  # sqrt(1 / 3 + 0.09) = 4.611 on df = 0.1792 / 0.05646 = 3.174.
  result = evidence.calibration([0.97, 0.98, 0.99], (95.0, 0.9),
                                literature.HSU2018)
  assert result['difference'] == pytest.approx(3.0)
  t, df = 3 / np.sqrt(1 / 3 + 0.09), (1 / 3 + 0.09) ** 2 / (
      (1 / 3) ** 2 / 2 + 0.09 ** 2 / 9)
  assert result['p_value'] == pytest.approx(2 * scipy.stats.t.sf(t, df))
  assert result['verdict'] == 'above'
  assert evidence.calibration([0.97, 0.98, 0.99], (98.2, 0.9),
                              literature.HSU2018)['verdict'] == 'consistent'
  assert evidence.calibration([0.97, 0.98, 0.99], (102.0, 0.05),
                              literature.HSU2018)['verdict'] == 'below'
  assert literature.HSU2018.sample_std(0.9) == pytest.approx(0.9487, 1e-4)


def test_calibration_table_uses_the_reference_of_the_protocol():
  result = _result(sgd=_block([0.97, 0.98, 0.99]),
                   classp=_block([0.9, 0.9, 0.9]))
  assert literature.reference_for(result) is literature.HSU2018
  rows = evidence.calibration_table([result]).splitlines()[2:]
  assert len(rows) == 1  # classp is not in the published table
  assert '| split_mnist/task | sgd | 98.0 ± 1.0' in rows[0]
  assert '97.98 ± 0.09 (Hsu et al. 2018, population std, 10 runs)' in rows[0]
  assert rows[0].endswith('| 0.0 | 0.976 | consistent |')
  result['protocol']['epochs'] = 2  # another protocol: no reference
  assert evidence.calibration_table([result]) == ''


def test_ablation_table_compares_each_classp_variant_with_classp():
  result = _result(classp=_block([0.95, 0.96, 0.97]),
                   classp_adagrad=_block([0.90, 0.92, 0.91]),
                   ewc=_block([0.5, 0.5, 0.5]),
                   **{'classp+ewc': _block([], diverged=(1, 2, 3))})
  rows = evidence.ablation_table([result]).splitlines()[2:]
  assert len(rows) == 2
  assert rows[0].startswith('| split_mnist/task | classp+ewc − classp | — ')
  assert rows[1].startswith(
      '| split_mnist/task | classp_adagrad − classp | -5.0 | [-7.5, -2.5] |')
  assert rows[1].endswith('| classp_adagrad lower |')


def test_the_best_baseline_is_neither_classp_based_nor_joint():
  result = _result(classp=_block([0.99] * 3), classp_adagrad=_block([0.98] * 3),
                   joint=_block([0.995] * 3), sgd=_block([0.9] * 3),
                   si=_block([0.95] * 3))
  assert evidence.best_baseline(result) == 'si'
  assert evidence.is_classp_family('classp+mas')
  assert not evidence.is_classp_family('adagrad')


def test_space_edges_against_the_recorded_ranges():
  space = [{'base': 'sgd', 'learning_rate': {'log_uniform': [1e-4, 1.0]},
            'strength': {'log_uniform': [1.0, 1e12]}},
           {'base': 'adam', 'learning_rate': {'log_uniform': [1e-5, 1e-1]},
            'strength': {'log_uniform': [1.0, 1e12]},
            'decay': {'uniform': [0.5, 1.0]}}]
  # 0.9 is within 5% of the top of [1e-4, 1] in log scale; 1e11 is 11/12.
  assert evidence.space_edges(
      {'base': 'sgd', 'learning_rate': 0.9, 'strength': 1e11}, space) == [
          'learning_rate=0.9 (near the highest, 1)']
  assert evidence.space_edges(
      {'base': 'adam', 'learning_rate': 1.1e-5, 'strength': 1.5,
       'decay': 1.0}, space) == [
           'learning_rate=1.1e-05 (near the lowest, 1e-05)',
           'strength=1.5 (near the lowest, 1)']  # decay 1 is its limit
  threshold = [{'threshold': {'log_uniform': [1e-12, 1e-2], 'or': 0.0}}]
  assert evidence.space_edges({'threshold': 0.0}, threshold) == []


def test_methods_rank_by_accuracy_with_the_diverged_last():
  blocks = {
      'sgd': {'avg_acc': {'mean': 0.5}, 'acc_matrix': {'mean': [[0.5]]}},
      'ewc': {'avg_acc': None, 'acc_matrix': None},  # every seed diverged
      'adam': {'avg_acc': {'mean': 0.7}, 'acc_matrix': {'mean': [[0.5]]}},
      'l2': {'avg_acc': {'mean': 0.5}, 'acc_matrix': {'mean': [[0.5]]}},
  }
  assert evidence.by_accuracy(blocks) == ['adam', 'l2', 'sgd', 'ewc']
  assert evidence.scored(blocks) == ['adam', 'l2', 'sgd']
