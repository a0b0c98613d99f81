"""The IDX file format of MNIST-like datasets: names, files and a reader.

Both ways of getting the data (a local folder, :mod:`experiments.data`, and
tensorflow-datasets, :mod:`experiments.tfds_images`) read these files, so
this module depends on neither.
"""

import gzip
import os
import zlib

import numpy as np

from experiments import errors

# The MNIST-like datasets, by their tensorflow-datasets names.
DATASETS = ('mnist', 'fashion_mnist')

# The four files of a dataset, by the array each holds.
IDX_FILES = {
    'train_x': 'train-images-idx3-ubyte.gz',
    'train_y': 'train-labels-idx1-ubyte.gz',
    'test_x': 't10k-images-idx3-ubyte.gz',
    'test_y': 't10k-labels-idx1-ubyte.gz',
}

_IDX_UBYTE = 0x08


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
  """Reads a gzip-compressed IDX file of unsigned bytes.

  Args:
    path: the ``.gz`` file.

  Returns:
    A read-only uint8 array with the dimensions given in the file's header.

  Raises:
    experiments.errors.InputError: (a ValueError) naming the file if it is not
      gzip, or its header or size is invalid.
  """
  try:
    with gzip.open(path, 'rb') as f:
      content = f.read()
  except (OSError, EOFError, zlib.error) as e:
    raise errors.InputError(f'{path}: not a readable gzip file ({e}).') from e
  if len(content) < 4:
    raise errors.InputError(f'{path}: too short for an IDX header.')
  zero, zero2, dtype_code, ndim = content[:4]
  if zero or zero2 or dtype_code != _IDX_UBYTE or ndim == 0:
    raise errors.InputError(
        f'{path}: bad IDX magic number 0x{content[:4].hex()} (expected'
        ' 0x000008NN: unsigned bytes, NN dimensions).')
  header_size = 4 + 4 * ndim
  if len(content) < header_size:
    raise errors.InputError(f'{path}: IDX header truncated.')
  shape = tuple(int(d) for d in np.frombuffer(
      content, dtype='>u4', count=ndim, offset=4))
  expected_size = header_size + int(np.prod(shape))
  if len(content) != expected_size:
    raise errors.InputError(
        f'{path}: {len(content)} bytes, but the header {shape} implies'
        f' {expected_size}.')
  return np.frombuffer(content, dtype=np.uint8, offset=header_size).reshape(
      shape)
