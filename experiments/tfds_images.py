"""MNIST-like IDX files as a tensorflow-datasets dataset, without TensorFlow.

tensorflow-datasets' own ``mnist`` and ``fashion_mnist`` builders store their
images PNG-encoded, which needs TensorFlow to prepare. :class:`ClasspIdxImages`
stores the same images as raw ``uint8`` tensors instead, so the standard IDX
files, fetched by tensorflow-datasets' download manager, are prepared in the
``array_record`` format and read back with ``tfds.data_source``. Importing
this module imports tensorflow-datasets; :mod:`experiments.data` does so only
when it has no local data folder.
"""

from collections.abc import Callable, Iterator, Mapping
import contextlib
import logging
import os

import numpy as np
import tensorflow_datasets as tfds

from experiments import idx

BUILDER_NAME = 'classp_idx_images'
_SPLITS = {'train': ('train_x', 'train_y'), 'test': ('test_x', 'test_y')}


class ClasspIdxImages(tfds.core.GeneratorBasedBuilder):
  """The images and labels of four IDX files, in their order, as uint8.

  One builder config per name of :data:`experiments.idx.DATASETS`; the
  builder prepares from files it is given (``idx_files``) and downloads
  nothing itself.
  """

  VERSION = tfds.core.Version('1.0.0')
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=name)
                     for name in idx.DATASETS]

  def __init__(self, *,
               idx_files: Mapping[str, os.PathLike[str]] | None = None,
               **kwargs):
    self._idx_files = idx_files
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description='MNIST-like images (28x28x1 uint8) and labels, prepared '
                    'from the standard IDX files.',
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
            'label': tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=('image', 'label'),
        disable_shuffling=True,  # Keep the files' order.
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # The files come from the caller.
    if self._idx_files is None:
      raise ValueError(f'{BUILDER_NAME}/{self.builder_config.name} is not '
                       'prepared and no IDX files were given.')
    return {split: self._generate_examples(self._idx_files[images],
                                           self._idx_files[labels])
            for split, (images, labels) in _SPLITS.items()}

  def _generate_examples(self, images_path, labels_path) -> Iterator:
    images, labels = idx.read_idx(images_path), idx.read_idx(labels_path)
    if images.ndim != 3 or len(images) != len(labels):
      raise ValueError(f'{images_path}: images of shape {images.shape} for '
                       f'{len(labels)} labels in {labels_path}.')
    for i, (image, label) in enumerate(zip(images, labels)):
      yield i, {'image': image[:, :, None], 'label': int(label)}


def load_arrays(
    name: str,
    download: Callable[[], Mapping[str, os.PathLike[str]]],
    data_dir: str | None = None,
) -> dict[str, np.ndarray]:
  """Prepares ``name`` once, then reads it with ``tfds.data_source``.

  Args:
    name: one of :data:`experiments.idx.DATASETS`.
    download: returns the four IDX files (keys of
      :data:`experiments.idx.IDX_FILES`); called only when the dataset is
      not prepared yet.
    data_dir: the tensorflow-datasets folder (None: its default,
      ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).

  Returns:
    uint8 images ``[N, 28, 28]`` and uint8 labels ``[N]`` under the keys of
    :data:`experiments.idx.IDX_FILES`, in the files' order.
  """
  with _absl_errors_only():  # tfds warns of the folder it is about to fill.
    builder = ClasspIdxImages(config=name, data_dir=data_dir)
    prepared = builder.is_prepared()
  if not prepared:
    builder = ClasspIdxImages(config=name, data_dir=data_dir,
                              idx_files=download())
    builder.download_and_prepare(file_format='array_record')
  arrays = {}
  for split, (images, labels) in _SPLITS.items():
    source = tfds.data_source(f'{BUILDER_NAME}/{name}', split=split,
                              data_dir=data_dir, download=False)
    records = source.__getitems__(list(range(len(source))))
    arrays[images] = np.stack([r['image'][:, :, 0] for r in records])
    arrays[labels] = np.array([r['label'] for r in records], dtype=np.uint8)
  return arrays


@contextlib.contextmanager
def _absl_errors_only():
  """Hides tensorflow-datasets' absl warnings and infos for a while."""
  logger = logging.getLogger('absl')
  level = logger.level
  logger.setLevel(logging.ERROR)
  try:
    yield
  finally:
    logger.setLevel(level)
