"""Tests of experiments.report."""

import json

import pytest

from experiments import report
from experiments import search as search_lib
from tests.experiments import result_blocks

PNG_MAGIC = result_blocks.PNG_MAGIC
MIB = result_blocks.MIB
_method = result_blocks.method_block
_three_seed_result = result_blocks.three_seed_result
_permuted_mnist = result_blocks.permuted_mnist


def _split_mnist():
  """Two tasks, two seeds; classp (with a preset), ewc and joint."""
  classp = _method(
      acc=(0.912, 0.01), bwt=(-0.05, 0.01), forgetting=(0.06, 0.012),
      per_seed=[[[0.95, 0.1], [0.89, 0.934]], [[0.95, 0.1], [0.91, 0.914]]],
      state_bytes=2 * MIB, hyperparams={'threshold': 1e-6,
                                        'learning_rate': 0.1},
      wall=(12.34, 0.4))
  classp['diagnostics'] = {'capacity_used': [[0.1, 0.2], [0.1, 0.2]]}
  classp['devices'] = ['cpu (2 cores, x86_64), JAX 0.10.2']
  return {
      'stream': 'split_mnist', 'scenario': 'task', 'seeds': [1, 2],
      'tuning_seed': 0,
      'protocol': {'model': 'mlp', 'hidden': [256, 256], 'epochs': 1},
      'notes': ['Fewer examples per task than the paper.'],
      'methods': {
          'classp': classp,
          'ewc': _method(
              acc=(0.85, 0.02), bwt=(-0.1, 0.0), forgetting=(0.1, 0.0),
              per_seed=[[[0.9, 0.2], [0.8, 0.9]]] * 2, state_bytes=4 * MIB,
              hyperparams={'strength': 100.0}),
          'joint': _method(
              acc=(0.95, 0.005), bwt=None, forgetting=None,
              per_seed=[[[0.96, 0.94]]] * 2, state_bytes=0, hyperparams={}),
      },
      'presets': {'paper': {
          'description': 'The paper\'s hyperparameters.',
          'methods': {'classp': _method(
              acc=(0.7, 0.0), bwt=(-0.2, 0.0), forgetting=(0.2, 0.0),
              per_seed=[[[0.9, 0.1], [0.7, 0.7]]], state_bytes=MIB // 2,
              hyperparams={'learning_rate': 0.01})},
      }},
  }


@pytest.fixture
def results_dir(tmp_path):
  directory = tmp_path / 'results'
  directory.mkdir()
  for name, result in [('split_mnist_task', _split_mnist()),
                       ('permuted_mnist', _permuted_mnist())]:
    (directory / f'{name}.json').write_text(json.dumps(result))
  # Not result files: another JSON object, a JSON list, a subfolder's file.
  (directory / 'config.json').write_text(json.dumps({'seeds': [1]}))
  (directory / 'list.json').write_text('[1, 2]')
  (directory / 'benchmark').mkdir()
  (directory / 'benchmark' / 'timing.json').write_text(
      json.dumps(_permuted_mnist() | {'stream': 'benchmark'}))
  return directory


EXPECTED_HEADLINE = '\n'.join([
    '| Method | permuted_mnist | split_mnist/task |',
    '| --- | --- | --- |',
    '| classp | **80.0 ± 0.0** | **91.2 ± 1.0** |',
    '| ewc | — | 85.0 ± 2.0 |',
    '| joint | 90.0 ± 0.0 | 95.0 ± 0.5 |',
    '| sgd | 60.0 ± 0.0 | — |',
])


def test_load_results_ignores_other_files_and_sorts(results_dir):
  results = report.load_results(results_dir)
  assert [report.result_name(r) for r in results] == [
      'permuted_mnist', 'split_mnist_task']


def test_headline_table(results_dir):
  assert report.headline_table(
      report.load_results(results_dir)) == EXPECTED_HEADLINE


