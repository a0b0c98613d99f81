"""Tests of experiments.streams.sst2_imdb, on tiny archives (no download)."""

import time

import numpy as np
import pytest

from experiments import data
from experiments import fingerprint
from experiments import streams
from experiments.streams import base
from experiments.streams import sst2_imdb
from experiments.streams import text
from tests.experiments import text_archives
from tests.experiments.streams import token_splits

# Training and test examples of the tiny archives, per task.
_SIZES = {'sst2': (len(text_archives.SST2_TRAIN), len(text_archives.SST2_DEV)),
          'imdb': tuple(len(text_archives.imdb_split(split)[0])
                        for split in ('train', 'test'))}


def _indices(carving):
  """Each task's (train, val, test) indices, as the family carves them."""
  return [carving.indices(t, np.arange(train), np.arange(test))
          for t, (train, test) in enumerate(_SIZES.values())]


def test_structure(served_text):
  stream = streams.make_stream('sst2_imdb')
  assert served_text.downloads == ['glue/sst2', 'imdb_reviews']
  assert stream.name == 'sst2_imdb' and stream.scenario is None
  assert [task.name for task in stream.tasks] == ['sst2_imdb/sst2',
                                                   'sst2_imdb/imdb']
  assert stream.num_classes == 2
  assert stream.vocab_size == text.VOCAB_SIZE
  assert stream.input_shape == (text.MAX_LEN,)
  for index, (task, (train, test)) in enumerate(zip(stream.tasks,
                                                    _SIZES.values())):
    assert task.logit_mask is None
    num_val = round(0.1 * train)
    sizes = (train - num_val, num_val, test)
    for split, size in zip((task.train, task.val, task.test), sizes):
      assert len(split.y) == size
      token_splits.check_token_split(split, index, stream.vocab_size, 2)


def test_splits_are_disjoint_and_hold_their_texts(served_text):
  stream = streams.make_stream('sst2_imdb', seed=3)
  indices = _indices(base.Carving(seed=3))
  datasets = [data.load_text_dataset(name) for name in sst2_imdb.DATASETS]
  tokenizer = text.fit_tokenizer(
      [datasets[0].train.text[i] for i in indices[0][0]])
  for task, dataset, (train, val, test) in zip(stream.tasks, datasets,
                                               indices):
    assert not set(train) & set(val)
    assert set(train) | set(val) == set(range(len(dataset.train.text)))
    assert set(test) == set(range(len(dataset.test.text)))
    for split, source, index in ((task.train, dataset.train, train),
                                 (task.val, dataset.train, val),
                                 (task.test, dataset.test, test)):
      np.testing.assert_array_equal(split.x, text.encode(
          tokenizer, sst2_imdb.clean([source.text[i] for i in index])))
      np.testing.assert_array_equal(split.y, source.label[index])


def test_tokenizer_sees_only_sst2_training_sentences(served_text,
                                                     fitted_tokenizers):
  stream = streams.make_stream('sst2_imdb')
  [(texts, tokenizer)] = fitted_tokenizers
  train, _, _ = _indices(base.Carving())[0]
  sentences = [s for s, _ in text_archives.SST2_TRAIN]
  assert texts == [sentences[i] for i in train]
  assert len(texts) == len(stream.tasks[0].train.y)
  vocab = tokenizer.get_vocab()
  for word in ('tarantino', 'screenplay', 'cinematography'):  # IMDB only
    assert word not in vocab
    pieces = tokenizer.encode(word).tokens
    assert len(pieces) > 1 or pieces == [text.UNK]
  assert 'charming' not in vocab  # SST-2 validation only


def test_imdb_line_breaks_become_spaces(served_text):
  assert sst2_imdb.clean(('a.<br /><br />B', 'c<BR/>d<br>e')) == [
      'a.  B', 'c d e']
  stream = streams.make_stream('sst2_imdb', val_fraction=0.0)
  tokenizer = text.fit_tokenizer([s for s, _ in text_archives.SST2_TRAIN])
  first = stream.tasks[1].train.x[0]  # 'Bromwell High ...<br /><br />I ...'
  np.testing.assert_array_equal(first, text.encode(
      tokenizer, ['Bromwell High is a cartoon comedy.  I loved it.'])[0])


def test_same_seed_same_stream_and_caps(served_text):
  first = streams.make_stream('sst2_imdb', seed=5)
  again = streams.make_stream('sst2_imdb', seed=5)
  for task, task_again in zip(first.tasks, again.tasks):
    for split, split_again in zip(task[1:4], task_again[1:4]):
      for array, array_again in zip(split, split_again):
        np.testing.assert_array_equal(array, array_again)
  capped = streams.make_stream('sst2_imdb', train_per_task=3,
                               test_per_task=2)
  for task in capped.tasks:
    assert len(task.train.y) == 3 and len(task.test.y) == 2
    assert len(task.val.y) == 1


def test_data_dir_is_ignored_and_fingerprint_has_both_checksums(
    served_text, tmp_path):
  stream = streams.make_stream('sst2_imdb', data_dir=tmp_path / 'nothing')
  assert len(stream.tasks) == 2
  checksums = fingerprint.current('sst2_imdb', tmp_path)['data']
  assert checksums == {name: data.checksum(name)
                       for name in sst2_imdb.DATASETS}


def test_offline_without_prepared_copy_fails_fast(tmp_path, monkeypatch):
  monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path))  # nothing prepared
  monkeypatch.setattr(data, '_is_online', lambda *args, **kwargs: False)
  start = time.monotonic()
  with pytest.raises(data.DataUnavailableError, match="'glue/sst2'"):
    streams.make_stream('sst2_imdb')
  assert time.monotonic() - start < 5


def test_fixed_number_of_tasks():
  with pytest.raises(ValueError, match='2 tasks'):
    streams.make_stream('sst2_imdb', num_tasks=3)
