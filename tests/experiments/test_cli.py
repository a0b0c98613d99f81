"""The command line end to end, on a tiny stream."""

import argparse
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

import numpy as np
import pytest

from experiments import cli
from experiments import methods
from experiments import run_cache
from experiments import search
from experiments import training
from experiments.configs import presets
from tests.experiments import idx_files

_ROOT = Path(__file__).resolve().parents[2]

TINY = ['--train-per-task', '96', '--val-per-task', '64', '--test-per-task',
        '100', '--batch-size', '32', '--epochs', '1', '--no-progress']


@pytest.fixture(autouse=True)
def _no_committed_results(monkeypatch, tmp_path):
  """Hyperparameters come from the defaults, not from a sweep's results."""
  monkeypatch.setattr(cli, 'RESULTS', tmp_path / 'no-results')


def test_run_two_methods_on_two_tasks(data_dir, tmp_path, capsys,
                                      monkeypatch):
  code = cli.main(['run', '--methods', 'classp,ewc', '--num-tasks', '2',
                   '--seeds', '1', '--data-dir', str(data_dir), '--out',
                   str(tmp_path), *TINY])
  assert code == 0
  document = json.loads((tmp_path / 'permuted_mnist.json').read_text())
  assert set(document['methods']) == {'classp', 'ewc'}
  for block in document['methods'].values():
    matrix = block['acc_matrix']['mean']
    assert len(matrix) == 2 and all(len(row) == 2 for row in matrix)
    assert all(0.0 <= a <= 1.0 for row in matrix for a in row)
  classp = document['methods']['classp']
  assert classp['state_bytes'] == classp['param_bytes']  # one accumulator
  assert len(classp['diagnostics']['capacity_used'][0]) == 2
  assert document['protocol']['train_per_task'] == 96
  out = capsys.readouterr().out
  assert '| classp |' in out and '| ewc |' in out
  assert classp['hyperparams'] == methods.default_hyperparams('classp')
  # A rerun finds every run on disk and trains nothing.
  def no_training(*args, **kwargs):
    raise AssertionError('a cached run was trained again')
  monkeypatch.setattr(training, 'run', no_training)
  assert cli.main(['run', '--methods', 'classp', '--num-tasks', '2',
                   '--seeds', '1', '--data-dir', str(data_dir), '--out',
                   str(tmp_path), *TINY]) == 0
  # ... and says so.
  assert 'seed 1: ACC' in out and '(trained in ' in out
  assert '(cached; trained in ' in capsys.readouterr().out


def test_run_on_the_tweet_domains(tweets_dir, tmp_path, capsys):
  # The text stream's main job, small: the quick preset's text setup.
  assert cli.main(['run', '--stream', 'tweet_domains', '--methods',
                   'classp,ewc', '--seeds', '1', '--data-dir',
                   str(tweets_dir), '--out', str(tmp_path), *TINY]) == 0
  document = json.loads((tmp_path / 'tweet_domains.json').read_text())
  assert document['protocol']['model'] == 'transformer'
  for block in document['methods'].values():
    assert np.shape(block['acc_matrix']['mean']) == (4, 4)  # 4 domains
  assert '| classp |' in capsys.readouterr().out


def test_sweep_then_report(data_dir, tmp_path):
  readme = tmp_path / 'README.md'
  readme.write_text('x\n<!-- results:start -->\n<!-- results:end -->\n')
  assert cli.main(['sweep', '--stream', 'split_mnist', '--scenario', 'task',
                   '--methods', 'sgd,joint', '--seeds', '1', '--budget',
                   '2', '--data-dir', str(data_dir), '--out', str(tmp_path),
                   *TINY]) == 0
  document = json.loads((tmp_path / 'split_mnist_task.json').read_text())
  sgd = document['methods']['sgd']
  assert len(sgd['grid']) == 2 and len(sgd['val_avg_acc']) == 2
  # The best configuration that did not diverge (None: diverged).
  scores = [-1.0 if s is None else s for s in sgd['val_avg_acc']]
  assert sgd['hyperparams'] == sgd['grid'][scores.index(max(scores))]
  assert len(sgd['acc_matrix']['mean']) == 5
  assert len(document['methods']['joint']['acc_matrix']['mean']) == 1
  assert document['methods']['joint']['bwt'] is None
  assert cli.main(['report', '--out', str(tmp_path), '--readme',
                   str(readme)]) == 0
  assert (tmp_path / 'RESULTS.md').exists()
  assert 'split_mnist/task' in readme.read_text()