def test_write_report_writes_markdown_and_pngs(results_dir):
  path = report.write_report(results_dir)
  assert path == results_dir / 'RESULTS.md'
  assert path.is_file()
  for stem in ('permuted_mnist', 'split_mnist_task'):
    for kind in ('acc_over_tasks', 'final_per_task', 'memory'):
      png = results_dir / 'plots' / f'{stem}_{kind}.png'
      assert png.read_bytes().startswith(PNG_MAGIC), png
      assert png.stat().st_size > 1000, png
      assert f'](plots/{stem}_{kind}.png)' in path.read_text()
  assert not (results_dir / 'plots' / 'benchmark_memory.png').exists()


def test_results_markdown_tables(results_dir):
  text = report.write_report(results_dir).read_text(encoding='utf-8')
  lines = text.splitlines()
  assert EXPECTED_HEADLINE in text
  # Protocol, notes and sections.
  assert '## split_mnist/task' in lines
  assert '## permuted_mnist' in lines
  assert '- seeds: 1, 2 (hyperparameters tuned on seed 0)' in lines
  assert '- hidden: [256, 256]' in lines
  assert '- model: mlp' in lines
  assert '- Fewer examples per task than the paper.' in lines
  # Rows sorted by ACC; the best non-joint ACC bold; joint without BWT.
  # 2 MiB of state over 1 MiB of params = 2.0x.
  joint = '| joint | 95.0 ± 0.5 | — | — | 0.00 | 0.0x | 10.0 ± 0.5 | — |'
  classp = ('| classp | **91.2 ± 1.0** | -5.0 ± 1.0 | 6.0 ± 1.2 | 2.00 | '
            '2.0x | 12.3 ± 0.4 | learning_rate=0.1, threshold=1e-06 |')
  ewc = ('| ewc | 85.0 ± 2.0 | -10.0 ± 0.0 | 10.0 ± 0.0 | 4.00 | 4.0x | '
         '10.0 ± 0.5 | strength=100 |')
  assert lines.index(joint) < lines.index(classp) < lines.index(ewc)
  # BWT of -0.04 points rounds to 0.0, not -0.0.
  assert ('| sgd | 60.0 ± 0.0 | 0.0 ± 0.0 | 45.0 ± 0.0 | 0.00 | 0.0x | '
          '10.0 ± 0.5 | learning_rate=0.1 |') in lines
  # The preset's table, in the same format.
  preset = lines.index('### Preset: paper')
  assert lines[preset + 2] == 'The paper\'s hyperparameters.'
  assert lines[preset + 6] == (
      '| classp | **70.0 ± 0.0** | -20.0 ± 0.0 | 20.0 ± 0.0 | 0.50 | 0.5x | '
      '10.0 ± 0.5 | learning_rate=0.01 |')
  # Final accuracy per task: the last row of the mean matrix; joint's only
  # row.
  assert '| Method | Task 1 | Task 2 |' in lines
  assert '| classp | 90.0 | 92.4 |' in lines
  assert '| joint | 96.0 | 94.0 |' in lines
  assert '| sgd | 40.0 | 50.0 | 90.0 |' in lines
  # Where the runs ran, for the sections that recorded it.
  assert 'Ran on: cpu (2 cores, x86_64), JAX 0.10.2.' in lines
  assert text.count('Ran on:') == 1


def test_write_report_is_deterministic(results_dir):
  first = report.write_report(results_dir).read_bytes()
  second = report.write_report(results_dir).read_bytes()
  assert first == second


def test_write_report_updates_readme_between_markers(results_dir, tmp_path):
  readme = tmp_path / 'README.md'
  before = '# Project\r\n\r\nIntro.\r\n\r\n<!-- results:start -->'
  after = '<!-- results:end -->\r\n\r\nMore text.\r\n'
  readme.write_bytes(f'{before}\nold table\n{after}'.encode())
  report.write_report(results_dir, readme_path=readme)
  results = report.load_results(results_dir)
  assert readme.read_bytes().decode() == (
      f'{before}\n{EXPECTED_HEADLINE}\n\n{report.COMPARISON_NOTE}\n\n'
      f'{report.comparison_table(results)}\n\n'
      'Full results: [results/RESULTS.md](results/RESULTS.md)\n'
      f'{after}')
  assert 'classp − ewc' in readme.read_text()


