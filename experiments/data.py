"""Loads MNIST-like image datasets and text datasets as NumPy arrays.

Data come from a local folder of the standard IDX gzip files when one is
given (``data_dir``, else the ``CLASSP_DATA_DIR`` environment variable), else
from tensorflow-datasets: on first use its download manager fetches the same
IDX files (checksums checked; this needs internet), they are prepared in the
``array_record`` format (:mod:`experiments.tfds_images`, no TensorFlow needed)
and read back with ``tfds.data_source``; later uses read the prepared data
offline. Nothing is read on import.

The tweet corpus (:func:`load_tweets`) comes from a local folder only. The
sentiment datasets of tensorflow-datasets (:func:`load_text_dataset`) come
from tensorflow-datasets only, online on first use like the images: its
download manager fetches their standard archive, which is prepared in the
``array_record`` format (:mod:`experiments.tfds_text`, no TensorFlow
needed).
"""

import csv
import functools
import gzip
import hashlib
import io
import os
from pathlib import Path
import socket
from typing import NamedTuple
import urllib.parse
import zlib

import numpy as np

from experiments import errors
from experiments import idx

DATA_DIR_ENV = 'CLASSP_DATA_DIR'

# Per-dataset pixel mean and standard deviation (of pixel values in [0, 1]).
NORMALIZATION = {
    'mnist': (0.1307, 0.3081),
    'fashion_mnist': (0.2860, 0.3530),
}

_IMAGE_SHAPE = (28, 28)
_NUM_CLASSES = 10

# Text datasets of tensorflow-datasets (online only, see load_text_dataset).
TFDS_TEXT_DATASETS = ('glue/sst2', 'imdb_reviews')
# Text datasets: the tweet corpus, read from a local folder only, and those.
TEXT_DATASETS = ('tweet_sentiment', *TFDS_TEXT_DATASETS)
# The classes of TFDS_TEXT_DATASETS, by label.
BINARY_SENTIMENTS = ('negative', 'positive')
# The tweet corpus' file, in <data_dir>/tweet_sentiment/ or in <data_dir>.
TWEETS_FILE = 'tweets.csv.gz'
# Its sentiment classes, by label.
SENTIMENTS = ('negative', 'neutral', 'positive')
_TWEETS_HEADER = ['sentiment', 'confidence', 'text']
# The file is not UTF-8 (byte 0xd1 of its first tweet is invalid there) but
# Mac OS Roman. Latin-1 would turn its 9,807 bytes in 0x80-0x9f into control
# characters, and cp1252 cannot decode 3,774 of them (0x81, 0x8d, 0x8f, 0x90,
# 0x9d). Mac OS Roman decodes every byte into the mojibake known from
# CrowdFlower's tweet corpora: '‰Û_' ends 1,043 tweets cut short (an
# ellipsis), '‰ÛÏ' and '‰Ûù' bracket 505 quoted tweets (curly quotes), and
# 0xd1 is an em dash. No tweet has a non-ASCII letter inside a word, so no
# encoding recovers accented words.
TWEETS_ENCODING = 'mac_roman'


class DataUnavailableError(errors.UserError, RuntimeError):
  """Raised when a dataset is neither on disk nor downloadable."""


class Dataset(NamedTuple):
  """Images float32 [N, 28, 28, 1] (normalized) and labels int32 [N]."""
  train_x: np.ndarray
  train_y: np.ndarray
  test_x: np.ndarray
  test_y: np.ndarray


class TextDataset(NamedTuple):
  """Texts and their labels, int32 [N] indices into the dataset's classes.

  The classes are :data:`SENTIMENTS` for the tweet corpus (which has no
  train/test split; streams carve one) and :data:`BINARY_SENTIMENTS` for
  the splits of :class:`TextSplits`.
  """
  text: tuple[str, ...]
  label: np.ndarray


