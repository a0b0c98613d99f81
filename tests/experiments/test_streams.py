"""Tests for experiments.streams."""


import numpy as np
import pytest

from experiments import data
from experiments import streams

_SMALL = {'train_per_task': 200, 'test_per_task': 100}
_ALL_STREAMS = [(name, scenario) for name, scenarios in streams.STREAMS.items()
                for scenario in scenarios]



def _rows(images: np.ndarray) -> set[bytes]:
  """The images as a set of byte strings, to compare rows across arrays."""
  return {image.tobytes() for image in images}


@pytest.mark.parametrize(('name', 'scenario'), _ALL_STREAMS)
def test_structure(data_dir, name, scenario):
  stream = streams.make_stream(name, scenario, data_dir=data_dir, **_SMALL)
  assert stream.name == name
  assert stream.scenario == scenario
  expected_tasks = {'permuted_mnist': 10, 'split_mnist': 5,
                    'mnist_fashion': 2}[name]
  assert len(stream.tasks) == expected_tasks
  assert stream.num_classes == (2 if scenario == 'domain' else 10)
  assert len({task.name for task in stream.tasks}) == expected_tasks
  for task in stream.tasks:
    assert task.name.startswith(f'{name}/')
    for images, labels, size in ((task.train_x, task.train_y, 200),
                                 (task.val_x, task.val_y, 200),
                                 (task.test_x, task.test_y, 100)):
      assert images.shape == (size, 28, 28, 1)
      assert images.dtype == np.float32
      assert labels.shape == (size,)
      assert labels.dtype == np.int32
      assert labels.min() >= 0 and labels.max() < stream.num_classes
    assert not _rows(task.train_x) & _rows(task.val_x)
    if scenario == 'task':
      assert task.logit_mask.dtype == np.bool_
      assert task.logit_mask.shape == (stream.num_classes,)
    else:
      assert task.logit_mask is None


@pytest.mark.parametrize('scenario', ['task', 'class', 'domain'])
def test_split_mnist_labels(data_dir, scenario):
  stream = streams.make_stream(
      'split_mnist', scenario, data_dir=data_dir, **_SMALL)
  for task, digits in zip(stream.tasks, streams.SPLIT_MNIST_DIGITS):
    assert task.name == f'split_mnist/{digits[0]}-{digits[1]}'
    expected = {0, 1} if scenario == 'domain' else set(digits)
    for labels in (task.train_y, task.val_y, task.test_y):
      assert set(labels.tolist()) == expected
    if scenario == 'task':
      np.testing.assert_array_equal(np.flatnonzero(task.logit_mask), digits)


def test_split_mnist_domain_labels_are_digit_parity(data_dir):
  by_digit = streams.make_stream(
      'split_mnist', 'class', data_dir=data_dir, **_SMALL)
  by_parity = streams.make_stream(
      'split_mnist', 'domain', data_dir=data_dir, **_SMALL)
  for digit_task, parity_task in zip(by_digit.tasks, by_parity.tasks):
    np.testing.assert_array_equal(parity_task.train_x, digit_task.train_x)
    np.testing.assert_array_equal(parity_task.train_y, digit_task.train_y % 2)
    np.testing.assert_array_equal(parity_task.test_y, digit_task.test_y % 2)


def test_full_split_mnist_sizes(data_dir):
  mnist = data.load_dataset('mnist', data_dir)
  stream = streams.make_stream(
      'split_mnist', 'class', data_dir=data_dir, val_fraction=0.1)
  for task, digits in zip(stream.tasks, streams.SPLIT_MNIST_DIGITS):
    num_train = int(np.isin(mnist.train_y, digits).sum())
    assert len(task.val_y) == round(0.1 * num_train)
    assert len(task.train_y) + len(task.val_y) == num_train
    assert len(task.test_y) == int(np.isin(mnist.test_y, digits).sum())


def test_mnist_fashion_tasks(data_dir):
  stream = streams.make_stream('mnist_fashion', data_dir=data_dir, **_SMALL)
  assert [task.name for task in stream.tasks] == [
      'mnist_fashion/mnist', 'mnist_fashion/fashion_mnist']
  for task, dataset_name in zip(stream.tasks, ('mnist', 'fashion_mnist')):
    dataset = data.load_dataset(dataset_name, data_dir)
    assert _rows(task.test_x) <= _rows(dataset.test_x)
    assert _rows(task.train_x) <= _rows(dataset.train_x)


def test_permuted_mnist_permutations(data_dir):
  stream = streams.make_stream(
      'permuted_mnist', data_dir=data_dir, num_tasks=3, **_SMALL)
  assert len(stream.tasks) == 3
  test_rows = _rows(data.load_dataset('mnist', data_dir).test_x)
  for t, task in enumerate(stream.tasks):
    assert set(task.train_y.tolist()) == set(range(10))
    permutation = streams.pixel_permutation(t, seed=0)
    flat = task.test_x.reshape(len(task.test_x), -1)
    unpermuted = np.empty_like(flat)
    unpermuted[:, permutation] = flat
    restored = _rows(unpermuted.reshape(task.test_x.shape))
    assert restored <= test_rows
    assert (_rows(task.test_x) <= test_rows) == (t == 0)