@pytest.mark.parametrize('text', [
    'No markers.\n',
    '<!-- results:start -->\nOnly the start.\n',
    '<!-- results:end -->\n<!-- results:start -->\n',
])
def test_write_report_rejects_readme_without_markers(
    results_dir, tmp_path, text):
  readme = tmp_path / 'README.md'
  readme.write_text(text)
  with pytest.raises(ValueError, match='README.md'):
    report.write_report(results_dir, readme_path=readme)
  assert readme.read_text() == text
  assert not (results_dir / 'RESULTS.md').exists()


def test_grid_edges_flags_choices_at_the_edge_of_the_space():
  space = [{'base': base, 'learning_rate': lr, 'strength': strength,
            'decay': decay}
           for base, lrs in (('sgd', (0.01, 0.03, 0.1)),
                             ('adam', (1e-4, 1e-3)))
           for lr in lrs
           for strength, decay in ((0.0, 0.7), (1.0, 0.9), (10.0, 1.0))]
  # lr 0.01 is the lowest SGD rate (not the lowest overall); strength 10 is
  # the highest; decay 1 is the knob's own limit, strength 0 the floor.
  chosen = {'base': 'sgd', 'learning_rate': 0.01, 'strength': 10.0,
            'decay': 1.0}
  assert report.grid_edges(chosen, space) == ['learning_rate=0.01 (lowest)',
                                              'strength=10 (highest)']
  chosen.update(learning_rate=0.03, strength=0.0, decay=0.7)
  assert report.grid_edges(chosen, space) == ['decay=0.7 (lowest)']
  # Two values are enough (Adam's rates); the space decides, not the draw.
  chosen.update(base='adam', learning_rate=1e-3, strength=1.0, decay=0.9)
  assert report.grid_edges(chosen, space) == ['learning_rate=0.001 (highest)']
  assert report.grid_edges({'learning_rate': 0.1},
                           [{'learning_rate': 0.1}]) == []


def test_edge_notes_use_the_method_search_space():
  # online_ewc's strength space reaches 1e4: 1e3 is not an edge even if no
  # drawn configuration went higher.
  blocks = {'online_ewc': {
      'hyperparams': {'base': 'adam', 'learning_rate': 3e-4, 'decay': 1.0,
                      'strength': 1e3},
      'grid': [{'base': 'adam', 'learning_rate': 3e-4, 'decay': 1.0,
                'strength': 1e3}]}}
  assert report.edge_notes(blocks) == (
      '- online_ewc: learning_rate=0.0003 (lowest)')


def test_comparison_table_pairs_seeds_and_names_the_verdict():
  # classp - ewc = [0.05, 0.06, 0.04]: mean 5.0 pp, std 1 pp, t = 8.66 on 2
  # degrees of freedom, p = 0.013, interval 5.0 +- 4.303 * 1 / sqrt(3).
  # classp - mas = [-0.1, 0.1, 0.0]: no significant difference.
  table = report.comparison_table([_three_seed_result(
      ewc_accs=[0.75, 0.76, 0.74], other_accs=[0.90, 0.72, 0.78])])
  rows = [line.split(' | ') for line in table.splitlines()[2:]]
  assert [row[1] for row in rows] == ['classp − ewc',
                                      'classp − mas (best baseline)']
  assert rows[0][2:] == ['5.0', '[2.5, 7.5]', '0.013', 'classp higher |']
  assert rows[1][2] == '0.0' and rows[1][5] == 'no significant difference |'


def test_comparison_table_skips_streams_without_classp():
  result = _three_seed_result([0.7] * 3, [0.6] * 3)
  del result['methods']['classp']
  assert len(report.comparison_table([result]).splitlines()) == 2


