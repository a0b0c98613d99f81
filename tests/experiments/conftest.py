"""Shared fixtures of the experiments' tests."""

import os
from pathlib import Path

import pytest

from experiments import data
from experiments import idx

_SHARED_DATA = Path(__file__).resolve().parents[2].parent / 'shared' / 'data'


@pytest.fixture(name='data_dir')
def fixture_data_dir() -> Path:
  """The folder of real IDX files (CLASSP_DATA_DIR or ../shared/data).

  Skips the test, with the reason, when MNIST and Fashion-MNIST are absent.
  """
  data_dir = Path(os.environ.get(data.DATA_DIR_ENV) or _SHARED_DATA)
  if not all((data_dir / name).is_dir() for name in idx.DATASETS):
    pytest.skip(f'no MNIST and Fashion-MNIST IDX files in {data_dir}')
  return data_dir


@pytest.fixture(name='tweets_dir')
def fixture_tweets_dir() -> Path:
  """The folder of the real tweet corpus (CLASSP_DATA_DIR or ../shared/data).

  Skips the test, with the reason, when the corpus is absent.
  """
  data_dir = Path(os.environ.get(data.DATA_DIR_ENV) or _SHARED_DATA)
  if not (data_dir / 'tweet_sentiment' / data.TWEETS_FILE).is_file():
    pytest.skip(f'no tweet_sentiment/{data.TWEETS_FILE} in {data_dir}')
  return data_dir