def test_a_literature_preset_sweeps_with_its_search_then_reports(
    data_dir, tmp_path):
  readme = tmp_path / 'README.md'
  readme.write_text('x\n<!-- results:vandeven2019:start -->\n'
                    '<!-- results:vandeven2019:end -->\n')
  assert cli.main(['sweep', '--preset', 'vandeven2019', '--stream',
                   'split_mnist', '--scenario', 'class', '--methods',
                   'classp,ewc', '--budget', '2', '--seeds', '2,3',
                   '--steps-per-task', '4', '--data-dir', str(data_dir),
                   '--out', str(tmp_path), *TINY]) == 0
  document = json.loads((tmp_path / 'split_mnist_class.json').read_text())
  assert document['search']['literature'] == 'vandeven2019'
  assert document['protocol']['steps_per_task'] == 4
  classp, ewc = document['methods']['classp'], document['methods']['ewc']
  # Named points first: CLASSP's two, EWC's literature default.
  assert classp['named'] == {'adagrad_equivalent': 0, 'author': 1}
  assert ewc['named'] == {'literature': 0}
  assert ewc['grid'][0]['strength'] == 1e8
  # Both screened on 2 tasks with seed 0, then on both tuning seeds.
  stages = [(r['stage'], r['seed']) for r in classp['tuning_runs']]
  assert stages == [('screen', 0)] * 2 + [('full', 0), ('full', 1)] * 2
  assert classp['search_space'][0]['power'] == {'uniform': [1.0, 2.0]}
  assert document['seeds'] == [2, 3]
  assert cli.main(['report', '--out', str(tmp_path), '--readme', str(readme),
                   '--section', 'vandeven2019']) == 0
  text = readme.read_text()
  assert 'Does CLASSP beat EWC?' in text and '**split_mnist/class**' in text
  # The summary reads each searching preset's folder of a results root.
  root = tmp_path / 'root'
  (root / 'vandeven2019').mkdir(parents=True)
  shutil.copy(tmp_path / 'split_mnist_class.json', root / 'vandeven2019')
  readme.write_text('<!-- results:summary:start -->\n'
                    '<!-- results:summary:end -->\n')
  assert cli.main(['summary', '--results', str(root), '--readme',
                   str(readme)]) == 0
  assert '| split_mnist/class (`vandeven2019`) |' in readme.read_text()
  assert cli.main(['summary', '--results', str(tmp_path / 'none'),
                   '--readme', str(readme)]) == 2


@pytest.mark.parametrize('budget, narrower_budget, keep', [
    (48, 12, 3),  # wider than the preset's 12: its finalists stay
    (12, None, 3), (6, None, 3), (2, None, 2)])
def test_a_budget_above_the_preset_s_widens_its_search(budget,
                                                       narrower_budget, keep):
  preset = presets.PRESETS['hsu2018']
  assert preset.search.budget == 12 and preset.search.halving.keep == 3
  changed = cli._search(argparse.Namespace(budget=budget, tuning_seeds=None),
                        preset)
  assert changed.budget == budget
  assert changed.halving == search.Halving(
      preset.search.halving.first_tasks, keep, narrower_budget)


@pytest.mark.parametrize('argv, keys, method_names, folder', [
    (['run'], ['permuted_mnist'], list(presets.QUICK_METHODS), 'quick'),
    (['run', '--preset', 'paper'], ['mnist_fashion'],
     list(presets.PAPER_METHODS), 'paper'),
    (['run', '--preset', 'full', '--stream', 'split_mnist', '--scenario',
      'task', '--methods', 'sgd'], ['split_mnist_task'], ['sgd'], 'full'),
])
def test_run_defaults_follow_the_preset(argv, keys, method_names, folder):
  args = cli.build_parser().parse_args(argv)
  assert cli.run_targets(args) == (keys, method_names, cli.RESULTS / folder)


def test_run_out_flag_wins_over_the_preset_folder(tmp_path):
  args = cli.build_parser().parse_args(
      ['run', '--preset', 'paper', '--out', str(tmp_path)])
  assert cli.run_targets(args)[2] == tmp_path


