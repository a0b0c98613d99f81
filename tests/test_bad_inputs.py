"""Bad inputs, one table: each ends in one clear message.

On the command line a user error ends with exit code 2 and one line on
stderr that names the problem (and the fix), without a traceback, and writes
no result file. In the library it raises the expected exception, whose
message names the parameter or leaf at fault.
"""

import os
from pathlib import Path
import subprocess
import sys

import jax
from jax.experimental import checkify
import jax.numpy as jnp
import optax
import pytest

import classp_optax
from experiments import cli
from experiments import data
from experiments import methods
from experiments import regularizers
from experiments import streams
from tests.experiments import idx_files

# (id, argv, a fragment of the one line). In argv, {data} is a folder of tiny
# valid data, {corrupt} one whose test labels are truncated, {empty} an empty
# folder, {readme} a README without the results markers.
CLI_CASES = [
    ('seeds-empty-range', ['run', '--seeds', '5-1'], "empty range"),
    ('seeds-not-numbers', ['run', '--seeds', 'x'], 'seeds must look like'),
    ('seeds-negative', ['run', '--seeds=-2'], 'seeds must look like'),
    ('epochs-zero', ['run', '--epochs', '0'], '--epochs: must be >= 1'),
    ('batch-size-zero', ['run', '--batch-size', '0'],
     '--batch-size: must be >= 1'),
    ('num-tasks-negative', ['run', '--num-tasks', '-1'],
     '--num-tasks: must be >= 1'),
    ('num-tasks-zero', ['run', '--num-tasks', '0'],
     '--num-tasks: must be >= 1'),
    ('train-per-task-zero', ['run', '--train-per-task', '0'],
     '--train-per-task: must be >= 1'),
    ('test-per-task-text', ['run', '--test-per-task', 'many'],
     'expected a whole number'),
    ('unknown-stream', ['run', '--stream', 'cifar'], "invalid choice: 'cifar'"),
    ('unknown-scenario', ['run', '--scenario', 'instance'],
     "invalid choice: 'instance'"),
    ('scenario-of-a-stream-without', ['run', '--stream', 'permuted_mnist',
                                      '--scenario', 'task'],
     'stream permuted_mnist has no scenarios; drop --scenario task'),
    ('scenario-with-all', ['sweep', '--scenario', 'task'],
     '--scenario needs one --stream'),
    ('preset-without-the-stream', ['run', '--stream', 'split_mnist'],
     '--preset quick runs permuted_mnist, tweet_domains only'),
    ('paper-preset-other-stream', ['run', '--preset', 'paper', '--stream',
                                   'permuted_mnist'],
     '--preset paper runs mnist_fashion only'),
    ('unknown-preset', ['run', '--preset', 'huge'], "invalid choice: 'huge'"),
    ('unknown-method', ['run', '--methods', 'classp,nope'],
     "Unknown method 'nope'"),
    ('unknown-pairing', ['run', '--methods', 'ewc+si'],
     "Unknown method 'ewc+si'"),
    ('paper-only-method', ['run', '--methods', 'classp_author_code'],
     "'classp_author_code' belongs to --preset paper"),
    ('tune-with-reported-seeds', ['tune', '--seeds', '1'],
     'tune trains the tuning seeds only'),
    ('budget-zero', ['sweep', '--budget', '0'],
     '--budget: must be >= 1'),
    ('tuning-seeds-negative', ['sweep', '--tuning-seeds', '0,-1'],
     "--tuning-seeds: seeds must look like '1-5' or '1,2,7'"),
    ('no-command', [], 'the following arguments are required: command'),
    ('unknown-command', ['train'], "invalid choice: 'train'"),
    ('missing-data', ['run', '--data-dir', '{empty}'],
     'lacks train-images-idx3-ubyte.gz'),
    ('corrupt-data', ['run', '--data-dir', '{corrupt}'],
     'not a readable gzip file'),
    ('batch-larger-than-a-task', ['run', '--data-dir', '{data}',
                                  '--batch-size', '100000'],
     'fewer than one batch of 100000; choose a batch size of at most'),
    ('report-without-results', ['report', '--out', '{empty}', '--readme',
                                '{readme}'], 'holds no result files'),
    ('verify-missing-file', ['verify', '{empty}/nope.json'],
     'no run file'),
    ('verify-without-runs', ['verify', '--out', '{empty}'],
     'holds no run files'),
    ('verify-sample-zero', ['verify', '--sample', '0'],
     '--sample: must be >= 1'),
]