def test_diverged_seeds_are_reported_as_diverged_not_as_scores():
  result = _three_seed_result(ewc_accs=[0.75, 0.76, 0.74],
                              other_accs=[0.70, 0.72, 0.71])
  methods = result['methods']
  # EWC diverged on every seed; MAS on seed 2 only.
  methods['ewc'].update(acc_matrix=None, avg_acc=None, diverged=[
      {'seed': s, 'task': 1, 'step': 3} for s in (1, 2, 3)])
  methods['mas']['acc_matrix']['per_seed'] = [[[0.70]], [[0.71]]]
  methods['mas'].update(finished_seeds=[1, 3], diverged=[
      {'seed': 2, 'task': 0, 'step': 9}])
  table = report.methods_table(methods)
  assert '| ewc | diverged (3/3 seeds) |' in table
  assert '(1/3 seeds diverged)' in table
  assert table.index('| ewc |') > table.index('| mas |')  # ranked last
  assert 'diverged (3/3 seeds)' in report.headline_table([result])
  # Only MAS is compared, on the seeds it finished (1 and 3).
  rows = report.comparison_table([result]).splitlines()[2:]
  assert len(rows) == 1 and 'classp − mas (best baseline)' in rows[0]
  assert rows[0].split(' | ')[2] == '8.5'  # mean of 0.80-0.70, 0.78-0.71


def test_compute_cost_counts_tuning_and_reported_runs():
  methods = {
      'sgd': {'wall_s': {'mean': 10.0, 'std': 0.0},
              'tuning_runs': [{'wall_s': 4.0}, {'wall_s': 6.0}]},
      'joint': {'wall_s': {'mean': 20.0, 'std': 0.0}},  # fixed, not tuned
  }
  # 2 tuning runs (10 s) + 5 seeds x (10 s + 20 s) = 160 s, 12 runs.
  assert report._compute_cost(methods, 5) == (
      'Compute: 12 runs (2 of them tuning), 0.0 h of wall time in all.')
  methods['sgd']['tuning_runs'][0] = {}  # recorded before wall times were
  assert report._compute_cost(methods, 5) == ''


@pytest.mark.parametrize('draw, says', [
    ('grid', 'drawn from its grid, balanced over the knob values'),
    ('quasi_random', 'drawn quasi-randomly over its whole space, named '
                     'points always included and counted'),
])
def test_the_protocol_says_how_configurations_were_drawn(draw, says):
  assert set(report._DRAWS) == set(search_lib.DRAWS)  # every draw worded
  result = _permuted_mnist() | {'search': {
      'draw': draw, 'budget': 12, 'tuning_seeds': [0, 1],
      'halving': {'first_tasks': 2, 'keep': 3}}}
  line = next(line for line in report._protocol(result).splitlines()
              if line.startswith('- search:'))
  assert line.startswith(f'- search: 12 configurations per method, {says}')
  assert 'screened on the first 2 tasks with seed 0, the best 3' in line


def test_the_protocol_names_the_narrower_search_a_search_widens():
  result = _permuted_mnist() | {'search': {
      'draw': 'quasi_random', 'budget': 48, 'tuning_seeds': [0, 1],
      'halving': {'first_tasks': 2, 'keep': 3, 'narrower_budget': 12}}}
  line = next(line for line in report._protocol(result).splitlines()
              if line.startswith('- search:'))
  assert ('the best 3 (with the best 3 of the first 12: the finalists of '
          'the 12-configuration search this one widens) trained on every '
          'task') in line


def test_the_protocol_says_when_screening_trained_every_task():
  result = _permuted_mnist() | {'search': {
      'draw': 'quasi_random', 'budget': 12, 'tuning_seeds': [0, 1],
      'halving': {'first_tasks': None, 'keep': 3}}}
  line = next(line for line in report._protocol(result).splitlines()
              if line.startswith('- search:'))
  assert ('each trained on every task with seed 0, the best 3 also with the '
          'other tuning seeds;') in line


