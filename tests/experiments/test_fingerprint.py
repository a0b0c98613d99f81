"""Tests of experiments.fingerprint."""

from experiments import fingerprint


def test_a_changed_compute_source_changes_the_fingerprint(tmp_path):
  (tmp_path / 'lib').mkdir()
  (tmp_path / 'lib' / 'a.py').write_text('x = 1\n')
  (tmp_path / 'b.py').write_text('y = 2\n')
  sources = ('lib', 'b.py')
  before = fingerprint.source_hash(tmp_path, sources)
  assert fingerprint.source_hash(tmp_path, sources) == before
  (tmp_path / 'lib' / 'a.py').write_text('x = 2\n')
  edited = fingerprint.source_hash(tmp_path, sources)
  (tmp_path / 'lib' / 'c.py').write_text('')
  added = fingerprint.source_hash(tmp_path, sources)
  assert len({before, edited, added}) == 3
  (tmp_path / 'notes.md').write_text('not a source')
  assert fingerprint.source_hash(tmp_path, sources) == added


def test_the_fingerprint_covers_the_library_and_the_compute_modules():
  sources = fingerprint.compute_sources('split_mnist')
  covered = set()
  for source in sources:
    path = fingerprint.ROOT / source
    assert path.exists()
    covered |= ({p.relative_to(fingerprint.ROOT).as_posix()
                 for p in path.rglob('*.py')} if path.is_dir() else {source})
  for module in ('classp_optax/transforms.py', 'experiments/training.py',
                 'experiments/regularizers.py', 'experiments/streams/base.py',
                 'experiments/streams/split_mnist.py',
                 'experiments/population.py', 'experiments/devices.py'):
    assert module in covered
  # Not the bookkeeping, nor other stream families or their registry.
  for module in ('experiments/cli.py', 'experiments/report.py',
                 'experiments/sweep.py', 'experiments/run_cache.py',
                 'experiments/plots.py', 'experiments/evidence.py',
                 'experiments/streams/__init__.py',
                 'experiments/streams/permuted_mnist.py',
                 'experiments/streams/tweet_domains.py'):
    assert module not in covered
  assert 'experiments/streams/tweet_domains.py' in (
      fingerprint.compute_sources('tweet_domains'))
