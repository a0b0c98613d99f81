"""Tests of experiments.streams.mnist_fashion."""

from experiments import data
from experiments import streams
from tests.experiments.streams.rows import rows


def test_mnist_fashion_tasks_come_from_each_dataset(data_dir):
  stream = streams.make_stream('mnist_fashion', data_dir=data_dir,
                               train_per_task=200, test_per_task=100)
  assert [task.name for task in stream.tasks] == [
      'mnist_fashion/mnist', 'mnist_fashion/fashion_mnist']
  for task, dataset_name in zip(stream.tasks, ('mnist', 'fashion_mnist')):
    dataset = data.load_dataset(dataset_name, data_dir)
    assert rows(task.test.x) <= rows(dataset.test_x)
    assert rows(task.train.x) <= rows(dataset.train_x)
    # Validation is carved from the training data, never from the test data.
    assert rows(task.val.x) <= rows(dataset.train_x)
