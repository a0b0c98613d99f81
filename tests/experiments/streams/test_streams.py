"""Tests of the stream registry, experiments.streams, on every family."""

import numpy as np
import pytest

from experiments import idx
from experiments import streams
from tests.experiments.streams.rows import rows

_SMALL = {'train_per_task': 200, 'test_per_task': 100}
_ALL_STREAMS = [(name, scenario) for name, scenarios in streams.STREAMS.items()
                for scenario in scenarios]
# Streams of MNIST-like images (the others have tests of their own).
_IMAGE_STREAMS = [
    (name, scenario) for name, scenario in _ALL_STREAMS
    if set(streams.FAMILIES[name].datasets) <= set(idx.DATASETS)]


def test_registry_names_each_family_once():
  assert list(streams.STREAMS) == ['permuted_mnist', 'split_mnist',
                                   'mnist_fashion', 'tweet_domains',
                                   'sst2_imdb']
  for name, family in streams.FAMILIES.items():
    assert family.name == name and family.description
    assert streams.STREAMS[name] == family.scenarios


@pytest.mark.parametrize('name, scenario, key', [
    ('permuted_mnist', None, 'permuted_mnist'),
    ('split_mnist', 'domain', 'split_mnist_domain'),
])
def test_stream_key(name, scenario, key):
  assert streams.stream_key(name, scenario) == key


@pytest.mark.parametrize(('name', 'scenario'), _IMAGE_STREAMS)
def test_structure(data_dir, name, scenario):
  stream = streams.make_stream(name, scenario, data_dir=data_dir, **_SMALL)
  assert stream.name == name
  assert stream.scenario == scenario
  assert stream.input_shape == (28, 28, 1)
  expected_tasks = {'permuted_mnist': 10, 'split_mnist': 5,
                    'mnist_fashion': 2}[name]
  assert len(stream.tasks) == expected_tasks
  assert stream.num_classes == (2 if scenario == 'domain' else 10)
  assert len({task.name for task in stream.tasks}) == expected_tasks
  for index, task in enumerate(stream.tasks):
    assert task.name.startswith(f'{name}/')
    for split, size in ((task.train, 200), (task.val, 200), (task.test, 100)):
      assert split.x.shape == (size, 28, 28, 1)
      assert split.x.dtype == np.float32
      assert split.y.shape == (size,)
      assert split.y.dtype == np.int32
      assert split.y.min() >= 0 and split.y.max() < stream.num_classes
      np.testing.assert_array_equal(split.task, np.full(size, index))
      assert split.task.dtype == np.int32
    assert not rows(task.train.x) & rows(task.val.x)
    if scenario == 'task':
      assert task.logit_mask.dtype == np.bool_
      assert task.logit_mask.shape == (stream.num_classes,)
    else:
      assert task.logit_mask is None


def test_same_seed_same_stream_other_seed_differs(data_dir):
  kwargs = dict(data_dir=data_dir, num_tasks=2, **_SMALL)
  first = streams.make_stream('permuted_mnist', seed=3, **kwargs)
  again = streams.make_stream('permuted_mnist', seed=3, **kwargs)
  other = streams.make_stream('permuted_mnist', seed=4, **kwargs)
  for task, task_again, task_other in zip(first.tasks, again.tasks,
                                          other.tasks):
    for split, split_again, split_other in zip(task[1:4], task_again[1:4],
                                               task_other[1:4]):
      for array, array_again, array_other in zip(split[:2], split_again[:2],
                                                 split_other[:2]):
        np.testing.assert_array_equal(array, array_again)
        assert not np.array_equal(array, array_other)


def test_smaller_subsamples_are_subsets(data_dir):
  small = streams.make_stream('mnist_fashion', data_dir=data_dir,
                              train_per_task=50, test_per_task=20)
  large = streams.make_stream('mnist_fashion', data_dir=data_dir, **_SMALL)
  for small_task, large_task in zip(small.tasks, large.tasks):
    assert rows(small_task.train.x) <= rows(large_task.train.x)
    assert rows(small_task.val.x) <= rows(large_task.val.x)
    assert rows(small_task.test.x) <= rows(large_task.test.x)
    assert len(small_task.val.x) == 50


def test_zero_val_fraction_gives_empty_validation(data_dir):
  stream = streams.make_stream(
      'mnist_fashion', data_dir=data_dir, val_fraction=0.0, **_SMALL)
  for task in stream.tasks:
    assert task.val.x.shape == (0, 28, 28, 1)
    assert task.val.y.shape == (0,)


def test_val_per_task_caps_validation_only(data_dir):
  capped = streams.make_stream('permuted_mnist', num_tasks=1, data_dir=data_dir,
                               train_per_task=300, val_per_task=50)
  full = streams.make_stream('permuted_mnist', num_tasks=1, data_dir=data_dir,
                             train_per_task=300)
  assert len(capped.tasks[0].val.y) == 50 and len(full.tasks[0].val.y) == 300
  np.testing.assert_array_equal(capped.tasks[0].train.x,
                                full.tasks[0].train.x)
  assert rows(capped.tasks[0].val.x) <= rows(full.tasks[0].val.x)


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
def test_invalid_sizes_raise_before_reading_data(kwargs):
  with pytest.raises(ValueError):
    streams.make_stream('permuted_mnist', data_dir='/nonexistent', **kwargs)


def test_fixed_task_count_rejects_other_num_tasks():
  with pytest.raises(ValueError, match='5 tasks'):
    streams.make_stream('split_mnist', 'class', num_tasks=3)