class TextSplits(NamedTuple):
  """The train and test splits of a text dataset of tensorflow-datasets."""
  train: TextDataset
  test: TextDataset


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
) -> Dataset:
  """Loads a dataset as normalized NumPy arrays.

  The arrays live in host memory and are read-only (they are cached in this
  process); put them on the accelerator with ``jax.device_put``, or copy them
  before editing them in place.

  Args:
    name: a tensorflow-datasets name, one of :data:`experiments.idx.DATASETS`.
    data_dir: a folder holding ``<name>/`` with the four
      :data:`experiments.idx.IDX_FILES` (or those four files directly).
      Defaults to the ``CLASSP_DATA_DIR`` environment variable; when neither
      is set, the dataset comes from tensorflow-datasets (in
      ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``), downloaded and
      prepared on first use.

  Returns:
    The train and test splits; images are scaled to [0, 1], then normalized
    with the dataset's pixel mean and standard deviation.

  Raises:
    ValueError: if ``name`` is unknown or an IDX file is corrupt.
    DataUnavailableError: if the files are not in the data folder, or no
      folder is given, tensorflow-datasets has not prepared the dataset yet
      and the download server cannot be reached.
  """
  if name not in NORMALIZATION:
    raise ValueError(
        f'Unknown dataset {name!r}; valid names: {", ".join(idx.DATASETS)}.')
  if data_dir is None:
    data_dir = os.environ.get(DATA_DIR_ENV) or None
  if data_dir is None:
    return _tfds_dataset(name)
  return _read_dataset(name, **_local_files(name, data_dir))


def load_tweets(
    data_dir: str | os.PathLike[str] | None = None,
) -> TextDataset:
  """Loads the tweet sentiment corpus (``tweet_sentiment``).

  The corpus is CrowdFlower's ~38k English tweets on airlines, Apple,
  self-driving cars and other topics, each with the sentiment its annotators
  gave: a gzip CSV with the header ``sentiment,confidence,text`` in Mac OS
  Roman (:data:`TWEETS_ENCODING`). The annotators' confidence is not
  returned. The result is cached in this process; its labels are read-only.

  Args:
    data_dir: a folder holding ``tweet_sentiment/tweets.csv.gz`` (or that
      file directly). Defaults to the ``CLASSP_DATA_DIR`` environment
      variable.

  Returns:
    The tweets in file order and their labels (:data:`SENTIMENTS`).

  Raises:
    DataUnavailableError: if no folder is given or the file is not in it.
    experiments.errors.InputError: (a ValueError) naming the file if it is
      not gzip, or its header, a row or a label is malformed.
  """
  if data_dir is None:
    data_dir = os.environ.get(DATA_DIR_ENV) or None
  if data_dir is None:
    raise DataUnavailableError(
        "No data folder was given for 'tweet_sentiment', which has no online"
        ' source. ' + _missing_tweets_message())
  return _read_tweets(_tweets_file(data_dir))


def load_text_dataset(name: str) -> TextSplits:
  """Loads a sentiment text dataset of tensorflow-datasets.

  ``imdb_reviews``: 50,000 IMDB movie reviews (Maas et al., 2011), 25,000
  for training and 25,000 for testing, each half negative and half positive.
  ``glue/sst2``: the 2-way Stanford Sentiment Treebank of GLUE, 67,349
  training sentences; GLUE hides the labels of its test split, so its 872
  validation sentences are the test split here.

  There is no local-folder source: on first use tensorflow-datasets' download
  manager fetches the standard archive (the URL and checksum its own
  builder registers; this needs internet), which is prepared as an
  ``array_record`` dataset (:mod:`experiments.tfds_text`) in
  ``$TFDS_DATA_DIR`` (else ``~/tensorflow_datasets``); later uses read it
  offline. The result is cached in this process; its labels are read-only.

  Args:
    name: one of :data:`TFDS_TEXT_DATASETS`.

  Returns:
    The train and test texts, in their archive's order, and their labels,
    indices into :data:`BINARY_SENTIMENTS` (0 negative, 1 positive).

  Raises:
    ValueError: if ``name`` is unknown.
    DataUnavailableError: if tensorflow-datasets is not installed, or the
      dataset is not prepared yet and its download server cannot be reached.
  """
  if name not in TFDS_TEXT_DATASETS:
    raise ValueError(f'Unknown text dataset {name!r}; valid names: '
                     f'{", ".join(TFDS_TEXT_DATASETS)}.')
  return _tfds_text(name, os.environ.get('TFDS_DATA_DIR') or None)


