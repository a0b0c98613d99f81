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


def write_tiny_dataset(directory: Path) -> dict[str, np.ndarray]:
  """Writes four tiny IDX files into ``directory``; returns their arrays."""
  rng = np.random.default_rng(0)
  arrays = {
      'train_x': rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
      'train_y': np.array([0, 1, 2, 3, 9], dtype=np.uint8),
      'test_x': rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
      'test_y': np.array([4, 5], dtype=np.uint8),
  }
  directory.mkdir(parents=True, exist_ok=True)
  for key, filename in idx.IDX_FILES.items():
    write_idx(directory / filename, arrays[key])
  return arrays
