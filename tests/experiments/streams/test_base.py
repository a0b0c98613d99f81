"""Tests of experiments.streams.base: carving and copying tasks (no data)."""

import numpy as np
import pytest

from experiments import data
from experiments.streams import base


def _examples(n_train=50, n_test=20):
  rng = np.random.default_rng(0)
  return data.Dataset(rng.normal(size=(n_train, 3)).astype(np.float32),
                      rng.integers(0, 4, n_train).astype(np.int32),
                      rng.normal(size=(n_test, 3)).astype(np.float32),
                      rng.integers(0, 4, n_test).astype(np.int32))


def test_carving_splits_the_pool_without_overlap():
  carving = base.Carving(seed=3, val_fraction=0.2)
  train, val, test = carving.indices(0, np.arange(100, 150), np.arange(10))
  assert len(val) == 10 and len(train) == 40 and len(test) == 10
  assert set(train) | set(val) == set(range(100, 150))
  assert not set(train) & set(val)
  for indices in (train, val, test):
    np.testing.assert_array_equal(indices, np.sort(indices))


def test_carving_depends_on_seed_and_task_only():
  pool = np.arange(200)
  first = base.Carving(seed=1).indices(2, pool, pool)
  np.testing.assert_array_equal(first[0],
                                base.Carving(seed=1).indices(2, pool, pool)[0])
  assert not np.array_equal(first[0],
                            base.Carving(seed=2).indices(2, pool, pool)[0])
  assert not np.array_equal(first[0],
                            base.Carving(seed=1).indices(3, pool, pool)[0])


def test_carving_caps_are_prefixes_of_the_uncapped_pools():
  pool = np.arange(300)
  full = base.Carving(seed=0).indices(0, pool, pool)
  capped = base.Carving(seed=0, train_per_task=20, val_per_task=5,
                        test_per_task=7).indices(0, pool, pool)
  assert [len(c) for c in capped] == [20, 5, 7]
  for small, large in zip(capped, full):
    assert set(small) <= set(large)


@pytest.mark.parametrize('kwargs', [
    {'val_fraction': 1.0}, {'val_fraction': -0.1}, {'train_per_task': 0},
    {'val_per_task': 0}, {'test_per_task': -1}])
def test_carving_refuses_bad_sizes(kwargs):
  with pytest.raises(ValueError, match=next(iter(kwargs))):
    base.Carving(**kwargs)


def test_make_task_copies_selects_and_relabels():
  examples = _examples()
  indices = (np.array([0, 2]), np.array([1]), np.array([3, 4, 5]))
  task = base.make_task(
      4, 'toy/4', examples, indices, select=lambda x, i: -x[i],
      relabel=lambda y: y + 10, logit_mask=np.array([True, False]))
  np.testing.assert_array_equal(task.train.x, -examples.train_x[[0, 2]])
  np.testing.assert_array_equal(task.train.y, examples.train_y[[0, 2]] + 10)
  np.testing.assert_array_equal(task.val.y, examples.train_y[[1]] + 10)
  np.testing.assert_array_equal(task.test.x, -examples.test_x[[3, 4, 5]])
  for split, size in ((task.train, 2), (task.val, 1), (task.test, 3)):
    np.testing.assert_array_equal(split.task, np.full(size, 4, np.int32))
  assert task.name == 'toy/4' and task.logit_mask.tolist() == [True, False]
  stream = base.Stream('toy', None, 14, (task,))
  assert stream.input_shape == (3,)


def test_family_check_names_the_valid_values():
  family = base.StreamFamily('toy', ('a', 'b'), build=None, datasets=(),
                             fixed_num_tasks=3)
  family.check('a', None)
  family.check('b', 3)
  with pytest.raises(ValueError, match="'a', 'b'"):
    family.check('c', None)
  with pytest.raises(ValueError, match='3 tasks'):
    family.check('a', 2)
  with pytest.raises(ValueError, match='positive'):
    family.check('a', 0)
