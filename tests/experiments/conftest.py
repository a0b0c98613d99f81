"""Shared fixtures of the experiments' tests."""

import os
from pathlib import Path

import pytest

from experiments import data
from experiments import fingerprint
from experiments import idx
from experiments import population
from experiments import training
from experiments.protocol import Setup
from experiments.streams import text
from tests.experiments import fake_runs
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


@pytest.fixture(name='fake_training')
def fixture_fake_training(monkeypatch) -> list[dict]:
  """training.run returns a fixed result; records each call's hyperparams.

  A population trains its members with that training.run, one by one; every
  stream has no tasks (:data:`fake_runs.NO_TASKS`) and every run the
  fingerprint :data:`fake_runs.CODE`.
  """
  calls = []

  def fake_run(stream, spec, hyperparams, protocol, seed, **kwargs):
    calls.append(dict(hyperparams))
    return fake_runs.fake_result([[0.5, 0.1], [0.4, 0.6]])

  def fake_run_population(member_streams, spec, hyperparams, protocol, seeds,
                          **kwargs):
    return [training.run(stream, spec, h, protocol, seed)
            for stream, h, seed in zip(member_streams, hyperparams, seeds)]

  monkeypatch.setattr(training, 'run', fake_run)
  monkeypatch.setattr(population, 'run_population', fake_run_population)
  monkeypatch.setattr(population, 'run_bytes', lambda *a: 1)
  monkeypatch.setattr(Setup, 'make_stream',
                      lambda self, *a: fake_runs.NO_TASKS)
  monkeypatch.setattr(fingerprint, 'current', lambda *a: fake_runs.CODE)
  return calls
