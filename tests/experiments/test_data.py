"""Tests for experiments.data."""

import gzip
import re
import time

import numpy as np
import pytest

from experiments import data
from experiments import errors
from experiments import idx
from tests.experiments import idx_files
from tests.experiments import tweet_files


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


def test_real_tweets(tweets_dir):
  tweets = data.load_tweets(tweets_dir)
  assert len(tweets.text) == 38158
  np.testing.assert_array_equal(np.bincount(tweets.label),
                                [16186, 15018, 6954])
  # Byte 0xd1, which is no UTF-8, is Mac OS Roman's em dash.
  assert tweets.text[0].endswith('#driverless cars_—_.no thank you')
  assert sum(text.endswith('‰Û_') for text in tweets.text) == 1043
  # No C1 control characters, as Latin-1 would give.
  assert not re.search('[\x80-\x9f]', '\n'.join(tweets.text))


def test_image_checksums_are_unchanged_by_text_datasets(data_dir):
  assert data.checksum('mnist', data_dir) == 'ac3802bc45e66822'
  assert data.checksum('fashion_mnist', data_dir) == 'bc92177dd4366d75'


def test_tiny_tweets_texts_labels_and_encoding(tmp_path):
  tweet_files.write_corpus(tmp_path)
  tweets = data.load_tweets(tmp_path)
  # Non-ASCII characters (é, —, ‰Û_), commas, quotes and line breaks.
  assert tweets.text == tuple(row[2] for row in tweet_files.ROWS)
  np.testing.assert_array_equal(
      tweets.label,
      [data.SENTIMENTS.index(row[0]) for row in tweet_files.ROWS])
  assert tweets.label.dtype == np.int32
  assert isinstance(tweets.text, tuple)
  with pytest.raises(ValueError):
    tweets.label[0] = 2
  assert data.load_tweets(tmp_path) is tweets  # cached


def test_tweets_file_directly_in_data_dir(tmp_path):
  tweet_files.write_tweets(tmp_path / data.TWEETS_FILE)
  assert len(data.load_tweets(tmp_path).text) == len(tweet_files.ROWS)


def test_env_var_gives_tweets_dir(tmp_path, monkeypatch):
  tweet_files.write_corpus(tmp_path)
  monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
  assert len(data.load_tweets().text) == len(tweet_files.ROWS)


@pytest.mark.parametrize('env', [False, True])
def test_missing_tweets_name_the_file_and_the_fix(tmp_path, monkeypatch, env):
  if env:
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
  else:
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
  with pytest.raises(data.DataUnavailableError) as error:
    data.load_tweets()
  message = str(error.value)
  assert '\n' not in message
  for hint in (data.TWEETS_FILE, '--data-dir', data.DATA_DIR_ENV):
    assert hint in message
  if env:
    assert str(tmp_path / 'tweet_sentiment' / data.TWEETS_FILE) in message


def _gzip(content: bytes) -> bytes:
  return gzip.compress(content)


_GOOD_ROWS = tweet_files.ROWS[:3]


@pytest.mark.parametrize('content, match', [
    (tweet_files.csv_bytes(), 'not a readable gzip file'),
    (_gzip(tweet_files.csv_bytes())[:-30], 'not a readable gzip file'),
    (_gzip(b''), 'no header'),
    (_gzip(tweet_files.csv_bytes(header=('label', 'text'))),
     "'label,text', expected the header 'sentiment,confidence,text'"),
    (_gzip(tweet_files.csv_bytes(rows=())), 'no tweets'),
    (_gzip(tweet_files.csv_bytes(
        rows=(*_GOOD_ROWS, ('angry', '1', 'grr')))),
     "line 5 has the unknown sentiment 'angry'"),
    (_gzip(tweet_files.csv_bytes(rows=(*_GOOD_ROWS, ('positive', 'yay')))),
     'line 5 has 2 fields, expected 3'),
    (_gzip(tweet_files.csv_bytes(rows=(('neutral', '1', 'x' * 200_000),))),
     'malformed CSV at line 2'),
])
def test_bad_tweet_files_raise_one_line_errors(tmp_path, content, match):
  path = tmp_path / data.TWEETS_FILE
  path.write_bytes(content)
  with pytest.raises(errors.InputError, match=re.escape(match)) as error:
    data.load_tweets(tmp_path)
  message = str(error.value)
  assert str(path) in message and '\n' not in message
  assert 'intact copy' in message


def test_tweet_checksum_hashes_texts_and_labels(tmp_path):
  rows = list(tweet_files.ROWS)
  relabeled = [('neutral', *rows[0][1:]), *rows[1:]]
  # The same characters, cut between texts elsewhere.
  recut = [(*rows[0][:2], rows[0][2] + rows[1][2][:3]),
           (*rows[1][:2], rows[1][2][3:]), *rows[2:]]
  for name, corpus in (('a', rows), ('same', rows), ('label', relabeled),
                       ('cut', recut)):
    tweet_files.write_corpus(tmp_path / name, rows=corpus)
  sums = {name: data.checksum('tweet_sentiment', tmp_path / name)
          for name in ('a', 'same', 'label', 'cut')}
  assert re.fullmatch('[0-9a-f]{16}', sums['a'])
  assert sums['a'] == sums['same']
  assert len({sums['a'], sums['label'], sums['cut']}) == 3
