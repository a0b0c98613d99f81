"""Tests of the text datasets of tensorflow-datasets (experiments.tfds_text).

Every test prepares tiny archives written in ``tmp_path``; nothing is
downloaded.
"""

import re
import sys
import time
import zipfile

import numpy as np
import pytest
import tensorflow_datasets as tfds

from experiments import data
from experiments import tfds_text
from tests.experiments import text_archives
from tests.experiments import tweet_files

# What the tiny archives hold: train and test texts and labels.
_EXPECTED = {
    'imdb_reviews': (*text_archives.imdb_split('train'),
                     *text_archives.imdb_split('test')),
    'glue/sst2': ([s for s, _ in text_archives.SST2_TRAIN],
                  [y for _, y in text_archives.SST2_TRAIN],
                  [s for s, _ in text_archives.SST2_DEV],
                  [y for _, y in text_archives.SST2_DEV]),
}
# The URL and sha256 checksum tensorflow-datasets registers for each archive.
_REGISTERED = {
    'imdb_reviews': (
        'http://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz',
        'c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe'),
    'glue/sst2': (
        'https://dl.fbaipublicfiles.com/glue/data/SST-2.zip',
        'd67e16fb55739c1b32cdce9877596db1c127dc322d93c082281f64057c16deaa'),
}
_HOSTS = {'imdb_reviews': ('ai.stanford.edu', 80),
          'glue/sst2': ('dl.fbaipublicfiles.com', 443)}


@pytest.mark.parametrize('name', data.TFDS_TEXT_DATASETS)
def test_prepares_array_record_once_then_reads_offline(
    served_text, monkeypatch, name):
  splits = data.load_text_dataset(name)
  assert served_text.downloads == [name]
  config = tfds_text.CONFIGS[name]
  for split in tfds_text.SPLITS:
    assert list(served_text.tfds_dir.glob(
        f'classp_text/{config}/1.0.0/classp_text-{split}.array_record*'))
  train_text, train_y, test_text, test_y = _EXPECTED[name]
  assert splits.train.text == tuple(train_text)  # same texts, same order
  assert splits.test.text == tuple(test_text)
  np.testing.assert_array_equal(splits.train.label, train_y)
  np.testing.assert_array_equal(splits.test.label, test_y)
  for split in splits:
    assert isinstance(split.text, tuple)
    assert split.label.dtype == np.int32
    with pytest.raises(ValueError):
      split.label[0] = 1
  assert data.load_text_dataset(name) is splits  # cached
  # A new process (cache cleared), offline, reads the prepared copy.
  data._tfds_text.cache_clear()
  monkeypatch.setattr(data, '_is_online', lambda *args, **kwargs: False)
  again = data.load_text_dataset(name)
  assert again.train.text == splits.train.text
  np.testing.assert_array_equal(again.test.label, splits.test.label)
  assert served_text.downloads == [name]
  assert 'tensorflow' not in sys.modules


def test_imdb_keeps_labeled_reviews_stripped_with_their_markup(served_text):
  splits = data.load_text_dataset('imdb_reviews')
  texts = splits.train.text + splits.test.text
  assert len(texts) == len(text_archives.IMDB_REVIEWS)  # no unsup, no README
  assert texts[0] == ('Bromwell High is a cartoon comedy.<br /><br />I loved'
                      ' it.')
  assert texts[1] == ('Story of a man who has unnatural feelings for a pig.'
                      ' Avoid.')
  assert 'café scenes — wonderful' in texts[2]


def test_sst2_test_split_is_glue_validation(served_text):
  splits = data.load_text_dataset('glue/sst2')
  assert splits.test.text[0] == "it 's a charming and often affecting " \
      'journey . '
  assert not set(splits.test.text) & set(text_archives.SST2_TEST)
  # Unquoted TSV: '"' is part of the sentence; trailing spaces are kept.
  assert ('are more deeply thought through than in most " right-thinking " '
          'films ') in splits.train.text


@pytest.mark.parametrize('name', data.TFDS_TEXT_DATASETS)
def test_offline_without_prepared_copy_fails_fast_in_one_line(
    tmp_path, monkeypatch, name):
  monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path))  # nothing prepared
  asked = []

  def offline(host, port, *args, **kwargs):
    asked.append((host, port))
    return False

  monkeypatch.setattr(data, '_is_online', offline)

  def no_manager(*args, **kwargs):
    raise AssertionError('the download manager must not start')

  monkeypatch.setattr(tfds.download, 'DownloadManager', no_manager)
  start = time.monotonic()
  with pytest.raises(data.DataUnavailableError) as error:
    data.load_text_dataset(name)
  assert time.monotonic() - start < 5
  assert asked == [_HOSTS[name]]
  message = str(error.value)
  assert '\n' not in message
  for hint in (repr(name), _HOSTS[name][0], tfds_text.ARCHIVES[name],
               'TFDS_DATA_DIR', 'classp_text'):
    assert hint in message
  assert not list(tmp_path.glob('classp_text/*/1.0.0'))
  data._tfds_text.cache_clear()


