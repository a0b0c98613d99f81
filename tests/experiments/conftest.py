"""Shared fixtures of the experiments' tests."""

import os
from pathlib import Path

import pytest

from experiments import data
from experiments import idx
from experiments.streams import text
from tests.experiments import text_archives

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


@pytest.fixture(name='served_text')
def fixture_served_text(tmp_path, monkeypatch) -> text_archives.Served:
  """Tiny IMDB and SST-2 archives in place of tensorflow-datasets' downloads.

  ``$TFDS_DATA_DIR`` is an empty folder under ``tmp_path``; the download
  step of :func:`experiments.data.load_text_dataset` returns the tiny
  archives (the paths tensorflow-datasets' download manager would return)
  and records each call. Nothing is downloaded.
  """
  tfds_dir = tmp_path / 'tfds'
  monkeypatch.setenv('TFDS_DATA_DIR', str(tfds_dir))
  served = text_archives.Served(
      text_archives.write_archives(tmp_path / 'raw'), [], tfds_dir)

  def download(name, tfds_data_dir):
    del tfds_data_dir  # Where the dataset is prepared.
    served.downloads.append(name)
    return served.archives[name]

  monkeypatch.setattr(data, '_downloaded_archive', download)
  yield served
  data._tfds_text.cache_clear()
  data._checksum.cache_clear()


@pytest.fixture(name='fitted_tokenizers')
def fixture_fitted_tokenizers(monkeypatch) -> list:
  """Records each tokenizer a text stream fits: ``(texts, tokenizer)``."""
  fitted = []
  fit_tokenizer = text.fit_tokenizer

  def fit(texts, *args, **kwargs):
    tokenizer = fit_tokenizer(texts, *args, **kwargs)
    fitted.append((list(texts), tokenizer))
    return tokenizer

  monkeypatch.setattr(text, 'fit_tokenizer', fit)
  return fitted