def checksum(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
) -> str:
  """A short hash of a dataset as :func:`load_dataset` returns it.

  It identifies the data runs see, wherever they came from (IDX files or
  tensorflow-datasets); computed once per process and dataset. Text datasets
  (:data:`TEXT_DATASETS`) hash their texts and labels as
  :func:`load_tweets` or :func:`load_text_dataset` returns them.

  Args:
    name: as for :func:`load_dataset`, or one of :data:`TEXT_DATASETS`.
    data_dir: as for :func:`load_dataset` (ignored for
      :data:`TFDS_TEXT_DATASETS`, which have no local source).

  Returns:
    16 hexadecimal digits.
  """
  if data_dir is None:
    data_dir = os.environ.get(DATA_DIR_ENV) or None
  return _checksum(name, None if data_dir is None else str(data_dir))


@functools.lru_cache(maxsize=2 * (len(NORMALIZATION) + len(TEXT_DATASETS)))
def _checksum(name: str, data_dir: str | None) -> str:
  digest = hashlib.blake2b(digest_size=8)

  def update(texts):
    digest.update(str(len(texts)).encode())
    for text in texts:  # Length-prefixed, so that boundaries count.
      encoded = text.encode('utf-8')
      digest.update(len(encoded).to_bytes(8, 'little'))
      digest.update(encoded)

  if name in TFDS_TEXT_DATASETS:
    splits = load_text_dataset(name)
    for split in splits:
      update(split.text)
    arrays = tuple(split.label for split in splits)
  elif name in TEXT_DATASETS:
    texts, labels = load_tweets(data_dir)
    update(texts)
    arrays = (labels,)
  else:
    arrays = load_dataset(name, data_dir)
  for array in arrays:
    digest.update(str((array.dtype, array.shape)).encode())
    digest.update(np.ascontiguousarray(array).data)
  return digest.hexdigest()


def _missing_data_message(name: str) -> str:
  files = ', '.join(idx.IDX_FILES.values())
  return (
      f'Put the four IDX files of {name!r} ({files}) in <dir>/{name}/ and pass'
      f' --data-dir <dir> or set {DATA_DIR_ENV}=<dir>.')


def _local_files(
    name: str,
    data_dir: str | os.PathLike[str],
) -> dict[str, Path]:
  """Returns the IDX files of ``name`` in ``data_dir/name`` or ``data_dir``."""
  root = Path(data_dir).expanduser()
  directory = root / name if (root / name).is_dir() else root
  missing = [f for f in idx.IDX_FILES.values()
             if not (directory / f).is_file()]
  if missing:
    raise DataUnavailableError(
        f'{directory} lacks {", ".join(missing)}. '
        + _missing_data_message(name))
  return {key: (directory / f).resolve() for key, f in idx.IDX_FILES.items()}


def _missing_tweets_message() -> str:
  return (
      f'Put {TWEETS_FILE} (the CrowdFlower tweet sentiment corpus) in'
      f' <dir>/tweet_sentiment/ and pass --data-dir <dir> or set'
      f' {DATA_DIR_ENV}=<dir>.')


def _tweets_file(data_dir: str | os.PathLike[str]) -> Path:
  """The tweet file in ``data_dir/tweet_sentiment`` or ``data_dir``."""
  root = Path(data_dir).expanduser()
  candidates = (root / 'tweet_sentiment' / TWEETS_FILE, root / TWEETS_FILE)
  for path in candidates:
    if path.is_file():
      return path.resolve()
  raise DataUnavailableError(
      f'Neither {candidates[0]} nor {candidates[1]} exists. '
      + _missing_tweets_message())


def _is_online(host: str, port: int, timeout: float = 3.0) -> bool:
  """Returns whether ``host`` accepts a connection within ``timeout``."""
  try:
    with socket.create_connection((host, port), timeout=timeout):
      return True
  except OSError:  # Includes DNS failures (socket.gaierror) and timeouts.
    return False


