"""Tests of experiments.streams.permuted_mnist."""

import numpy as np

from experiments import data
from experiments import streams
from experiments.streams import permuted_mnist
from tests.experiments.streams.rows import rows

_SMALL = {'train_per_task': 200, 'test_per_task': 100}


def test_permuted_mnist_permutations(data_dir):
  stream = streams.make_stream(
      'permuted_mnist', data_dir=data_dir, num_tasks=3, **_SMALL)
  assert len(stream.tasks) == 3
  test_rows = rows(data.load_dataset('mnist', data_dir).test_x)
  for t, task in enumerate(stream.tasks):
    assert set(task.train.y.tolist()) == set(range(10))
    permutation = permuted_mnist.pixel_permutation(t, seed=0)
    flat = task.test.x.reshape(len(task.test.x), -1)
    unpermuted = np.empty_like(flat)
    unpermuted[:, permutation] = flat
    restored = rows(unpermuted.reshape(task.test.x.shape))
    assert restored <= test_rows
    assert (rows(task.test.x) <= test_rows) == (t == 0)


def test_pixel_permutation():
  np.testing.assert_array_equal(permuted_mnist.pixel_permutation(0, 5),
                                np.arange(784))
  first = permuted_mnist.pixel_permutation(1, seed=0)
  np.testing.assert_array_equal(np.sort(first), np.arange(784))
  np.testing.assert_array_equal(first,
                                permuted_mnist.pixel_permutation(1, seed=0))
  assert not np.array_equal(first, permuted_mnist.pixel_permutation(2, seed=0))
  assert not np.array_equal(first, permuted_mnist.pixel_permutation(1, seed=1))


def test_default_and_fewer_tasks_are_a_prefix(data_dir):
  kwargs = dict(data_dir=data_dir, **_SMALL)
  assert len(streams.make_stream('permuted_mnist', **kwargs).tasks) == (
      permuted_mnist.DEFAULT_NUM_TASKS)
  two = streams.make_stream('permuted_mnist', num_tasks=2, **kwargs)
  three = streams.make_stream('permuted_mnist', num_tasks=3, **kwargs)
  for task, longer_task in zip(two.tasks, three.tasks):
    np.testing.assert_array_equal(task.train.x, longer_task.train.x)
    np.testing.assert_array_equal(task.test.x, longer_task.test.x)


def test_validation_comes_from_the_training_data(data_dir):
  mnist = data.load_dataset('mnist', data_dir)
  stream = streams.make_stream('permuted_mnist', data_dir=data_dir,
                               num_tasks=1, **_SMALL)
  val = stream.tasks[0].val.x  # task 0 keeps the pixel order
  assert rows(val) <= rows(mnist.train_x)
  assert not rows(val) & rows(mnist.test_x)
