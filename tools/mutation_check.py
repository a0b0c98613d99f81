"""A small, repeatable mutation check: do the tests catch plausible bugs?

Each mutant below changes one place of the library, the training loop, the
regularizers, the carving of streams, the text model and tokenizer, the run
cache, the search or the statistics into a bug someone could write. The
check applies one mutant at a time, runs the tests of that module
(stopping at the first failure) and restores the file, then prints which
mutants the tests killed and the kill rate::

  python tools/mutation_check.py              # every mutant
  python tools/mutation_check.py --only fused-threshold-ge

It needs the data folder for the streams' tests (``CLASSP_DATA_DIR``) and
takes 10-20 minutes on 2 CPU cores; a file is always restored, also when the
check is interrupted.
"""

import argparse
from pathlib import Path
import subprocess
import sys
import time
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]

_LIBRARY_TESTS = ('tests/test_transforms.py', 'tests/test_alias.py',
                  'tests/test_hyperparams.py', 'tests/test_diagnostics.py',
                  'tests/test_properties.py', 'tests/test_optax_bar.py',
                  'tests/test_composition.py', 'tests/test_readme.py')
_LOOP_TESTS = ('tests/experiments/test_training.py',
               'tests/experiments/test_regularizers.py')


class Mutant(NamedTuple):
  name: str
  path: str
  original: str
  mutated: str
  tests: tuple[str, ...]


MUTANTS = (
    Mutant('fused-threshold-ge', 'classp_optax/transforms.py',
           'return (((g > sqrt_threshold) | (g < -sqrt_threshold))',
           'return (((g >= sqrt_threshold) | (g <= -sqrt_threshold))',
           _LIBRARY_TESTS),
    Mutant('mask-threshold-ge', 'classp_optax/transforms.py',
           'return jnp.isfinite(g) & (jnp.abs(g) > sqrt_threshold)',
           'return jnp.isfinite(g) & (jnp.abs(g) >= sqrt_threshold)',
           _LIBRARY_TESTS),
    Mutant('mask-keeps-nonfinite', 'classp_optax/transforms.py',
           'return jnp.isfinite(g) & (jnp.abs(g) > sqrt_threshold)',
           'return jnp.abs(g) > sqrt_threshold', _LIBRARY_TESTS),
    Mutant('accumulator-forgets', 'classp_optax/transforms.py',
           'return (a.astype(compute) + magnitude).astype(a.dtype)',
           'return magnitude.astype(a.dtype)', _LIBRARY_TESTS),
    Mutant('zero-accumulator-scaled', 'classp_optax/transforms.py',
           'scaled = jnp.where(a > 0, scaled,',
           'scaled = jnp.where(a >= 0, scaled,', _LIBRARY_TESTS),
    Mutant('wrong-root', 'classp_optax/transforms.py',
           '_power(x, -1.0 / (traced_power if',
           '_power(x, -0.5 / (traced_power if', _LIBRARY_TESTS),
    Mutant('traced-scaling-swapped', 'classp_optax/transforms.py',
           'jnp.where(apply_scaling, scaled, g)',
           'jnp.where(apply_scaling, g, scaled)', _LIBRARY_TESTS),
    Mutant('int-params-accepted', 'classp_optax/transforms.py',
           '    if not jnp.issubdtype(dtype, jnp.floating):\n      raise',
           '    if False:\n      raise', _LIBRARY_TESTS),
    Mutant('set-hyperparams-weak-dtype', 'classp_optax/hyperparams.py',
           'value, dtype=jnp.result_type(leaf)), old)',
           'value), old)', _LIBRARY_TESTS),
    Mutant('set-hyperparams-drops-wrapper', 'classp_optax/hyperparams.py',
           'hyperparams[name] = jax.tree.map(',
           'hyperparams[name] = jax.tree.leaves(old)[0] * 0 + jax.tree.map(',
           _LIBRARY_TESTS),
    Mutant('capacity-counts-zeros', 'classp_optax/diagnostics.py',
           'return _total(leaves, lambda a: a > 0) / _size(leaves)',
           'return _total(leaves, lambda a: a >= 0) / _size(leaves)',
           _LIBRARY_TESTS),
    Mutant('optimizer-reset-per-task', 'experiments/training.py',
           '    state = _train_phase(\n        learner, state, phase,',
           '    state = state._replace(opt_state=learner.optimizer.init(\n'
           '        state.params))\n'
           '    state = _train_phase(\n        learner, state, phase,',
           _LOOP_TESTS),
    Mutant('si-gets-total-gradient', 'experiments/training.py',
           'params, grads)\n    finite = ', 'params, total)\n    finite = ',
           _LOOP_TESTS),
    Mutant('divergence-unnoticed', 'experiments/training.py',
           'finite = jnp.isfinite(loss) & _all_finite(params)',
           'finite = jnp.isfinite(loss) | _all_finite(params)', _LOOP_TESTS),
    Mutant('fisher-with-task-0-heads', 'experiments/training.py',
           'self.task_data(split.x[subset], split.y[subset], task)',
           'self.task_data(split.x[subset], split.y[subset], 0)',
           _LOOP_TESTS),
    Mutant('no-consolidation', 'experiments/training.py',
           '    if not spec.joint:\n      state = learner.consolidate(',
           '    if spec.joint:\n      state = learner.consolidate(',
           _LOOP_TESTS),
    Mutant('population-fisher-with-task-0-heads', 'experiments/population.py',
           'task_data = self.task_data(None, None, task)',
           'task_data = self.task_data(None, None, 0)',
           ('tests/experiments/test_population.py',)),
    Mutant('penalty-not-added', 'experiments/training.py',
           'total = optax.tree.add(grads, penalty_grads)',
           'total = optax.tree.add(grads, jax.tree.map(lambda g: 0 * g, '
           'penalty_grads))', _LOOP_TESTS),
    Mutant('padding-counted-correct', 'experiments/training.py',
           'padded(split.y, -1)', 'padded(split.y, 0)', _LOOP_TESTS),
    Mutant('ewc-without-half', 'experiments/regularizers.py',
           'return 0.5 * strength * sum(', 'return strength * sum(',
           _LOOP_TESTS),
    Mutant('online-ewc-no-decay', 'experiments/regularizers.py',
           'lambda old, n: decay * old + n', 'lambda old, n: old + n',
           _LOOP_TESTS),
    Mutant('si-omega-sign', 'experiments/regularizers.py',
           'lambda o, g, a, b: o - g * (a - b)',
           'lambda o, g, a, b: o + g * (a - b)', _LOOP_TESTS),
    Mutant('si-no-damping', 'experiments/regularizers.py',
           'big + o / (jnp.square(p - a) + damping)',
           'big + o / (jnp.square(p - a) + 1e-3)', _LOOP_TESTS),
    Mutant('mas-squares', 'experiments/regularizers.py',
           'jnp.abs, params, x, y, chunk_size=chunk_size)',
           'jnp.square, params, x, y, chunk_size=chunk_size)', _LOOP_TESTS),
    Mutant('validation-from-test', 'experiments/streams/base.py',
           'split(examples.train_x, examples.train_y, val),',
           'split(examples.test_x, examples.test_y, val),',
           ('tests/experiments/streams',)),
    Mutant('welch-pooled-variance', 'experiments/metrics.py',
           'equal_var=False).pvalue)', 'equal_var=True).pvalue)',
           ('tests/experiments/test_metrics.py',)),
    Mutant('stale-run-reused', 'experiments/run_cache.py',
           "if stored.get('fingerprint') == code:",
           "if stored.get('fingerprint') is not None:",
           ('tests/experiments/test_run_cache.py',)),
    Mutant('diverged-run-vouches', 'experiments/run_cache.py',
           "elif not all(run.record.get('diverged') for run in fresh):",
           'else:',
           ('tests/experiments/test_run_cache.py',)),
    Mutant('halving-keeps-the-worst', 'experiments/search.py',
           'chosen = set(ranked(screen_scores)[:self.keep])',
           'chosen = set(ranked(screen_scores)[-self.keep:])',
           ('tests/experiments/test_search.py',
            'tests/experiments/test_sweep.py')),
    Mutant('narrower-finalists-dropped', 'experiments/search.py',
           'if self.narrower_budget is not None:',
           'if False:',
           ('tests/experiments/test_search.py',
            'tests/experiments/test_sweep.py')),
    Mutant('named-points-dropped', 'experiments/search.py',
           'return ([Candidate(point, label) for label, point in named]',
           'return ([Candidate(point) for label, point in named][1:]',
           ('tests/experiments/test_search.py',)),
    Mutant('tokenizer-sees-every-domain',
           'experiments/streams/tweet_domains.py',
           'tokenizer = text.fit_tokenizer([tweets.text[i] for i in '
           'indices[0][0]])',
           'tokenizer = text.fit_tokenizer(list(tweets.text))',
           ('tests/experiments/streams',)),
    Mutant('padding-attended', 'experiments/models.py',
           'tokens = x != PADDING_ID  # [B, L]', 'tokens = x >= 0  # [B, L]',
           ('tests/experiments/test_models.py',)),
    Mutant('bwt-sign', 'experiments/metrics.py',
           'np.mean(matrix[-1, :-1] - np.diag(matrix)[:-1])',
           'np.mean(np.diag(matrix)[:-1] - matrix[-1, :-1])',
           ('tests/experiments/test_metrics.py',)),
)


