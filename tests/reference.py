"""A plain float64 NumPy reference of the CLASSP equation (arXiv 2405.09637).

Kept deliberately simple and independent of the library: one loop over steps,
one array per weight tensor.
"""

import numpy as np


def classp_reference(
    grads_per_step, learning_rate, threshold, power, eps, apply_scaling=True):
  """Returns the updates of every step and the final accumulators.

  Args:
    grads_per_step: a list over steps of lists of arrays (one per tensor).
    learning_rate, threshold, power, eps, apply_scaling: as in ``classp``.

  Returns:
    (updates_per_step, accumulators), float64.
  """
  accumulators = [np.zeros_like(g, dtype=np.float64) for g in grads_per_step[0]]
  updates_per_step = []
  for grads in grads_per_step:
    updates = []
    for i, g in enumerate(grads):
      g = np.asarray(g, dtype=np.float64)
      selected = np.isfinite(g) & (g ** 2 > threshold)
      g = np.where(selected, g, 0.0)
      accumulators[i] = accumulators[i] + np.abs(g) ** power
      if apply_scaling:
        with np.errstate(divide='ignore', invalid='ignore'):
          step = g / (eps + accumulators[i]) ** (1.0 / power)
        step = np.where(accumulators[i] > 0, step, 0.0)
      else:
        step = g
      updates.append(-learning_rate * step)
    updates_per_step.append(updates)
  return updates_per_step, accumulators
