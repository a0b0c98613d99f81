"""Tests of experiments.checkpoints and of resuming experiments.training.run.

Runs use the synthetic streams of test_training (no data files).
"""

import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import checkpoints
from experiments import cli
from experiments import errors
from experiments import fingerprint
from experiments import methods
from experiments import run_cache
from experiments import training
from experiments.configs import presets
from experiments.protocol import Protocol
from experiments.protocol import Setup
from tests.experiments.test_training import _stream

_ROOT = Path(__file__).resolve().parents[2]
# 48 examples in batches of 16: 3 steps per epoch, 6 per task, shuffled.
_PROTOCOL = Protocol(model='mlp', hidden=(16,), epochs=2, batch_size=16,
                     fisher_samples=32)
_METHODS = {
    'classp': {'learning_rate': 0.05, 'threshold': 1e-6},
    'ewc': {'base': 'sgd', 'learning_rate': 0.05, 'strength': 10.0},
}


class _Stop(Exception):
  """Stands for a crash in the tests."""


class _StopAfterSaves(checkpoints.RunCheckpointer):
  """Crashes the run right after its ``saves``-th checkpoint."""

  def __init__(self, directory, saves, **kwargs):
    super().__init__(directory, **kwargs)
    self.saves = saves

  def save(self, state, progress):
    super().save(state, progress)
    self.saves -= 1
    if self.saves == 0:
      raise _Stop


def _run(method, checkpointer=None, on_task_end=None, num_tasks=3, mesh=None):
  return training.run(_stream(num_tasks=num_tasks, task_heads=True),
                      methods.parse_method(method), _METHODS[method],
                      _PROTOCOL, seed=3, progress=False,
                      on_task_end=on_task_end, checkpointer=checkpointer,
                      mesh=mesh)


def _assert_same(result, expected):
  """Bit for bit, wall time apart."""
  np.testing.assert_array_equal(result.test_acc, expected.test_acc)
  np.testing.assert_array_equal(result.val_acc, expected.val_acc)
  assert result.diagnostics == expected.diagnostics
  assert result.state_bytes == expected.state_bytes
  assert result.param_bytes == expected.param_bytes
  assert result.diverged == expected.diverged


def _final_state(method, checkpointer=None):
  """The run's result and its state after the last task."""
  states = []
  result = _run(method, checkpointer, lambda i, s: states.append(s))
  return result, states[-1]


@pytest.mark.parametrize('method, every_steps, saves', [
    ('classp', None, 1),  # stopped after task 0's end
    ('ewc', None, 2),  # after task 1's: two EWC terms to restore
    ('classp', 4, 1),  # step 4: mid-epoch (the second of task 0)
    ('ewc', 4, 3),  # step 8: mid-epoch in task 1
    ('ewc', 3, 2),  # step 3 falls on an epoch's end
])
def test_a_stopped_run_resumes_bit_for_bit(tmp_path, method, every_steps,
                                           saves):
  expected, expected_state = _final_state(method)
  with pytest.raises(_Stop):
    _run(method, _StopAfterSaves(tmp_path, saves, every_steps=every_steps))
  result, state = _final_state(
      method, checkpoints.RunCheckpointer(tmp_path, every_steps=every_steps))
  _assert_same(result, expected)
  chex.assert_trees_all_equal(jax.random.key_data(state.key),
                              jax.random.key_data(expected_state.key))
  chex.assert_trees_all_equal(state._replace(key=None),
                              expected_state._replace(key=None))


def test_a_finished_run_resumes_to_its_result_without_training(tmp_path):
  expected = _run('classp', checkpoints.RunCheckpointer(tmp_path))
  trained = []
  result = _run('classp', checkpoints.RunCheckpointer(tmp_path),
                lambda i, s: trained.append(i))
  _assert_same(result, expected)
  assert not trained


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
  with pytest.raises(_Stop):
    _run('classp', _StopAfterSaves(tmp_path, 1))
  with pytest.raises(errors.UserError, match='another run'):
    _run('ewc', checkpoints.RunCheckpointer(tmp_path))


def test_a_run_with_checkpoints_computes_what_one_without_does(tmp_path):
  # Checkpointing only reads the state and the numpy generator's state.
  expected = _run('ewc')
  _assert_same(_run('ewc', checkpoints.RunCheckpointer(
      tmp_path, every_steps=2)), expected)