def test_pixel_permutation():
  np.testing.assert_array_equal(streams.pixel_permutation(0, 5), np.arange(784))
  first = streams.pixel_permutation(1, seed=0)
  np.testing.assert_array_equal(np.sort(first), np.arange(784))
  np.testing.assert_array_equal(first, streams.pixel_permutation(1, seed=0))
  assert not np.array_equal(first, streams.pixel_permutation(2, seed=0))
  assert not np.array_equal(first, streams.pixel_permutation(1, seed=1))


def test_same_seed_same_stream_other_seed_differs(data_dir):
  kwargs = dict(data_dir=data_dir, num_tasks=2, **_SMALL)
  first = streams.make_stream('permuted_mnist', seed=3, **kwargs)
  again = streams.make_stream('permuted_mnist', seed=3, **kwargs)
  other = streams.make_stream('permuted_mnist', seed=4, **kwargs)
  for task, task_again, task_other in zip(first.tasks, again.tasks,
                                          other.tasks):
    for array, array_again, array_other in zip(task[1:7], task_again[1:7],
                                               task_other[1:7]):
      np.testing.assert_array_equal(array, array_again)
      assert not np.array_equal(array, array_other)


def test_fewer_tasks_are_a_prefix(data_dir):
  kwargs = dict(data_dir=data_dir, **_SMALL)
  two = streams.make_stream('permuted_mnist', num_tasks=2, **kwargs)
  three = streams.make_stream('permuted_mnist', num_tasks=3, **kwargs)
  for task, longer_task in zip(two.tasks, three.tasks):
    np.testing.assert_array_equal(task.train_x, longer_task.train_x)
    np.testing.assert_array_equal(task.test_x, longer_task.test_x)


def test_smaller_subsamples_are_subsets(data_dir):
  small = streams.make_stream('mnist_fashion', data_dir=data_dir,
                              train_per_task=50, test_per_task=20)
  large = streams.make_stream('mnist_fashion', data_dir=data_dir, **_SMALL)
  for small_task, large_task in zip(small.tasks, large.tasks):
    assert _rows(small_task.train_x) <= _rows(large_task.train_x)
    assert _rows(small_task.val_x) <= _rows(large_task.val_x)
    assert _rows(small_task.test_x) <= _rows(large_task.test_x)
    assert len(small_task.val_x) == 50


def test_zero_val_fraction_gives_empty_validation(data_dir):
  stream = streams.make_stream(
      'mnist_fashion', data_dir=data_dir, val_fraction=0.0, **_SMALL)
  for task in stream.tasks:
    assert task.val_x.shape == (0, 28, 28, 1)
    assert task.val_y.shape == (0,)


def test_unknown_stream_lists_valid_streams():
  with pytest.raises(ValueError, match='permuted_mnist, split_mnist'):
    streams.make_stream('rotated_mnist')


def test_split_mnist_needs_scenario():
  with pytest.raises(ValueError, match="'task', 'domain', 'class'"):
    streams.make_stream('split_mnist')


def test_unknown_scenario_lists_valid_ones():
  with pytest.raises(ValueError, match="'task', 'domain', 'class'"):
    streams.make_stream('split_mnist', 'instance')
  with pytest.raises(ValueError, match='None'):
    streams.make_stream('permuted_mnist', 'task')


@pytest.mark.parametrize('kwargs', [
    {'val_fraction': 1.0},
    {'val_fraction': -0.1},
    {'train_per_task': 0},
    {'test_per_task': 0},
    {'num_tasks': 0},
])
def test_invalid_sizes_raise(kwargs):
  with pytest.raises(ValueError):
    streams.make_stream('permuted_mnist', **kwargs)


def test_fixed_task_count_rejects_other_num_tasks():
  with pytest.raises(ValueError, match='5 tasks'):
    streams.make_stream('split_mnist', 'class', num_tasks=3)


def test_val_per_task_caps_validation_only(data_dir):
  capped = streams.make_stream('permuted_mnist', num_tasks=1, data_dir=data_dir,
                               train_per_task=300, val_per_task=50)
  full = streams.make_stream('permuted_mnist', num_tasks=1, data_dir=data_dir,
                             train_per_task=300)
  assert len(capped.tasks[0].val_y) == 50 and len(full.tasks[0].val_y) == 300
  np.testing.assert_array_equal(capped.tasks[0].train_x, full.tasks[0].train_x)
  assert _rows(capped.tasks[0].val_x) <= _rows(full.tasks[0].val_x)
