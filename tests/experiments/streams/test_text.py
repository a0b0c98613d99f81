"""Tests of experiments.streams.text: fitting and encoding (no data)."""

import numpy as np
import pytest

from experiments.streams import text
from tests.experiments import tweet_files

# The tiny corpus' airline tweets fit; the others are later tasks.
_FIT = [row[2] for row in tweet_files.ROWS[:12]]
_LATER = [row[2] for row in tweet_files.ROWS[12:]]


@pytest.fixture(name='tokenizer', scope='module')
def fixture_tokenizer():
  return text.fit_tokenizer(_FIT)


def test_special_tokens_have_fixed_ids(tokenizer):
  assert tokenizer.token_to_id(text.PAD) == text.PAD_ID == 0
  assert tokenizer.token_to_id(text.UNK) == text.UNK_ID
  assert tokenizer.get_vocab_size() <= text.VOCAB_SIZE


def test_encode_pads_short_texts_at_the_end(tokenizer):
  ids = text.encode(tokenizer, ['great flight', 'the crew'] + _LATER)
  assert ids.shape == (2 + len(_LATER), text.MAX_LEN)
  assert ids.dtype == np.int32
  assert ids[0, 0] != text.PAD_ID and ids[0, -1] == text.PAD_ID
  for row in ids:
    length = np.count_nonzero(row != text.PAD_ID)
    assert (row[:length] != text.PAD_ID).all()  # padding only at the end
  # Words seen when fitting are whole tokens.
  assert tokenizer.encode('great flight').tokens == ['great', 'flight']


def test_encode_cuts_long_texts_keeping_their_start(tokenizer):
  long_text = ' '.join(['thanks for the great flight'] * 20)
  assert text.token_counts(tokenizer, [long_text])[0] == 100
  ids = text.encode(tokenizer, [long_text], max_len=8)
  np.testing.assert_array_equal(
      ids[0], tokenizer.encode(long_text).ids[:8])
  assert text.encode(tokenizer, [long_text]).shape == (1, text.MAX_LEN)


def test_words_of_later_tasks_are_not_learned(tokenizer):
  vocab = tokenizer.get_vocab()
  for word in ('driverless', 'claritin', 'deflategate', 'iphone', 'apple'):
    assert word not in vocab
    tokens = tokenizer.encode(word).tokens
    assert len(tokens) > 1 or tokens == [text.UNK]
  # 'z' occurs in no airline tweet: an unknown character.
  assert text.UNK_ID in tokenizer.encode('zebra').ids


def test_encoding_in_chunks_changes_nothing(tokenizer, monkeypatch):
  texts = _FIT + _LATER
  whole = text.encode(tokenizer, tuple(texts))
  monkeypatch.setattr(text, '_ENCODE_CHUNK', 3)  # the last chunk is short
  np.testing.assert_array_equal(text.encode(tokenizer, tuple(texts)), whole)
  assert text.encode(tokenizer, []).shape == (0, text.MAX_LEN)


def test_special_token_text_is_read_as_text(tokenizer):
  ids = tokenizer.encode('[PAD] [UNK] flight').ids
  assert text.PAD_ID not in ids
  assert ids[-1] == tokenizer.token_to_id('flight')


def test_normalization_lowercases_and_merges_urls(tokenizer):
  def ids(texts):
    return text.encode(tokenizer, texts)
  np.testing.assert_array_equal(ids(['GREAT Flight']), ids(['great flight']))
  np.testing.assert_array_equal(
      ids(['see http://t.co/AbC123 now']), ids(['see https://t.co/z now']))
  assert (tokenizer.encode('http://t.co/AbC123').tokens
          == tokenizer.encode('http').tokens)


def test_fitting_is_deterministic():
  first = text.fit_tokenizer(_FIT)
  reference = text.encode(first, _FIT + _LATER)
  for _ in range(5):
    again = text.fit_tokenizer(_FIT)
    assert again.get_vocab() == first.get_vocab()
    np.testing.assert_array_equal(text.encode(again, _FIT + _LATER),
                                  reference)


def test_vocab_size_caps_the_merges():
  small = text.fit_tokenizer(_FIT, vocab_size=60)
  assert small.get_vocab_size() == 60
  with pytest.raises(ValueError, match='characters alone'):
    text.fit_tokenizer(_FIT, vocab_size=10)


def test_bad_arguments_raise(tokenizer):
  with pytest.raises(ValueError, match='at least one text'):
    text.fit_tokenizer([])
  with pytest.raises(ValueError, match='max_len must be positive'):
    text.encode(tokenizer, ['flight'], max_len=0)