def test_keep_keeps_the_newest_and_latest_restores_the_last(tmp_path):
  checkpointer = checkpoints.RunCheckpointer(tmp_path, keep=2)
  like = {'w': jnp.zeros(3), 'key': jax.random.key(0)}
  assert checkpointer.latest(like) is None
  for i in range(5):
    checkpointer.save({'w': jnp.full(3, float(i)), 'key': jax.random.key(i)},
                      {'i': i})
  assert checkpointer.steps() == [3, 4]
  state, progress = checkpoints.RunCheckpointer(tmp_path).latest(like)
  assert progress == {'i': 4}
  np.testing.assert_array_equal(state['w'], np.full(3, 4.0))
  np.testing.assert_array_equal(jax.random.key_data(state['key']),
                                jax.random.key_data(jax.random.key(4)))
  with pytest.raises(errors.UserError, match='another model'):
    checkpointer.latest({'w': jnp.zeros(4), 'key': jax.random.key(0)})


# A run in a subprocess that waits after task 0 (and its checkpoint; one more
# came at step 4) until a signal comes, so that the test kills it at a known
# point.
_SCRIPT = textwrap.dedent('''
    import sys, time
    from experiments import checkpoints, errors
    from tests.experiments import test_checkpoints as t

    checkpointer = checkpoints.RunCheckpointer(sys.argv[1], every_steps=4)

    def wait(index, state):
      if index == 0:
        print('saved', flush=True)
        while checkpointer.interrupted is None:
          time.sleep(0.01)

    try:
      t._run('ewc', checkpointer, on_task_end=wait)
    except errors.UserError as error:
      print(f'error: {error}', file=sys.stderr)
      sys.exit(2)
''')


def _start_and_wait(directory):
  process = subprocess.Popen(
      [sys.executable, '-c', _SCRIPT, str(directory)], cwd=_ROOT,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env={**os.environ, 'PYTHONPATH': str(_ROOT)})
  assert process.stdout.readline() == 'saved\n', process.communicate()
  return process


@pytest.mark.parametrize('kill', [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_process_resumes_bit_for_bit(tmp_path, kill):
  process = _start_and_wait(tmp_path)
  process.send_signal(kill)
  _, stderr = process.communicate(timeout=120)
  if kill == signal.SIGKILL:
    assert process.returncode == -signal.SIGKILL
    assert checkpoints.RunCheckpointer(tmp_path).steps() == [0, 1]
  else:  # the step after the signal (7) is saved; the message says so
    assert process.returncode == 2
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith('error: SIGTERM: the run stopped after')
    assert lines[-1].endswith('rerun the same command to resume it')
    assert checkpoints.RunCheckpointer(tmp_path).steps() == [1, 2]
  expected = _run('ewc')
  _assert_same(_run('ewc', checkpoints.RunCheckpointer(
      tmp_path, every_steps=4)), expected)


def test_run_cache_checkpoints_each_run_in_its_folder_then_deletes_it(
    tmp_path, monkeypatch):
  folders = []

  def fake_run(stream, spec, hyperparams, protocol, seed, *, checkpointer,
               **kwargs):
    folders.append(checkpointer.directory)
    assert checkpointer.directory.is_dir() and checkpointer.every_steps == 5
    assert checkpointer.keep == 3
    return training.RunResult(
        test_acc=np.ones((1, 1)), val_acc=np.ones((1, 1)), state_bytes=8,
        param_bytes=8, wall_s=1.0, diagnostics={})

  monkeypatch.setattr(training, 'run', fake_run)
  monkeypatch.setattr(Setup, 'make_stream', lambda self, *a: None)
  monkeypatch.setattr(fingerprint, 'current', lambda *a: {})
  cache = run_cache.RunCache(
      tmp_path / 'out', None, log=lambda line: None,
      checkpoint_dir=tmp_path / 'ckpt', checkpoint_every=5, checkpoint_keep=3)
  cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 1, 'tag-1')
  # One folder per run, and within it per fingerprint (here {}) and mesh.
  assert [f.parent for f in folders] == [
      tmp_path / 'ckpt' / presets.QUICK.key / 'sgd' / 'tag-1']
  assert re.fullmatch('[0-9a-f]{16}-devices1', folders[0].name)
  assert not folders[0].exists()  # the run file is the record now
  monkeypatch.setattr(fingerprint, 'current', lambda *a: {'source': 'new'})
  cache.run(presets.QUICK, 'sgd', {'learning_rate': 0.1}, 2, 'tag-1')
  assert folders[1] != folders[0]  # other code: another folder
  assert cache.path(presets.QUICK, 'sgd', 'tag-1').is_file()


def test_checkpoint_every_needs_a_checkpoint_dir(monkeypatch, tmp_path,
                                                 capsys):
  monkeypatch.setattr(cli, 'RESULTS', tmp_path / 'no-results')
  assert cli.main(['run', '--methods', 'sgd', '--checkpoint-every', '3',
                   '--out', str(tmp_path)]) == 2
  assert '--checkpoint-every needs --checkpoint-dir' in (
      capsys.readouterr().err)