def stale_mutants() -> list[str]:
  """Mutants whose original text is not found exactly once in its file."""
  return [m.name for m in MUTANTS
          if (ROOT / m.path).read_text().count(m.original) != 1]


def _killed(mutant: Mutant) -> bool:
  """Applies ``mutant``, runs its tests, restores the file."""
  path = ROOT / mutant.path
  source = path.read_text()
  if source.count(mutant.original) != 1:
    raise SystemExit(f'{mutant.name}: the original text is not found exactly '
                     f'once in {mutant.path}; update the mutant.')
  try:
    path.write_text(source.replace(mutant.original, mutant.mutated))
    tests = subprocess.run(
        [sys.executable, '-m', 'pytest', '-x', '-q', '-p', 'no:cacheprovider',
         *mutant.tests], cwd=ROOT, capture_output=True, text=True)
  finally:
    path.write_text(source)
  return tests.returncode != 0


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--only', nargs='*', default=None,
                      help='names of the mutants to try (default: all)')
  args = parser.parse_args()
  mutants = [m for m in MUTANTS if args.only is None or m.name in args.only]
  killed = 0
  for mutant in mutants:
    start = time.perf_counter()
    caught = _killed(mutant)
    killed += caught
    print(f'{"killed  " if caught else "SURVIVED"} {mutant.name} '
          f'({mutant.path}, {time.perf_counter() - start:.0f} s)', flush=True)
  print(f'kill rate: {killed}/{len(mutants)} mutants')
  return 0 if killed == len(mutants) else 1


if __name__ == '__main__':
  raise SystemExit(main())
