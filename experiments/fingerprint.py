"""What a run's result depends on besides its configuration.

A cached run is reused only when the current code would compute it. Its
record carries a fingerprint: a hash of the sources that compute it (the
library, the experiments' compute modules and its stream family's module;
not the command line, the sweep bookkeeping, the report or other stream
families), the versions of the packages they call, and a checksum of each
dataset its stream reads. :class:`experiments.run_cache.RunCache`
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
# a run also depends on its stream family's modules (compute_sources). What
# only shapes the data (the IDX and tensorflow-datasets readers) is covered by
# the data checksums.
SHARED_SOURCES = (
    'classp_optax',
    'experiments/data.py',
    'experiments/devices.py',
    'experiments/errors.py',
    'experiments/methods.py',
    'experiments/metrics.py',
    'experiments/models.py',
    'experiments/optimizers.py',
    'experiments/population.py',
    'experiments/protocol.py',
    'experiments/regularizers.py',
    'experiments/streams/base.py',
    'experiments/training.py',
)

# Packages whose versions a run's numbers may depend on.
PACKAGES = ('jax', 'jaxlib', 'optax', 'flax', 'chex', 'numpy', 'tokenizers')


def _files(root: Path, sources: Sequence[str]) -> list[Path]:
  files = []
  for source in sources:
    path = root / source
    files += sorted(path.rglob('*.py')) if path.is_dir() else [path]
  return files


def source_hash(root: Path, sources: Sequence[str]) -> str:
  """A hash of the sources' paths and contents.

  Args:
    root: the project's root.
    sources: files, or folders whose ``.py`` files (recursively) count.

  Returns:
    16 hexadecimal digits; any change to a file's content, or a file added
    or removed, changes it.
  """
  digest = hashlib.blake2b(digest_size=8)
  for path in _files(root, sources):
    digest.update(path.relative_to(root).as_posix().encode() + b'\0')
    digest.update(_CONTENTS[path] if path in _CONTENTS
                  else path.read_bytes())
    digest.update(b'\0')
  return digest.hexdigest()


# The experiments' and the library's sources as this process loaded them
# (read once, on import), so that a sweep's runs are stamped with the code
# that computes them even if the files change while it runs.
_CONTENTS = {path: path.read_bytes() for path in (
    *(ROOT / 'classp_optax').rglob('*.py'),
    *(ROOT / 'experiments').rglob('*.py'))}


def compute_sources(stream: str) -> tuple[str, ...]:
  """The sources a run of ``stream`` depends on, relative to :data:`ROOT`.

  :data:`SHARED_SOURCES`, the stream family's module and the modules of
  :mod:`experiments.streams` it imports (e.g. the tokenizer of text streams):
  adding or changing another family, or the registry listing them, leaves
  this stream's runs valid.
  """
  module = inspect.getmodule(streams.family(stream).build)
  own = [module, *(value for value in vars(module).values()
                   if inspect.ismodule(value)
                   and value.__name__.startswith('experiments.streams.'))]
  paths = sorted({Path(inspect.getsourcefile(m)).resolve().relative_to(
      ROOT).as_posix() for m in own} - set(SHARED_SOURCES))
  return SHARED_SOURCES + tuple(paths)


def package_versions(packages: Sequence[str] = PACKAGES) -> dict[str, str]:
  """The installed version of each package."""
  return {name: importlib.metadata.version(name) for name in packages}


def current(stream: str,
            data_dir: str | os.PathLike[str] | None) -> dict[str, Any]:
  """The fingerprint a run of ``stream`` gets from the current code and data.

  Args:
    stream: a stream name (:data:`experiments.streams.STREAMS`).
    data_dir: the data folder the run reads.

  Returns:
    ``{'source': ..., 'packages': {...}, 'data': {dataset: checksum}}``; the
    source is the code this process loaded.
  """
  return {'source': source_hash(ROOT, compute_sources(stream)),
          'packages': _packages(),
          'data': {name: data.checksum(name, data_dir)
                   for name in streams.family(stream).datasets}}


@functools.cache
def _packages() -> dict[str, str]:
  return package_versions()
