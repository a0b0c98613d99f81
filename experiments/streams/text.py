"""Subword tokenization of short texts into fixed-length token ids.

Shared by the text stream families (e.g.
:mod:`experiments.streams.tweet_domains`). A family fits a tokenizer on its
first task's training texts only (:func:`fit_tokenizer`), so that later
tasks, validation and test text never shape the vocabulary, then turns every
split's texts into int32 ids ``[N, max_len]`` (:func:`encode`).

The tokenizer is a byte-pair-encoding model of the ``tokenizers`` package:
URLs become the word ``http`` (links are random ``t.co`` ids that would each
cost about ten tokens), text is lowercased, words and punctuation marks are
split apart (BERT's pre-tokenizer), and words are cut into the longest pieces
learned. A character never seen in training maps to :data:`UNK_ID`, and
:data:`PAD_ID` only ever pads (a text's own ``[PAD]`` is read as text). Plain
BPE is used rather than WordPiece: the ``tokenizers`` trainer numbers
WordPiece's ``##`` continuation pieces in hash-map order, so the same data
can give another vocabulary on another run (huggingface/tokenizers issue
1794); its BPE training is deterministic.
"""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import tokenizers
from tokenizers import models
from tokenizers import normalizers
from tokenizers import pre_tokenizers
from tokenizers import trainers

# The most token ids a tokenizer learns, special tokens included; every id is
# below it (a small corpus may give fewer), so an embedding table of
# VOCAB_SIZE rows fits any fitted tokenizer.
VOCAB_SIZE = 8000
# Texts are cut to, or padded to, this many tokens. 2.3% of the tweet corpus
# is longer (tweet_domains' tokenizer, seed 0; median 27 tokens, 99th
# percentile 53).
MAX_LEN = 48
# The special tokens, with ids 0 and 1.
PAD = '[PAD]'
UNK = '[UNK]'
# The id that pads short texts at their end (the model masks it).
PAD_ID = 0
# The id of characters never seen when fitting.
UNK_ID = 1

_URL = r'https?://\S*'
# Texts encoded at a time: a long text's encoding holds all of its tokens
# until cut, so encoding 25,000 IMDB reviews at once takes gigabytes.
_ENCODE_CHUNK = 1024



class TokenIds(NamedTuple):
  """Token ids and labels as a family's carving pools (an ``Examples``).

  A text dataset without a test split passes the same arrays as both pools.
  """
  train_x: np.ndarray
  train_y: np.ndarray
  test_x: np.ndarray
  test_y: np.ndarray


def fit_tokenizer(
    texts: Sequence[str],
    vocab_size: int = VOCAB_SIZE,
) -> tokenizers.Tokenizer:
  """Learns a subword vocabulary from ``texts``.

  Deterministic: the same texts give the same vocabulary and ids, in any
  process.

  Args:
    texts: the training texts (only those of the stream's first task).
    vocab_size: the most tokens to learn, :data:`PAD` and :data:`UNK`
      included.

  Returns:
    The fitted tokenizer; :data:`PAD` has id :data:`PAD_ID` and :data:`UNK`
    id :data:`UNK_ID`.

  Raises:
    ValueError: if ``texts`` is empty, or has more distinct characters than
      ``vocab_size`` leaves room for (every character is a token).
  """
  if not texts:
    raise ValueError('fit_tokenizer needs at least one text.')
  tokenizer = tokenizers.Tokenizer(models.BPE(unk_token=UNK))
  tokenizer.normalizer = normalizers.Sequence([
      normalizers.Replace(tokenizers.Regex(_URL), ' http '),
      normalizers.Lowercase(),
  ])
  tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
  # A text's own '[PAD]' or '[UNK]' is read as words, never as those ids.
  tokenizer.encode_special_tokens = True
  trainer = trainers.BpeTrainer(
      vocab_size=vocab_size, special_tokens=[PAD, UNK], show_progress=False)
  tokenizer.train_from_iterator(texts, trainer)
  if tokenizer.get_vocab_size() > vocab_size:
    raise ValueError(
        f'The texts need {tokenizer.get_vocab_size()} tokens for their'
        f' characters alone, more than vocab_size={vocab_size}.')
  return tokenizer


def token_counts(
    tokenizer: tokenizers.Tokenizer,
    texts: Sequence[str],
) -> np.ndarray:
  """The number of tokens of each text, before cutting to a fixed length.

  Args:
    tokenizer: from :func:`fit_tokenizer`.
    texts: the texts.

  Returns:
    int64 ``[len(texts)]``.
  """
  return np.array([len(e.ids) for e in tokenizer.encode_batch(list(texts))],
                  np.int64)


def encode(
    tokenizer: tokenizers.Tokenizer,
    texts: Sequence[str],
    max_len: int = MAX_LEN,
) -> np.ndarray:
  """Token ids of ``texts``, cut or padded to ``max_len``.

  Args:
    tokenizer: from :func:`fit_tokenizer`.
    texts: the texts.
    max_len: the number of ids per text; longer texts keep their first
      ``max_len`` tokens, shorter ones end in :data:`PAD_ID`.

  Returns:
    int32 ``[len(texts), max_len]``.

  Raises:
    ValueError: if ``max_len`` is not positive.
  """
  if max_len < 1:
    raise ValueError(f'max_len must be positive, got {max_len}.')
  ids = np.full((len(texts), max_len), PAD_ID, np.int32)
  texts = list(texts)
  for start in range(0, len(texts), _ENCODE_CHUNK):
    chunk = texts[start:start + _ENCODE_CHUNK]
    for row, encoding in enumerate(tokenizer.encode_batch(chunk), start):
      kept = encoding.ids[:max_len]
      ids[row, :len(kept)] = kept
  return ids
