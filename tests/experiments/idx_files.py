"""Tiny IDX files written by tests."""

import gzip
from pathlib import Path

import numpy as np

from experiments import idx


def write_idx(path: Path, array: np.ndarray, magic: int | None = None):
  """Writes a uint8 array as a gzip IDX file, optionally with a given magic."""
  magic = 0x0800 + array.ndim if magic is None else magic
  header = np.array([magic, *array.shape], dtype='>u4').tobytes()
  with gzip.open(path, 'wb') as f:
    f.write(header + array.astype(np.uint8).tobytes())


def write_tiny_dataset(directory: Path, num_train: int = 5,
                       num_test: int = 2) -> dict[str, np.ndarray]:
  """Writes four tiny IDX files into ``directory``; returns their arrays.

  With the default sizes the labels are ``[0, 1, 2, 3, 9]`` and ``[4, 5]``;
  larger ones cycle through the ten classes.
  """
  rng = np.random.default_rng(0)

  def labels(n, small):
    return np.array(small if n == len(small) else np.arange(n) % 10,
                    dtype=np.uint8)

  arrays = {
      'train_x': rng.integers(0, 256, (num_train, 28, 28), dtype=np.uint8),
      'train_y': labels(num_train, [0, 1, 2, 3, 9]),
      'test_x': rng.integers(0, 256, (num_test, 28, 28), dtype=np.uint8),
      'test_y': labels(num_test, [4, 5]),
  }
  directory.mkdir(parents=True, exist_ok=True)
  for key, filename in idx.IDX_FILES.items():
    write_idx(directory / filename, arrays[key])
  return arrays
