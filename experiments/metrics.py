"""Continual-learning metrics on the accuracy matrix, and summaries over seeds.

The accuracy matrix ``R`` of a run over ``T`` tasks is a ``[T, T]`` array with
``R[i, j]`` the accuracy on task ``j`` after training on tasks ``0..i``.

References:
  Lopez-Paz & Ranzato, `Gradient Episodic Memory for Continual Learning
  <https://arxiv.org/abs/1706.08840>`_, 2017
  Chaudhry et al., `Riemannian Walk for Incremental Learning: Understanding
  Forgetting and Intransigence <https://arxiv.org/abs/1801.10112>`_, 2018
"""

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
import scipy.stats


def _accuracy_matrix(accuracies: Any, square: bool = True) -> np.ndarray:
  """Returns ``accuracies`` as a float array after checking it is ``[T, T]``.

  With ``square=False`` a single row ``[1, T]`` (joint training) is accepted.
  """
  matrix = np.asarray(accuracies, dtype=np.float64)
  if matrix.ndim != 2:
    raise ValueError(
        f'The accuracy matrix must be 2-D, got shape {matrix.shape}.')
  if matrix.shape[0] != matrix.shape[1] and (square or matrix.shape[0] != 1):
    raise ValueError(
        f'The accuracy matrix must be square, got shape {matrix.shape}.')
  if matrix.shape[0] == 0:
    raise ValueError('The accuracy matrix must cover at least one task.')
  return matrix


def average_accuracy(accuracies: Any) -> float:
  """Mean accuracy over all tasks after training on the last one.

  Args:
    accuracies: the ``[T, T]`` accuracy matrix ``R``, or its single row
      ``[1, T]`` for joint training on all tasks at once.

  Returns:
    ``mean_j R[-1, j]``.

  Raises:
    ValueError: if ``accuracies`` is neither square nor one row.
  """
  return float(np.mean(_accuracy_matrix(accuracies, square=False)[-1]))


def backward_transfer(accuracies: Any) -> float:
  """Backward transfer (BWT): how training later tasks changed earlier ones.

  Negative values mean forgetting.

  Args:
    accuracies: the ``[T, T]`` accuracy matrix ``R``.

  Returns:
    ``mean_{j < T-1} (R[T-1, j] - R[j, j])``; 0.0 when ``T == 1``.

  Raises:
    ValueError: if ``accuracies`` is not a non-empty square 2-D array.

  References:
    Lopez-Paz & Ranzato, 2017 (see module docstring).
  """
  matrix = _accuracy_matrix(accuracies)
  if len(matrix) == 1:
    return 0.0
  return float(np.mean(matrix[-1, :-1] - np.diag(matrix)[:-1]))


def forgetting(accuracies: Any) -> float:
  """Average forgetting: drop from each task's best accuracy to its final one.

  Args:
    accuracies: the ``[T, T]`` accuracy matrix ``R``.

  Returns:
    ``mean_{j < T-1} (max_{l <= T-2} R[l, j] - R[T-1, j])``; 0.0 when
    ``T == 1``. As in Chaudhry et al.'s equation, ``l`` runs over every
    earlier row, including those before task ``j`` was trained.

  Raises:
    ValueError: if ``accuracies`` is not a non-empty square 2-D array.

  References:
    Chaudhry et al., 2018 (see module docstring).
  """
  matrix = _accuracy_matrix(accuracies)
  if len(matrix) == 1:
    return 0.0
  best = np.max(matrix[:-1, :-1], axis=0)
  return float(np.mean(best - matrix[-1, :-1]))


def tree_bytes(tree: Any) -> int:
  """Total bytes of the array leaves of ``tree`` (e.g. a regularizer state).

  Args:
    tree: any pytree; leaves without a ``dtype`` (Python numbers, strings)
      count 0. ``jax.ShapeDtypeStruct`` leaves count as the arrays they
      describe.

  Returns:
    The sum of ``size * itemsize`` over the array leaves.
  """
  return int(sum(leaf.size * leaf.dtype.itemsize
                 for leaf in jax.tree.leaves(tree) if hasattr(leaf, 'dtype')))


def summarize(values: Sequence[float]) -> dict[str, float]:
  """Mean and standard deviation of one metric across seeds.

  Args:
    values: the metric of each seed.

  Returns:
    ``{'mean': ..., 'std': ...}`` where ``std`` is the population standard
    deviation (``ddof=0``, so 0.0 for a single seed).

  Raises:
    ValueError: if ``values`` is empty or not one-dimensional.
  """
  array = np.asarray(values, dtype=np.float64)
  if array.ndim != 1 or array.size == 0:
    raise ValueError(
        f'values must be a non-empty 1-D sequence, got shape {array.shape}.')
  return {'mean': float(np.mean(array)), 'std': float(np.std(array))}


