"""Tests for experiments.idx."""

import gzip

import numpy as np
import pytest

from experiments import idx
from tests.experiments import idx_files


def test_idx_round_trip(tmp_path):
  array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
  idx_files.write_idx(tmp_path / 'x.gz', array)
  read = idx.read_idx(tmp_path / 'x.gz')
  assert read.dtype == np.uint8
  np.testing.assert_array_equal(read, array)


def test_corrupt_magic_names_file(tmp_path):
  path = tmp_path / 'bad-images.gz'
  idx_files.write_idx(path, np.zeros((2, 28, 28), np.uint8), magic=0x0903)
  with pytest.raises(ValueError, match='bad-images.gz'):
    idx.read_idx(path)


def test_truncated_file_names_file(tmp_path):
  path = tmp_path / 'short.gz'
  idx_files.write_idx(path, np.zeros((2, 28, 28), np.uint8))
  with gzip.open(path, 'rb') as f:
    content = f.read()
  with gzip.open(path, 'wb') as f:
    f.write(content[:-1])
  with pytest.raises(ValueError, match='short.gz'):
    idx.read_idx(path)


def test_not_gzip_names_file(tmp_path):
  path = tmp_path / 'plain.gz'
  path.write_bytes(b'not gzip data')
  with pytest.raises(ValueError, match='plain.gz'):
    idx.read_idx(path)
