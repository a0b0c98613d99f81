"""What a run's result depends on besides its configuration.

A cached run is reused only when the current code would compute it. Its
record carries a fingerprint: a hash of the sources that compute it (the
library, the experiments' compute modules and its stream family's module;
not the command line, the sweep bookkeeping, the report or other stream
families), the versions of the packages they call, and a checksum of each
dataset its stream reads. :class:`experiments.sweep.RunCache`
compares it with :func:`current`.
"""

from collections.abc import Sequence
import functools
import hashlib
import importlib.metadata
import inspect
import os
from pathlib import Path
from typing import Any

from experiments import data
from experiments import streams

ROOT = Path(__file__).resolve().parent.parent

# Files (or folders of .py files) that compute every run, relative to ROOT;
# a run also depends on its stream family's module (compute_sources).
SHARED_SOURCES = (
    'classp_optax',
    'experiments/data.py',
    'experiments/errors.py',
    'experiments/idx.py',
    'experiments/methods.py',
    'experiments/metrics.py',
    'experiments/models.py',
    'experiments/optimizers.py',
    'experiments/protocol.py',
    'experiments/regularizers.py',
    'experiments/streams/base.py',
    'experiments/streams/text.py',
    'experiments/tfds_images.py',
    'experiments/training.py',
)


def compute_sources(stream: str) -> tuple[str, ...]:
  """The sources a run of ``stream`` depends on, relative to :data:`ROOT`.

  :data:`SHARED_SOURCES` and the stream family's own module: adding or
  changing another family (or the registry listing them) leaves this
  stream's runs valid.
  """
  module = Path(inspect.getsourcefile(streams.family(stream).build))
  return SHARED_SOURCES + (module.resolve().relative_to(ROOT).as_posix(),)


# Packages whose versions a run's numbers may depend on.
PACKAGES = ('jax', 'jaxlib', 'optax', 'flax', 'chex', 'numpy')


def source_hash(root: Path, sources: Sequence[str]) -> str:
  """A hash of the compute sources' paths and contents.

  Args:
    root: the project's root.
    sources: files, or folders whose ``.py`` files (recursively) count.

  Returns:
    16 hexadecimal digits; any change to a file's content, or a file added
    or removed, changes it.
  """
  files = []
  for source in sources:
    path = root / source
    files += sorted(path.rglob('*.py')) if path.is_dir() else [path]
  digest = hashlib.blake2b(digest_size=8)
  for path in files:
    digest.update(path.relative_to(root).as_posix().encode() + b'\0')
    digest.update(path.read_bytes() + b'\0')
  return digest.hexdigest()


def package_versions(packages: Sequence[str] = PACKAGES) -> dict[str, str]:
  """The installed version of each package."""
  return {name: importlib.metadata.version(name) for name in packages}


@functools.cache
def _code(stream: str) -> dict[str, Any]:
  # Read once per process and stream: a sweep's runs all come from the code
  # it started with.
  return {'source': source_hash(ROOT, compute_sources(stream)),
          'packages': package_versions()}


def current(stream: str,
            data_dir: str | os.PathLike[str] | None) -> dict[str, Any]:
  """The fingerprint a run of ``stream`` gets from the current code and data.

  Args:
    stream: a stream name (:data:`experiments.streams.STREAMS`).
    data_dir: the data folder the run reads.

  Returns:
    ``{'source': ..., 'packages': {...}, 'data': {dataset: checksum}}``.
  """
  return {**_code(stream), 'data': {
      name: data.checksum(name, data_dir)
      for name in streams.family(stream).datasets}}