def _downloaded_files(name: str) -> dict[str, Path]:
  """Downloads the IDX files of ``name`` with tensorflow-datasets.

  The standard tfds builders encode images with TensorFlow when preparing a
  dataset, so only their download manager is used: it fetches the builder's
  URLs into the tfds downloads folder, checks the registered checksums and
  reuses earlier downloads.
  """
  import tensorflow_datasets as tfds  # Slow: imported only when needed.

  builder = tfds.builder(name)
  urls = {key: urllib.parse.urljoin(builder.URL, f)
          for key, f in idx.IDX_FILES.items()}
  url = urllib.parse.urlsplit(builder.URL)
  port = url.port or (443 if url.scheme == 'https' else 80)
  # Checked first because the download manager retries for minutes.
  if not _is_online(url.hostname, port):
    raise DataUnavailableError(
        f'No data folder was given and {url.hostname} cannot be reached, so'
        f' tensorflow-datasets cannot download {name!r}. '
        + _missing_data_message(name))
  manager = tfds.download.DownloadManager(
      download_dir=os.path.join(builder.data_dir_root, 'downloads'),
      url_infos=builder.url_infos,
      dataset_name=name)
  return {key: Path(path) for key, path in manager.download(urls).items()}


def _missing_text_message(config: str) -> str:
  return (
      'Load it once where the server can be reached (it is then prepared in'
      ' $TFDS_DATA_DIR, else ~/tensorflow_datasets, and read offline later),'
      f' or copy the prepared folder <TFDS_DATA_DIR>/classp_text/{config}/'
      ' here from a machine that has it.')


def _downloaded_archive(name: str, tfds_data_dir: str | None) -> Path:
  """Downloads the raw archive of a text dataset with tensorflow-datasets.

  The standard tfds builders read their archives with TensorFlow, so only
  their download manager is used: it fetches the builder's URL of the
  archive into ``<tfds_data_dir>/downloads``, checks the registered checksum
  and reuses an earlier download.
  """
  import tensorflow_datasets as tfds  # Slow: imported only when needed.

  from experiments import tfds_text

  if name == 'glue/sst2':
    # Registers the glue builder, which tfds' lazy imports leave out.
    import tensorflow_datasets.text.glue  # noqa: F401

  builder = tfds.builder(name, data_dir=tfds_data_dir)
  archive = tfds_text.ARCHIVES[name]
  [url] = [u for u in builder.url_infos
           if urllib.parse.urlsplit(u).path.endswith(f'/{archive}')]
  parts = urllib.parse.urlsplit(url)
  port = parts.port or (443 if parts.scheme == 'https' else 80)
  # Checked first because the download manager retries for minutes.
  if not _is_online(parts.hostname, port):
    raise DataUnavailableError(
        f'{name!r} is not prepared and {parts.hostname} cannot be reached, so'
        f' tensorflow-datasets cannot download {archive}. '
        + _missing_text_message(tfds_text.CONFIGS[name]))
  manager = tfds.download.DownloadManager(
      download_dir=os.path.join(builder.data_dir_root, 'downloads'),
      url_infos=builder.url_infos,
      dataset_name=name)
  return Path(manager.download(url))


@functools.lru_cache(maxsize=2 * len(TFDS_TEXT_DATASETS))
def _tfds_text(name: str, tfds_data_dir: str | None) -> TextSplits:
  """``name`` prepared by tensorflow-datasets (downloaded on first use)."""
  try:
    from experiments import tfds_text  # Imports tensorflow-datasets.
  except ModuleNotFoundError as error:
    raise DataUnavailableError(
        f'{error.name} is not installed, so tensorflow-datasets cannot'
        f' provide {name!r}. Install the experiments extra (pip install -e'
        ' ".[experiments]").') from error

  texts = tfds_text.load_texts(
      name, lambda: _downloaded_archive(name, tfds_data_dir),
      data_dir=tfds_data_dir)
  splits = []
  for split in tfds_text.SPLITS:
    text, label = texts[split]
    label.setflags(write=False)
    splits.append(TextDataset(text, label))
  return TextSplits(*splits)


@functools.lru_cache(maxsize=2 * len(NORMALIZATION))
def _read_dataset(
    name: str,
    train_x: Path,
    train_y: Path,
    test_x: Path,
    test_y: Path,
) -> Dataset:
  """Reads, checks and normalizes the four IDX files of ``name``."""
  paths = {'train_x': train_x, 'train_y': train_y, 'test_x': test_x,
           'test_y': test_y}
  try:
    arrays = {key: idx.read_idx(path) for key, path in paths.items()}
  except errors.InputError as error:
    raise errors.InputError(
        f'{error} Replace it with an intact copy of the standard IDX file of '
        f'{name!r}.') from error
  return _normalized(name, arrays,
                     {key: str(path) for key, path in paths.items()})


