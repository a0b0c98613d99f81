"""Sentiment text datasets as tensorflow-datasets datasets, without TensorFlow.

tensorflow-datasets' own ``imdb_reviews`` and ``glue/sst2`` builders read
their archives with TensorFlow's file system. :class:`ClasspText` reads the
same raw archives (fetched by tensorflow-datasets' download manager, see
:func:`experiments.data.load_text_dataset`) with Python's ``tarfile`` and
``zipfile``, prepares them in the ``array_record`` format, and
``tfds.data_source`` reads them back; its features (``tfds.features.Text``
and ``ClassLabel``) encode without TensorFlow. Importing this module imports
tensorflow-datasets; :mod:`experiments.data` does so only when a text
dataset of tensorflow-datasets is asked for.

The texts are those of tensorflow-datasets' builders: IMDB reviews stripped
of surrounding white space (their ``<br />`` tags kept), SST-2 sentences as
in the TSV files (tokenized, lowercase, with a trailing space in training).
They are kept in the archive's order, where tensorflow-datasets shuffles
them.
"""

from collections.abc import Callable, Iterator
import csv
import io
import os
from pathlib import Path
import re
import tarfile
import zipfile

import numpy as np
import tensorflow_datasets as tfds

from experiments import tfds_images

BUILDER_NAME = 'classp_text'
# Each dataset's config of the builder (a config name cannot hold '/').
CONFIGS = {'imdb_reviews': 'imdb_reviews', 'glue/sst2': 'sst2'}
# The raw archive of each dataset, as tensorflow-datasets registers it.
ARCHIVES = {'imdb_reviews': 'aclImdb_v1.tar.gz', 'glue/sst2': 'SST-2.zip'}
# The classes, by label.
CLASSES = ('negative', 'positive')
SPLITS = ('train', 'test')

# IMDB's labeled reviews: aclImdb/<split>/<neg|pos>/<id>_<rating>.txt
# (unsup/ holds the unlabeled ones).
_IMDB_REVIEW = re.compile(r'aclImdb/(train|test)/(neg|pos)/[^/]+\.txt')
_IMDB_LABELS = {'neg': 0, 'pos': 1}
# SST-2's TSV file of each split: GLUE hides the labels of test.tsv, so the
# test split is GLUE's validation split (dev.tsv).
SST2_FILES = {'train': 'SST-2/train.tsv', 'test': 'SST-2/dev.tsv'}
_SST2_HEADER = ['sentence', 'label']


class ClasspText(tfds.core.GeneratorBasedBuilder):
  """Texts and 2-way sentiment labels (0 negative, 1 positive), in order.

  One builder config per dataset (:data:`CONFIGS`), each with a ``train``
  and a ``test`` split (for SST-2, GLUE's validation split). The builder
  prepares from the raw archive it is given (``archive``) and downloads
  nothing itself.
  """

  VERSION = tfds.core.Version('1.0.0')
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=config)
                     for config in CONFIGS.values()]

  def __init__(self, *, archive: os.PathLike[str] | None = None, **kwargs):
    self._archive = archive
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description='Texts and their sentiment (0 negative, 1 positive), '
                    'prepared from the standard archive.',
        features=tfds.features.FeaturesDict({
            'text': tfds.features.Text(),
            'label': tfds.features.ClassLabel(names=CLASSES),
        }),
        supervised_keys=('text', 'label'),
        disable_shuffling=True,  # Keep the archive's order.
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # The archive comes from the caller.
    if self._archive is None:
      raise ValueError(f'{BUILDER_NAME}/{self.builder_config.name} is not '
                       'prepared and no archive was given.')
    read = (read_imdb if self.builder_config.name == CONFIGS['imdb_reviews']
            else read_sst2)
    return {split: self._generate_examples(read, split) for split in SPLITS}

  def _generate_examples(self, read, split) -> Iterator:
    for key, text, label in read(Path(self._archive), split):
      yield key, {'text': text, 'label': label}


