"""Tests for experiments.data."""

import time

import numpy as np
import pytest

from experiments import data
from experiments import idx
from tests.experiments import idx_files


@pytest.mark.parametrize('name', idx.DATASETS)
def test_real_dataset_shapes_and_normalization(data_dir, name):
  dataset = data.load_dataset(name, data_dir)
  assert dataset.train_x.shape == (60000, 28, 28, 1)
  assert dataset.test_x.shape == (10000, 28, 28, 1)
  assert dataset.train_y.shape == (60000,)
  assert dataset.test_y.shape == (10000,)
  for images, labels in ((dataset.train_x, dataset.train_y),
                         (dataset.test_x, dataset.test_y)):
    assert images.dtype == np.float32
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(np.unique(labels), np.arange(10))
  assert abs(float(dataset.train_x.mean())) < 0.01
  assert abs(float(dataset.train_x.std()) - 1.0) < 0.01


def test_real_label_counts(data_dir):
  mnist = data.load_dataset('mnist', data_dir)
  assert np.bincount(mnist.train_y)[1] == 6742
  fashion = data.load_dataset('fashion_mnist', data_dir)
  np.testing.assert_array_equal(np.bincount(fashion.train_y), [6000] * 10)


def test_arrays_are_read_only(data_dir):
  dataset = data.load_dataset('mnist', data_dir)
  with pytest.raises(ValueError):
    dataset.train_x[0, 0, 0, 0] = 1.0


def test_env_var_gives_data_dir(data_dir, monkeypatch):
  monkeypatch.setenv(data.DATA_DIR_ENV, str(data_dir))
  assert data.load_dataset('mnist').train_x.shape == (60000, 28, 28, 1)


def test_tiny_dataset_files_directly_in_data_dir(tmp_path):
  arrays = idx_files.write_tiny_dataset(tmp_path)
  dataset = data.load_dataset('mnist', tmp_path)
  mean, std = data.NORMALIZATION['mnist']
  expected = (arrays['train_x'][..., None] / 255.0 - mean) / std
  np.testing.assert_allclose(dataset.train_x, expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(dataset.train_y, arrays['train_y'])
  np.testing.assert_array_equal(dataset.test_y, arrays['test_y'])
  assert dataset.test_x.shape == (2, 28, 28, 1)


def test_tiny_dataset_in_named_subfolder(tmp_path):
  arrays = idx_files.write_tiny_dataset(tmp_path / 'fashion_mnist')
  dataset = data.load_dataset('fashion_mnist', tmp_path)
  np.testing.assert_array_equal(dataset.train_y, arrays['train_y'])


def test_corrupt_file_in_dataset_names_file(tmp_path):
  idx_files.write_tiny_dataset(tmp_path)
  idx_files.write_idx(tmp_path / idx.IDX_FILES['test_y'], np.zeros(3, np.uint8))
  with pytest.raises(ValueError, match=idx.IDX_FILES['test_y']):
    data.load_dataset('mnist', tmp_path)


def test_missing_files_raise(tmp_path):
  with pytest.raises(data.DataUnavailableError) as error:
    data.load_dataset('mnist', tmp_path)
  for filename in idx.IDX_FILES.values():
    assert filename in str(error.value)


def test_unknown_name_lists_valid_names():
  with pytest.raises(ValueError, match='mnist, fashion_mnist'):
    data.load_dataset('cifar10')


def test_offline_without_data_dir_fails_fast(monkeypatch, tmp_path):
  monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
  monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path))  # nothing prepared
  monkeypatch.setattr(data, '_is_online', lambda *args, **kwargs: False)
  start = time.monotonic()
  with pytest.raises(data.DataUnavailableError) as error:
    data.load_dataset('mnist')
  assert time.monotonic() - start < 5
  message = str(error.value)
  for filename in idx.IDX_FILES.values():
    assert filename in message
  for hint in ('--data-dir', data.DATA_DIR_ENV):
    assert hint in message
  assert '../shared' not in message  # a folder users do not have


def test_tfds_prepares_array_record_once_then_reads_offline(
    tmp_path, monkeypatch):
  arrays = idx_files.write_tiny_dataset(tmp_path / 'idx')
  monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
  monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path / 'tfds'))
  downloads = []

  def download(name):
    downloads.append(name)
    return data._local_files(name, tmp_path / 'idx')

  monkeypatch.setattr(data, '_downloaded_files', download)
  data._tfds_dataset.cache_clear()
  prepared = data.load_dataset('mnist')
  assert downloads == ['mnist']
  assert list((tmp_path / 'tfds').glob(
      'classp_idx_images/mnist/1.0.0/*.array_record*'))
  expected = data.load_dataset('mnist', tmp_path / 'idx')
  for got, want in zip(prepared, expected):
    np.testing.assert_array_equal(got, want)  # same values, same order
  np.testing.assert_array_equal(prepared.train_y, arrays['train_y'])
  # A new process (cache cleared) reads the prepared data, downloading nothing.
  data._tfds_dataset.cache_clear()
  monkeypatch.setattr(data, '_is_online', lambda *args, **kwargs: False)
  np.testing.assert_array_equal(data.load_dataset('mnist').test_x,
                                expected.test_x)
  assert downloads == ['mnist']
  data._tfds_dataset.cache_clear()
