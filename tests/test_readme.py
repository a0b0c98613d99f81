"""The README's Python examples run as written and compute what they say."""

import contextlib
import io
from pathlib import Path
import re

import jax
import jax.numpy as jnp
import numpy as np

import classp_optax

README = Path(__file__).resolve().parents[1] / 'README.md'
BLOCKS = re.findall(r'```python\n(.*?)```', README.read_text(), re.S)


def _run_block(index):
  """Runs a block; returns its namespace and what it printed."""
  namespace, printed = {}, io.StringIO()
  with contextlib.redirect_stdout(printed):
    exec(compile(BLOCKS[index], f'README.md block {index}', 'exec'),
         namespace)
  return namespace, printed.getvalue()


def test_readme_has_the_two_examples():
  assert len(BLOCKS) == 2  # a new block needs a test of its own below


def test_training_example_trains_and_reports_the_capacity_used():
  namespace, printed = _run_block(0)
  optimizer, loss = namespace['optimizer'], namespace['loss']
  assert np.isfinite(float(loss))
  used = float(classp_optax.capacity_used(optimizer.opt_state))
  assert 0.0 < used <= 1.0
  assert printed.strip() == str(classp_optax.capacity_used(
      optimizer.opt_state))
  # Three steps moved the weights and filled the accumulator.
  accumulators = classp_optax.accumulator_leaves(optimizer.opt_state)
  assert all(float(jnp.max(a)) > 0 for a in accumulators)


def test_switching_example_keeps_dtypes_and_switches_the_values():
  namespace, _ = _run_block(1)
  state = namespace['state']
  assert float(state.hyperparams['threshold']) == 0.0
  assert bool(state.hyperparams['apply_scaling'])
  assert state.hyperparams['apply_scaling'].dtype == jnp.bool_
  assert state.hyperparams['threshold'].dtype == jnp.float32
  assert jax.tree.structure(state) == jax.tree.structure(
      namespace['tx'].init(jnp.zeros(3)))


def test_quickstart_test_command_is_what_ci_runs():
  ci = (README.parent / '.ci' / 'run').read_text()
  readme = README.read_text()
  command = re.search(
      r'```bash\n(pip install -e "\.\[dev\]" && pytest[^\n]*)\n',
      readme).group(1)
  assert command in ci.splitlines()
  assert 'ruff check .' in ci.splitlines() and 'ruff check .' in readme