@functools.lru_cache(maxsize=len(NORMALIZATION))
def _tfds_dataset(name: str) -> Dataset:
  """``name`` prepared by tensorflow-datasets (downloaded on first use)."""
  try:
    from experiments import tfds_images  # Imports tensorflow-datasets.
  except ModuleNotFoundError as error:
    raise DataUnavailableError(
        f'No data folder was given and {error.name} is not installed, so '
        f'tensorflow-datasets cannot provide {name!r}. Install the '
        'experiments extra (pip install -e ".[experiments]"). '
        + _missing_data_message(name)) from error

  arrays = tfds_images.load_arrays(
      name, lambda: _downloaded_files(name),
      data_dir=os.environ.get('TFDS_DATA_DIR') or None)
  origin = f'tensorflow-datasets {tfds_images.BUILDER_NAME}/{name}'
  return _normalized(name, arrays, {
      key: f'{origin} ({key})' for key in idx.IDX_FILES})


def _normalized(
    name: str,
    arrays: dict[str, np.ndarray],
    origins: dict[str, str],
) -> Dataset:
  """Checks uint8 images and labels and normalizes the images.

  Args:
    name: the dataset, for its pixel mean and standard deviation.
    arrays: uint8 arrays under the keys of :data:`experiments.idx.IDX_FILES`.
    origins: where each array came from, named in errors.

  Returns:
    The read-only :class:`Dataset`.
  """
  mean, std = NORMALIZATION[name]

  def images(key):
    x = arrays[key]
    if x.ndim != 3 or x.shape[1:] != _IMAGE_SHAPE:
      raise errors.InputError(
          f'{origins[key]}: images of shape {x.shape}, expected [N, 28, 28].')
    x = x.reshape(*x.shape, 1).astype(np.float32)
    x /= 255.0
    x -= mean
    x /= std
    x.setflags(write=False)
    return x

  def labels(key, num_images):
    y = arrays[key]
    if y.shape != (num_images,):
      raise errors.InputError(
          f'{origins[key]}: {y.shape} labels for {num_images} images.')
    if y.size and y.max() >= _NUM_CLASSES:
      raise errors.InputError(
          f'{origins[key]}: labels outside [0, {_NUM_CLASSES}).')
    y = y.astype(np.int32)
    y.setflags(write=False)
    return y

  train_images, test_images = images('train_x'), images('test_x')
  return Dataset(train_images, labels('train_y', len(train_images)),
                 test_images, labels('test_y', len(test_images)))


@functools.lru_cache(maxsize=2)
def _read_tweets(path: Path) -> TextDataset:
  """Reads and checks the tweet file at ``path``."""
  fix = f'Replace it with an intact copy of {TWEETS_FILE}.'
  try:
    with gzip.open(path, 'rb') as f:
      content = f.read()
  except (OSError, EOFError, zlib.error) as e:
    raise errors.InputError(
        f'{path}: not a readable gzip file ({e}). {fix}') from e
  reader = csv.reader(io.StringIO(content.decode(TWEETS_ENCODING),
                                  newline=''))
  texts, labels = [], []
  try:
    header = next(reader, None)
    if header != _TWEETS_HEADER:
      found = 'no header' if header is None else repr(','.join(header))
      raise errors.InputError(
          f'{path}: {found}, expected the header '
          f'{",".join(_TWEETS_HEADER)!r}. {fix}')
    for row in reader:
      if len(row) != len(_TWEETS_HEADER):
        raise errors.InputError(
            f'{path}: line {reader.line_num} has {len(row)} fields, expected'
            f' {len(_TWEETS_HEADER)}. {fix}')
      sentiment, _, text = row
      if sentiment not in SENTIMENTS:
        raise errors.InputError(
            f'{path}: line {reader.line_num} has the unknown sentiment '
            f'{sentiment!r}, expected one of {", ".join(SENTIMENTS)}. {fix}')
      texts.append(text)
      labels.append(SENTIMENTS.index(sentiment))
  except csv.Error as e:
    raise errors.InputError(
        f'{path}: malformed CSV at line {reader.line_num} ({e}). {fix}'
    ) from e
  if not texts:
    raise errors.InputError(f'{path}: no tweets. {fix}')
  label = np.array(labels, np.int32)
  label.setflags(write=False)
  return TextDataset(tuple(texts), label)