@pytest.fixture(name='folders')
def fixture_folders(tmp_path):
  """The folders the placeholders of :data:`CLI_CASES` name."""
  folders = {name: tmp_path / name for name in ('data', 'corrupt', 'empty',
                                                'out')}
  for folder in folders.values():
    folder.mkdir()
  idx_files.write_tiny_dataset(folders['data'] / 'mnist', num_train=300,
                               num_test=100)
  idx_files.write_tiny_dataset(folders['corrupt'] / 'mnist')
  labels = folders['corrupt'] / 'mnist' / 't10k-labels-idx1-ubyte.gz'
  labels.write_bytes(labels.read_bytes()[:-8])
  folders['readme'] = tmp_path / 'README.md'
  folders['readme'].write_text('no markers\n')
  return folders


def _main(argv, capsys):
  """Exit code and stderr of the command line run in this process."""
  try:
    code = cli.main(argv)
  except SystemExit as stop:
    code = stop.code
  return code, capsys.readouterr().err


@pytest.mark.parametrize('argv, fragment',
                         [pytest.param(a, f, id=i) for i, a, f in CLI_CASES])
def test_command_line_user_errors_end_in_one_line(argv, fragment, folders,
                                                  capsys, monkeypatch):
  monkeypatch.setattr(cli, 'RESULTS', folders['out'])  # no committed choices
  argv = [arg.format(**folders) for arg in argv]
  if argv and argv[0] in ('run', 'tune', 'sweep'):
    argv += ['--out', str(folders['out']), '--no-progress']
  code, err = _main(argv, capsys)
  assert code == 2
  lines = err.strip().splitlines()
  assert len(lines) == 1, err  # no traceback, no warning before it
  assert fragment in lines[0]
  assert 'error' in lines[0]
  assert not list(folders['out'].glob('*.json'))  # no result file


def test_debug_shows_the_traceback(folders, capsys):
  with pytest.raises(data.DataUnavailableError):
    cli.main(['run', '--data-dir', str(folders['empty']), '--debug',
              '--out', str(folders['out'])])


def _python(code, **env):
  """Runs ``python -c code`` in the checkout; returns the finished process."""
  environment = {**os.environ, 'PYTHONDONTWRITEBYTECODE': '1', **env}
  environment.pop(data.DATA_DIR_ENV, None)
  return subprocess.run([sys.executable, '-c', code], capture_output=True,
                        text=True, cwd=Path(__file__).resolve().parents[1],
                        env=environment, timeout=300)


def test_offline_without_data_is_one_line(folders):
  # A new process, so that tensorflow-datasets' own logging would show.
  offline = ('import sys; from experiments import data; '
             'data._is_online = lambda *args, **kwargs: False; '
             'from experiments import cli; '
             f"sys.exit(cli.main(['run', '--no-progress', '--out', "
             f"{str(folders['out'])!r}]))")
  job = _python(offline, TFDS_DATA_DIR=str(folders['empty']))
  assert job.returncode == 2
  lines = job.stderr.strip().splitlines()
  assert len(lines) == 1, job.stderr
  assert 'cannot be reached' in lines[0] and '--data-dir' in lines[0]


def test_missing_experiments_extra_is_one_line():
  # Installed without the extra: flax cannot be imported.
  job = _python("import runpy, sys; sys.modules['flax'] = None; "
                "sys.argv = ['experiments', 'run', '--help']; "
                "runpy.run_module('experiments', run_name='__main__')")
  assert job.returncode == 2
  assert job.stderr.strip().splitlines() == [
      'error: flax is not installed; the experiments need the experiments '
      'extra: pip install -e ".[experiments]"']


def _int_params():
  classp_optax.classp(0.1).init({'w': jnp.zeros(2),
                                 'count': jnp.zeros((), jnp.int32)})


def _not_injected():
  tx = classp_optax.classp(0.1)
  classp_optax.set_hyperparams(tx.init(jnp.zeros(2)), threshold=0.1)


def _injected_state():
  tx = optax.inject_hyperparams(classp_optax.classp, static_args=('power',))(
      learning_rate=0.1, apply_scaling=jnp.asarray(True))
  return tx.init(jnp.zeros(2))


def _mismatched_update():
  tx = classp_optax.classp(0.1)
  tx.update(jnp.zeros(3), tx.init(jnp.zeros(2)))