@pytest.mark.parametrize('name', data.TFDS_TEXT_DATASETS)
def test_download_fetches_the_registered_url_with_its_checksum(
    tmp_path, monkeypatch, name):
  monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path / 'tfds'))
  monkeypatch.setattr(data, '_is_online', lambda *args, **kwargs: True)
  archive = text_archives.write_archives(tmp_path / 'raw')[name]
  fetched = []

  def download(manager, url):  # The manager, without its network access.
    fetched.append((url, manager._url_infos[url].checksum,
                    manager._download_dir))
    return archive

  monkeypatch.setattr(tfds.download.DownloadManager, 'download', download)
  splits = data.load_text_dataset(name)
  url, sha256 = _REGISTERED[name]
  assert fetched == [(url, sha256, tmp_path / 'tfds' / 'downloads')]
  assert splits.train.text == tuple(_EXPECTED[name][0])
  data._tfds_text.cache_clear()


def test_unknown_name_lists_valid_names():
  with pytest.raises(ValueError, match='glue/sst2, imdb_reviews'):
    data.load_text_dataset('sst2')


def test_checksum_hashes_texts_and_labels_and_ignores_data_dir(
    served_text, tmp_path, monkeypatch):
  sums = {name: data.checksum(name) for name in data.TFDS_TEXT_DATASETS}
  assert all(re.fullmatch('[0-9a-f]{16}', s) for s in sums.values())
  assert sums['imdb_reviews'] != sums['glue/sst2']
  assert data.checksum('glue/sst2', tmp_path) == sums['glue/sst2']
  # The same sentences with one label flipped, prepared elsewhere.
  rows = [(text_archives.SST2_TRAIN[0][0], 1), *text_archives.SST2_TRAIN[1:]]
  served_text.archives['glue/sst2'] = text_archives.write_sst2(
      tmp_path / 'relabeled' / 'SST-2.zip', train=text_archives.tsv(rows))
  monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path / 'tfds_relabeled'))
  data._checksum.cache_clear()
  assert data.checksum('glue/sst2') != sums['glue/sst2']


def test_tweet_checksum_is_unchanged(tmp_path):
  # The value of the tiny corpus before the text datasets of
  # tensorflow-datasets joined data.checksum.
  tweet_files.write_corpus(tmp_path)
  assert data.checksum('tweet_sentiment', tmp_path) == '0d1854f10ad44bc1'


@pytest.mark.parametrize('train, match', [
    ('sentence\tlabel\n', 'has no sentence'),
    ('label\tsentence\nnice \t1\n', "header ['label', 'sentence']"),
    (text_archives.tsv([('nice ', 2)]), 'line 2 is'),
    (text_archives.tsv([('nice ', 1)]) + 'no label\n', 'line 3 is'),
    ('sentence\tlabel\ncaf\xe9 \t1\n'.encode('latin-1'), 'is not UTF-8'),
])
def test_malformed_sst2_files_raise(tmp_path, train, match):
  path = text_archives.write_sst2(tmp_path / 'SST-2.zip', train=train)
  with pytest.raises(ValueError, match=re.escape(match)) as error:
    list(tfds_text.read_sst2(path, 'train'))
  assert 'SST-2/train.tsv' in str(error.value)


def test_sst2_archive_without_the_file_raises(tmp_path):
  path = tmp_path / 'SST-2.zip'
  with zipfile.ZipFile(path, 'w') as zipped:
    zipped.writestr('SST-2/test.tsv', 'index\tsentence\n')
  with pytest.raises(ValueError, match='no SST-2/dev.tsv'):
    list(tfds_text.read_sst2(path, 'test'))


def test_imdb_archive_without_reviews_raises(tmp_path):
  reviews = [r for r in text_archives.IMDB_REVIEWS if r[0] == 'train']
  path = text_archives.write_imdb(tmp_path / 'a.tar.gz', reviews=reviews)
  assert len(list(tfds_text.read_imdb(path, 'train'))) == len(reviews)
  with pytest.raises(ValueError, match='no review in aclImdb/test/neg'):
    list(tfds_text.read_imdb(path, 'test'))


def test_builder_without_archive_refuses_to_prepare(tmp_path):
  builder = tfds_text.ClasspText(config='sst2', data_dir=str(tmp_path))
  with pytest.raises(ValueError, match='no archive was given'):
    builder.download_and_prepare(file_format='array_record')
