"""MNIST, then Fashion-MNIST: the CLASSP paper's vision stream.

One shared 10-way head.
"""

import os

import numpy as np

from experiments import data
from experiments.streams import base

DATASETS = ('mnist', 'fashion_mnist')

_NUM_CLASSES = 10


def build(scenario: None, num_tasks: int | None, carving: base.Carving,
          data_dir: str | os.PathLike[str] | None) -> base.Stream:
  """The stream; see :data:`FAMILY`."""
  del num_tasks  # Fixed, checked by the registry.
  tasks = []
  for t, dataset_name in enumerate(DATASETS):
    dataset = data.load_dataset(dataset_name, data_dir)
    indices = carving.indices(t, np.arange(len(dataset.train_y)),
                              np.arange(len(dataset.test_y)))
    tasks.append(base.make_task(t, f'{FAMILY.name}/{dataset_name}', dataset,
                                indices))
  return base.Stream(FAMILY.name, scenario, _NUM_CLASSES, tuple(tasks))


FAMILY = base.StreamFamily(
    name='mnist_fashion', scenarios=(None,), build=build,
    datasets=DATASETS,
    fixed_num_tasks=len(DATASETS),
    description='MNIST, then Fashion-MNIST (the CLASSP paper)')