def read_imdb(archive: Path, split: str) -> Iterator[tuple[str, str, int]]:
  """The labeled reviews of one split of IMDB's ``aclImdb_v1.tar.gz``.

  Args:
    archive: the gzip tar archive.
    split: ``'train'`` or ``'test'``.

  Yields:
    (path in the archive, review, label) in the archive's order; the
    review is decoded from UTF-8 and stripped, as tensorflow-datasets does.

  Raises:
    ValueError: if a review is not UTF-8 or the split has no review.
  """
  count = 0
  with tarfile.open(archive, 'r|gz') as tar:  # Streamed: one pass.
    for member in tar:
      match = _IMDB_REVIEW.fullmatch(member.name)
      if not member.isfile() or not match or match[1] != split:
        continue
      content = tar.extractfile(member).read()
      try:
        review = content.decode('utf-8').strip()
      except UnicodeDecodeError as e:
        raise ValueError(f'{archive}: {member.name} is not UTF-8 ({e}).'
                         ) from e
      count += 1
      yield member.name, review, _IMDB_LABELS[match[2]]
  if not count:
    raise ValueError(f'{archive}: no review in aclImdb/{split}/neg or '
                     f'aclImdb/{split}/pos.')


def read_sst2(archive: Path, split: str) -> Iterator[tuple[int, str, int]]:
  """The sentences of one split of GLUE's ``SST-2.zip``.

  Args:
    archive: the zip archive.
    split: ``'train'`` (``SST-2/train.tsv``) or ``'test'`` (GLUE's
      validation split, ``SST-2/dev.tsv``: the test file has no labels).

  Yields:
    (row index, sentence, label) in the file's order.

  Raises:
    ValueError: if the file is missing, or its header or a row is
      malformed.
  """
  member = SST2_FILES[split]
  with zipfile.ZipFile(archive) as zipped:
    if member not in zipped.namelist():
      raise ValueError(f'{archive}: no {member}.')
    with zipped.open(member) as raw:
      # Tab-separated, unquoted: a '"' is part of its sentence.
      reader = csv.reader(io.TextIOWrapper(raw, 'utf-8', newline=''),
                          delimiter='\t', quoting=csv.QUOTE_NONE)
      where = f'{archive}: {member}'
      try:
        header = next(reader, None)
        if header != _SST2_HEADER:
          raise ValueError(f'{where} has the header {header}, expected '
                           f'{_SST2_HEADER}.')
        index = -1
        for index, row in enumerate(reader):
          if len(row) != 2 or row[1] not in ('0', '1'):
            raise ValueError(f'{where}: line {reader.line_num} is {row}, '
                             'expected a sentence and a label 0 or 1.')
          yield index, row[0], int(row[1])
      except UnicodeDecodeError as e:
        raise ValueError(f'{where} is not UTF-8 ({e}).') from e
  if index < 0:
    raise ValueError(f'{where} has no sentence.')


def load_texts(
    name: str,
    download: Callable[[], os.PathLike[str]],
    data_dir: str | None = None,
) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
  """Prepares ``name`` once, then reads it with ``tfds.data_source``.

  Args:
    name: a key of :data:`CONFIGS`.
    download: returns the path of the raw archive (:data:`ARCHIVES`); called
      only when the dataset is not prepared yet.
    data_dir: the tensorflow-datasets folder (None: its default,
      ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).

  Returns:
    ``{split: (texts, labels)}`` for each of :data:`SPLITS`, texts in the
    archive's order and int32 labels, indices into :data:`CLASSES`.
  """
  config = CONFIGS[name]
  with tfds_images._absl_errors_only():  # Warns of the folder it will fill.
    builder = ClasspText(config=config, data_dir=data_dir)
    prepared = builder.is_prepared()
  if not prepared:
    builder = ClasspText(config=config, data_dir=data_dir,
                         archive=download())
    builder.download_and_prepare(file_format='array_record')
  texts = {}
  for split in SPLITS:
    source = tfds.data_source(f'{BUILDER_NAME}/{config}', split=split,
                              data_dir=data_dir, download=False)
    records = source.__getitems__(list(range(len(source))))
    texts[split] = (tuple(r['text'].decode('utf-8') for r in records),
                    np.array([r['label'] for r in records], np.int32))
  return texts