def interval(values: Sequence[float],
             confidence: float = 0.95) -> dict[str, float]:
  """Mean, sample standard deviation and a confidence interval of the mean.

  The interval is Student's t: ``mean +- t_{(1+confidence)/2, n-1} * std /
  sqrt(n)``, for metrics measured on independent seeds.

  Args:
    values: the metric of each seed, at least two.
    confidence: the interval's coverage, in (0, 1).

  Returns:
    ``{'mean', 'std' (ddof=1), 'low', 'high', 'n'}``.

  Raises:
    ValueError: for fewer than two values or a confidence outside (0, 1).
  """
  array = _two_or_more(values)
  _check_confidence(confidence)
  mean, std = float(np.mean(array)), float(np.std(array, ddof=1))
  half = _t_quantile(confidence, array.size - 1) * std / np.sqrt(array.size)
  return {'mean': mean, 'std': std, 'low': mean - half, 'high': mean + half,
          'n': int(array.size)}


def paired_difference(a: Sequence[float], b: Sequence[float],
                      confidence: float = 0.95) -> dict[str, Any]:
  """How ``a`` differs from ``b`` on the same seeds: a paired t-test.

  Args:
    a: one method's metric per seed.
    b: another's, on the same seeds in the same order.
    confidence: the interval's coverage; the difference is significant when
      the two-sided p-value is below ``1 - confidence``.

  Returns:
    ``{'mean', 'std', 'low', 'high', 'n'}`` of the differences ``a - b``
    (see :func:`interval`), the two-sided ``p_value`` and ``significant``.

  Raises:
    ValueError: for unequal lengths, fewer than two seeds or a bad
      confidence.
  """
  a, b = _two_or_more(a), _two_or_more(b)
  if a.shape != b.shape:
    raise ValueError(
        f'paired values need the same seeds, got {a.size} and {b.size}.')
  summary = interval(a - b, confidence)
  if summary['std'] == 0.0:
    p_value = 1.0 if summary['mean'] == 0.0 else 0.0
  else:
    p_value = float(scipy.stats.ttest_rel(a, b).pvalue)
  return {**summary, 'p_value': p_value,
          'significant': p_value < 1.0 - confidence}


def welch_difference(values: Sequence[float], mean: float, std: float,
                     n: int, confidence: float = 0.95) -> dict[str, Any]:
  """How ``values`` differ from a published mean: Welch's t-test.

  Args:
    values: our metric of each seed, at least two.
    mean: the published mean.
    std: the published sample standard deviation (ddof=1) over its runs.
    n: the published number of runs, at least two.
    confidence: the difference is significant when the two-sided p-value is
      below ``1 - confidence``.

  Returns:
    ``{'difference': ours - published, 'p_value', 'significant'}``.

  Raises:
    ValueError: for fewer than two values or runs, or a bad confidence.
  """
  array = _two_or_more(values)
  _check_confidence(confidence)
  if n < 2:
    raise ValueError(f'n must be at least 2 runs, got {n}.')
  ours_mean, ours_std = float(np.mean(array)), float(np.std(array, ddof=1))
  if ours_std == 0.0 and std == 0.0:
    p_value = 1.0 if ours_mean == mean else 0.0
  else:
    p_value = float(scipy.stats.ttest_ind_from_stats(
        ours_mean, ours_std, array.size, mean, std, n,
        equal_var=False).pvalue)
  return {'difference': ours_mean - mean, 'p_value': p_value,
          'significant': p_value < 1.0 - confidence}


def _two_or_more(values: Sequence[float]) -> np.ndarray:
  array = np.asarray(values, dtype=np.float64)
  if array.ndim != 1 or array.size < 2:
    raise ValueError(f'values must be a 1-D sequence of at least two seeds, '
                     f'got shape {array.shape}.')
  return array


def _check_confidence(confidence: float) -> None:
  if not 0.0 < confidence < 1.0:
    raise ValueError(f'confidence must be in (0, 1), got {confidence}.')


def _t_quantile(confidence: float, degrees_of_freedom: int) -> float:
  return float(scipy.stats.t.ppf((1.0 + confidence) / 2.0,
                                 degrees_of_freedom))
