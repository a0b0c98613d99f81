"""Tests of experiments.devices: runs on 8 devices, 2 processes, resumed on 1.

Each run is test_checkpoints' synthetic one (3 tasks, EWC or CLASSP, batches
of 16) in a fresh process (tests/experiments/device_runs.py), since the number
of host devices is fixed when JAX starts. Tolerance: splitting a batch over
devices changes only the order of floating-point sums, so the final params
agree to 1e-5 (absolute) and the accuracy matrices exactly.
"""

import json
import os
from pathlib import Path
import socket
import subprocess
import sys

import numpy as np
import pytest

from experiments import cli
from experiments import devices
from experiments import errors

_ROOT = Path(__file__).resolve().parents[2]
_PARAMS_ATOL = 1e-5


def _start(out, *flags):
  return subprocess.Popen(
      [sys.executable, '-m', 'tests.experiments.device_runs', str(out),
       *map(str, flags)], cwd=_ROOT, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True,
      env={**os.environ, 'PYTHONPATH': str(_ROOT)})


def _finish(process, returncode=0):
  output, _ = process.communicate(timeout=300)
  assert process.returncode == returncode, output


def _device_run(tmp_path, name, *flags, returncode=0):
  out = tmp_path / f'{name}.npz'
  _finish(_start(out, *flags), returncode)
  return None if returncode else dict(np.load(out))


def _assert_close(result, expected):
  np.testing.assert_array_equal(result['test_acc'], expected['test_acc'])
  np.testing.assert_array_equal(result['val_acc'], expected['val_acc'])
  np.testing.assert_allclose(result['params'], expected['params'], rtol=0,
                             atol=_PARAMS_ATOL)


@pytest.fixture(name='one_device', scope='module')
def fixture_one_device(tmp_path_factory):
  return _device_run(tmp_path_factory.mktemp('one'), 'one', '--devices', 1)


@pytest.mark.parametrize('method', ['ewc', 'classp'])
def test_eight_host_devices_match_one(tmp_path, method):
  one = _device_run(tmp_path, 'one', '--method', method, '--host-devices', 8,
                    '--devices', 1)
  eight = _device_run(tmp_path, 'eight', '--method', method,
                      '--host-devices', 8)
  assert (int(one['devices']), int(eight['devices'])) == (1, 8)
  _assert_close(eight, one)
  assert not np.array_equal(eight['params'], one['params']), (
      'the 8-device run computed exactly what the 1-device run did: was the '
      'batch split at all?')


def _free_port():
  with socket.socket() as sock:
    sock.bind(('127.0.0.1', 0))
    return sock.getsockname()[1]


def test_two_processes_of_four_devices_match_one_of_eight(tmp_path):
  address = f'127.0.0.1:{_free_port()}'
  outs = [tmp_path / f'process-{i}.npz' for i in range(2)]
  processes = [_start(out, '--host-devices', 4, '--coordinator', address,
                      '--num-processes', 2, '--process-id', i)
               for i, out in enumerate(outs)]
  for process in processes:
    _finish(process)
  assert not outs[1].exists()  # only process 0 writes
  two = dict(np.load(outs[0]))
  eight = _device_run(tmp_path, 'eight', '--host-devices', 8)
  assert int(two['devices']) == 8
  _assert_close(two, eight)


def test_a_checkpoint_of_eight_devices_resumes_on_one(tmp_path, one_device):
  folder = tmp_path / 'checkpoints'
  # Crashes after task 1's end (2 EWC terms saved, on 8 devices).
  _device_run(tmp_path, 'stopped', '--host-devices', 8, '--checkpoint-dir',
              folder, '--stop-after', 2, returncode=3)
  resumed = _device_run(tmp_path, 'resumed', '--devices', 1,
                        '--checkpoint-dir', folder)
  _assert_close(resumed, one_device)


def test_a_mesh_wider_than_the_process_is_refused(capsys, data_dir):
  with pytest.raises(errors.UserError, match='choose 1 to 1'):
    devices.make_mesh(2)
  assert cli.main(['run', '--devices', '2', '--data-dir', str(data_dir)]) == 2
  assert '--devices 2: this process has 1 cpu device(s)' in (
      capsys.readouterr().err)


def test_a_batch_that_does_not_split_is_refused():
  devices.check_divisible(48, 8, 'the batch size')
  with pytest.raises(errors.ProtocolError,
                     match='the batch size 20 does not split over 8 devices; '
                           'choose a multiple of 8'):
    devices.check_divisible(20, 8, 'the batch size')


def test_the_process_flags_go_together(capsys):
  assert cli.main(['run', '--coordinator', '127.0.0.1:1234']) == 2
  assert 'give all three' in capsys.readouterr().err


def _cli(host_devices, out, data_dir, *flags):
  return subprocess.Popen(
      [sys.executable, '-m', 'experiments', 'run', '--methods', 'ewc',
       '--num-tasks', '2', '--seeds', '1,2', '--train-per-task', '96',
       '--val-per-task', '32', '--test-per-task', '100', '--batch-size', '32',
       '--epochs', '1', '--no-progress', '--data-dir', str(data_dir),
       '--out', str(out), *map(str, flags)],
      cwd=_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
      env={**os.environ, 'PYTHONPATH': str(_ROOT), 'XLA_FLAGS':
           f'--xla_force_host_platform_device_count={host_devices}'})


def test_the_command_line_on_two_processes_matches_one(tmp_path, data_dir):
  """`run` (seeds 1 and 2: one population) on 2 x 4 devices and on 1 x 8."""
  address = f'127.0.0.1:{_free_port()}'
  processes = [_cli(4, tmp_path / 'two', data_dir, '--coordinator', address,
                    '--num-processes', 2, '--process-id', i) for i in (0, 1)]
  for process in processes:
    _finish(process)
  _finish(_cli(8, tmp_path / 'one', data_dir))
  two, one = (json.loads((tmp_path / name / 'permuted_mnist.json').read_text())
              for name in ('two', 'one'))
  np.testing.assert_array_equal(
      two['methods']['ewc']['acc_matrix']['per_seed'],
      one['methods']['ewc']['acc_matrix']['per_seed'])
  runs = sorted((tmp_path / 'two' / 'runs').rglob('*.json'))
  assert [run.name for run in runs] == ['quick-seed-1.json',
                                        'quick-seed-2.json']
  record = json.loads(runs[0].read_text())
  assert record['devices'] == 8 and record['population']['size'] == 2
  assert not list((tmp_path / 'two').rglob('*.tmp'))