# (id, call, exception type, a fragment of its message).
LIBRARY_CASES = [
    ('negative-threshold', lambda: classp_optax.classp(0.1, threshold=-1.0),
     ValueError, 'threshold must be >= 0'),
    ('zero-power', lambda: classp_optax.classp(0.1, power=0.0), ValueError,
     'power must be > 0'),
    ('negative-eps', lambda: classp_optax.scale_by_accumulator_decay(eps=-1.0),
     ValueError, 'eps must be >= 0'),
    ('nan-threshold', lambda: classp_optax.threshold_mask(float('nan')),
     ValueError, 'threshold must be finite'),
    ('inf-learning-rate', lambda: classp_optax.classp(float('inf')),
     ValueError, 'learning_rate must be finite'),
    ('numeric-apply-scaling',
     lambda: classp_optax.classp(0.1, apply_scaling=1.0), ValueError,
     'apply_scaling must be a bool'),
    ('integer-params', _int_params, ValueError, "['count'] has dtype int32"),
    ('integer-accumulator-dtype',
     lambda: classp_optax.scale_by_accumulator_decay(
         accumulator_dtype=jnp.int32), ValueError,
     'accumulator_dtype must be a floating-point dtype'),
    ('unknown-nonfinite',
     lambda: classp_optax.scale_by_accumulator_decay(nonfinite='ignore'),
     ValueError, 'nonfinite must be one of'),
    ('mismatched-update', _mismatched_update, ValueError,
     'has shape (3,) but its accumulator has shape (2,)'),
    ('set-hyperparams-not-injected', _not_injected, ValueError,
     'no optax.inject_hyperparams state'),
    ('set-hyperparams-unknown',
     lambda: classp_optax.set_hyperparams(_injected_state(), momentum=0.9),
     ValueError, "'momentum' is not an injected hyperparameter"),
    ('set-hyperparams-static',
     lambda: classp_optax.set_hyperparams(_injected_state(), power=2.0),
     ValueError, "'power' is not an injected hyperparameter"),
    ('set-hyperparams-out-of-range',
     lambda: classp_optax.set_hyperparams(_injected_state(), threshold=-0.5),
     ValueError, 'threshold must be >= 0'),
    ('set-hyperparams-bool-gets-number',
     lambda: classp_optax.set_hyperparams(_injected_state(),
                                          apply_scaling=0.5),
     ValueError, "'apply_scaling' is boolean"),
    ('check-hyperparams-concrete',
     lambda: classp_optax.check_hyperparams(
         _injected_state()._replace(hyperparams={'threshold': -1.0})),
     checkify.JaxRuntimeError, 'threshold must be >= 0.0 and finite'),
    ('unknown-regularizer', lambda: regularizers.make_regularizer('adam'),
     ValueError, "Unknown regularizer 'adam'"),
    ('negative-strength',
     lambda: regularizers.make_regularizer('ewc', strength=-1.0),
     ValueError, 'strength must be >= 0.0'),
    ('decay-above-one',
     lambda: regularizers.make_regularizer('online_ewc', strength=1.0,
                                           decay=1.5),
     ValueError, 'decay must be <= 1.0'),
    ('unknown-method', lambda: methods.parse_method('lion'), ValueError,
     "Unknown method 'lion'"),
    ('knob-of-another-optimizer',
     lambda: methods.build(methods.parse_method('sgd'),
                           {'learning_rate': 0.1, 'power': 1.0}),
     ValueError, "sgd takes no ['power']"),
    ('unknown-stream', lambda: streams.make_stream('rotated_mnist'),
     ValueError, "Unknown stream 'rotated_mnist'"),
    ('stream-scenario', lambda: streams.make_stream('split_mnist', 'pixel'),
     ValueError, "Invalid scenario 'pixel' for stream 'split_mnist'"),
    ('unknown-dataset', lambda: data.load_dataset('cifar10'), ValueError,
     "Unknown dataset 'cifar10'"),
]


@pytest.mark.parametrize('call, error, fragment', [
    pytest.param(c, e, f, id=i) for i, c, e, f in LIBRARY_CASES])
def test_library_refuses_with_a_named_problem(call, error, fragment):
  with pytest.raises(error) as raised:
    call()
  assert fragment in str(raised.value)


def test_jit_keeps_the_checks_of_concrete_hyperparameters():
  # Built inside jit from concrete Python numbers: still checked at once.
  with pytest.raises(ValueError, match='power must be > 0'):
    jax.jit(lambda g: classp_optax.classp(0.1, power=-1.0).update(
        g, classp_optax.classp(0.1).init(g))[0])(jnp.ones(2))
