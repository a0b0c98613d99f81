"""SST-2, then IMDB: a domain-incremental sentiment stream (online only).

Two tasks share one 2-way head (0 negative, 1 positive): the sentences of
the Stanford Sentiment Treebank (GLUE's SST-2), then IMDB movie reviews,
both from tensorflow-datasets (:func:`experiments.data.load_text_dataset`;
downloaded on first use, then read offline). This is the shape of the
CLASSP paper's text experiment (Financial PhraseBank, then IMDB) on data
tensorflow-datasets provides: short sentences, then long reviews of another
style and vocabulary.

Each task's validation split is carved from its training data
(:meth:`~experiments.streams.base.Carving.indices`); it is tested on its
dataset's test data: IMDB's 25,000 test reviews and, as GLUE hides the
labels of SST-2's test split, SST-2's 872 validation sentences.

Inputs are token ids, int32 ``[N, text.MAX_LEN]``, from a subword tokenizer
(:mod:`experiments.streams.text`) fitted on SST-2's training sentences only
(those of the carving, validation excluded), so IMDB's words of its own meet
the tokenizer as unknown pieces. IMDB's line breaks, written as HTML
``<br />`` tags, become spaces before tokenizing. Reviews, most of them far
longer, keep only their first ``text.MAX_LEN`` tokens.
"""

import os
import re

import numpy as np
import tokenizers

from experiments import data
from experiments.streams import base
from experiments.streams import text

# The tasks' datasets, in stream order, and their names in the stream.
DATASETS = ('glue/sst2', 'imdb_reviews')
TASKS = ('sst2', 'imdb')
NUM_CLASSES = len(data.BINARY_SENTIMENTS)

# HTML line breaks, as IMDB's reviews write them.
_LINE_BREAK = re.compile(r'<br\s*/?>', re.IGNORECASE)


def clean(texts: tuple[str, ...]) -> list[str]:
  """The texts with each HTML line break (``<br />``) turned into a space.

  Args:
    texts: the texts.

  Returns:
    The cleaned texts.
  """
  return [_LINE_BREAK.sub(' ', t) for t in texts]


def _token_ids(tokenizer: tokenizers.Tokenizer, texts: tuple[str, ...],
               used: np.ndarray) -> np.ndarray:
  """Token ids of the ``used`` texts; the other rows are padding."""
  ids = np.full((len(texts), text.MAX_LEN), text.PAD_ID, np.int32)
  ids[used] = text.encode(tokenizer, clean([texts[i] for i in used]))
  return ids


def build(scenario: None, num_tasks: int | None, carving: base.Carving,
          data_dir: str | os.PathLike[str] | None) -> base.Stream:
  """The stream; see :data:`FAMILY`."""
  del num_tasks  # Fixed, checked by the registry.
  del data_dir  # The datasets come from tensorflow-datasets only.
  splits = [data.load_text_dataset(name) for name in DATASETS]
  indices = [
      carving.indices(t, np.arange(len(dataset.train.text)),
                      np.arange(len(dataset.test.text)))
      for t, dataset in enumerate(splits)]
  sst2_train = splits[0].train.text
  tokenizer = text.fit_tokenizer(clean([sst2_train[i]
                                        for i in indices[0][0]]))
  tasks = []
  for t, (name, dataset) in enumerate(zip(TASKS, splits)):
    train, val, test = indices[t]
    examples = text.TokenIds(
        _token_ids(tokenizer, dataset.train.text,
                   np.concatenate([train, val])),
        dataset.train.label,
        _token_ids(tokenizer, dataset.test.text, test),
        dataset.test.label)
    tasks.append(base.make_task(t, f'{FAMILY.name}/{name}', examples,
                                indices[t]))
  return base.Stream(FAMILY.name, scenario, NUM_CLASSES, tuple(tasks),
                     vocab_size=text.VOCAB_SIZE)


FAMILY = base.StreamFamily(
    name='sst2_imdb', scenarios=(None,), build=build,
    datasets=DATASETS,
    fixed_num_tasks=len(DATASETS),
    description='SST-2, then IMDB (online only): 2-way sentiment')
