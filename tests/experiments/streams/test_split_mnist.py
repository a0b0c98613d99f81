"""Tests of experiments.streams.split_mnist."""

import numpy as np
import pytest

from experiments import data
from experiments import streams
from experiments.streams import split_mnist
from tests.experiments.streams.rows import rows

_SMALL = {'train_per_task': 200, 'test_per_task': 100}


@pytest.mark.parametrize('scenario', ['task', 'class', 'domain'])
def test_split_mnist_labels(data_dir, scenario):
  stream = streams.make_stream(
      'split_mnist', scenario, data_dir=data_dir, **_SMALL)
  for task, digits in zip(stream.tasks, split_mnist.DIGITS):
    assert task.name == f'split_mnist/{digits[0]}-{digits[1]}'
    expected = {0, 1} if scenario == 'domain' else set(digits)
    for split in (task.train, task.val, task.test):
      assert set(split.y.tolist()) == expected
    if scenario == 'task':
      np.testing.assert_array_equal(np.flatnonzero(task.logit_mask), digits)


def test_split_mnist_domain_labels_are_digit_parity(data_dir):
  by_digit = streams.make_stream(
      'split_mnist', 'class', data_dir=data_dir, **_SMALL)
  by_parity = streams.make_stream(
      'split_mnist', 'domain', data_dir=data_dir, **_SMALL)
  for digit_task, parity_task in zip(by_digit.tasks, by_parity.tasks):
    np.testing.assert_array_equal(parity_task.train.x, digit_task.train.x)
    np.testing.assert_array_equal(parity_task.train.y, digit_task.train.y % 2)
    np.testing.assert_array_equal(parity_task.test.y, digit_task.test.y % 2)


def test_full_split_mnist_sizes(data_dir):
  mnist = data.load_dataset('mnist', data_dir)
  stream = streams.make_stream(
      'split_mnist', 'class', data_dir=data_dir, val_fraction=0.1)
  for task, digits in zip(stream.tasks, split_mnist.DIGITS):
    num_train = int(np.isin(mnist.train_y, digits).sum())
    assert len(task.val.y) == round(0.1 * num_train)
    assert len(task.train.y) + len(task.val.y) == num_train
    assert len(task.test.y) == int(np.isin(mnist.test_y, digits).sum())


def test_validation_comes_from_the_training_data(data_dir):
  mnist = data.load_dataset('mnist', data_dir)
  train_rows, test_rows = rows(mnist.train_x), rows(mnist.test_x)
  stream = streams.make_stream('split_mnist', 'class', data_dir=data_dir,
                               **_SMALL)
  for task in stream.tasks:
    assert rows(task.val.x) <= train_rows
    assert not rows(task.val.x) & test_rows