def _copy_of_the_checkout(destination: Path) -> None:
  """The checkout's files (tracked, or untracked and not ignored), committed
  in a new repository at ``destination``."""
  files = subprocess.run(
      ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
      cwd=_ROOT, check=True, capture_output=True).stdout.decode().split('\0')
  for name in filter(None, files):
    if (_ROOT / name).is_file():
      (destination / name).parent.mkdir(parents=True, exist_ok=True)
      shutil.copy2(_ROOT / name, destination / name)
  for command in (['init', '-q'], ['add', '-A'],
                  ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit',
                   '-q', '-m', 'copy']):
    subprocess.run(['git', *command], cwd=destination, check=True)


def test_main_job_leaves_the_tree_clean(tmp_path):
  checkout = tmp_path / 'checkout'
  _copy_of_the_checkout(checkout)
  idx_files.write_tiny_dataset(tmp_path / 'data' / 'mnist', num_train=300,
                               num_test=100)
  # The README's main job, as written, on tiny data.
  job = subprocess.run(
      [sys.executable, '-m', 'experiments', 'run', '--data-dir',
       str(tmp_path / 'data')], cwd=checkout, capture_output=True, text=True,
      env={**os.environ, 'PYTHONDONTWRITEBYTECODE': '1'}, timeout=600)
  assert job.returncode == 0, job.stderr
  assert '| classp |' in job.stdout
  status = subprocess.run(['git', 'status', '--porcelain', '--ignored=no'],
                          cwd=checkout, capture_output=True, text=True,
                          check=True).stdout
  assert status == ''
  assert list((checkout / 'experiments' / 'results' / 'quick').glob(
      'runs/permuted_mnist/*/quick-seed-1.json'))  # written, and ignored


@pytest.mark.parametrize('in_results, folder, section, expected', [
    (True, '.', None, None),
    (True, 'hsu2018', None, 'hsu2018'),
    (True, 'hsu2018', 'other', 'other'),
    (False, 'hsu2018', None, None),
])
def test_report_replaces_the_section_of_its_results_folder(
    tmp_path, in_results, folder, section, expected):
  out = (cli.RESULTS if in_results else tmp_path) / folder
  assert cli.report_section(out, section) == expected


def test_report_names_the_fix_for_missing_markers(tmp_path, capsys):
  (tmp_path / 'hsu2018').mkdir()
  (tmp_path / 'hsu2018' / 'split_mnist_task.json').write_text(json.dumps({
      'stream': 'split_mnist', 'scenario': 'task', 'seeds': [1],
      'tuning_seed': 0, 'protocol': {}, 'notes': [], 'methods': {}}))
  readme = tmp_path / 'README.md'
  readme.write_text('x\n<!-- results:start -->\n<!-- results:end -->\n')
  assert cli.main(['report', '--out', str(tmp_path / 'hsu2018'), '--readme',
                   str(readme), '--section', 'hsu2018']) == 2
  assert 'pass another --section or --readme' in capsys.readouterr().err
  assert readme.read_text().endswith('<!-- results:end -->\n')


def test_verify_names_the_accuracies_and_hosts_of_a_run_that_differs(
    tmp_path, monkeypatch, capsys):
  run = tmp_path / 'seed-1.json'
  run.write_text('{}')
  stored = {'host': 'Old CPU, flags 0', 'test_acc': [[0.8, 0.6]],
            'diverged': None}
  fresh = {'test_acc': [[0.8, 0.7]], 'diverged': None}
  monkeypatch.setattr(run_cache, 'retrain', lambda path, data_dir: (
      run_cache.Retrained(['test_acc'], stored, fresh)))
  monkeypatch.setattr(run_cache, 'xla_flags', lambda: '')
  assert cli.main(['verify', str(run)]) == 1
  assert ('differs: test_acc (ACC 0.7500, stored 0.7000; trained on Old CPU, '
          f'flags 0; retrained on {run_cache.host_label()})'
          ) in capsys.readouterr().out
  # XLA flags are named where either side compiled under some.
  stored['xla_flags'] = '--xla_cpu_max_isa=AVX2'
  assert cli.main(['verify', str(run)]) == 1
  assert ("trained on Old CPU, flags 0 with XLA_FLAGS='--xla_cpu_max_isa=AVX2'"
          f'; retrained on {run_cache.host_label()})'
          ) in capsys.readouterr().out
