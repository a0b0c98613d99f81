"""Checks every text stream's splits share."""

import numpy as np

from experiments.streams import text


def check_token_split(split, index: int, vocab_size: int,
                      num_classes: int) -> None:
  """Token ids of a task's split: shapes, dtypes, ranges, padding at the end."""
  size = len(split.y)
  assert split.x.shape == (size, text.MAX_LEN)
  assert split.x.dtype == np.int32 and split.y.dtype == np.int32
  assert split.x.min() >= 0 and split.x.max() < vocab_size
  assert split.y.min() >= 0 and split.y.max() < num_classes
  np.testing.assert_array_equal(split.task, np.full(size, index))
  assert split.task.dtype == np.int32
  for row in split.x:  # tokens, then padding to the end
    length = np.count_nonzero(row != text.PAD_ID)
    assert length > 0 and (row[:length] != text.PAD_ID).all()
