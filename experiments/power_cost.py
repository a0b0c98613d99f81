"""What a general power costs per element, against the optimizer step.

CLASSP's step at a power with no square-root form (e.g. 1.6) computes
``|g|**p`` and ``x**(-1/p)`` as ``exp2(e * log2(x))``; powers 1 and 2 need
only ``abs``, division and ``rsqrt``, like ``optax.adagrad``. This module
times each of those operations alone, as one in-place pass over a float32
vector (``x + 1e-30 * f(x)``: every pass reads and writes each element once,
whatever ``f`` costs), so that the cost of the transcendentals can be set
beside the steps' own times, measured in the same process:
``python -m experiments.benchmark --power-cost``.

Example::

  >>> from experiments import power_cost
  >>> costs = power_cost.operation_costs(1000, repeats=2)
  >>> sorted(costs) == sorted(power_cost.OPERATIONS)
  True
"""

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from experiments import tables
from experiments import timing

# The reference pass: the same memory traffic as every other, a multiply-add.
REFERENCE = 'x'

# The library's ``x ** (-1 / 1.6)`` (and, with another exponent, ``|g|**p``)
# for powers without a square-root form; ``lax.pow`` is XLA's general power,
# which the library avoids.
OPERATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    REFERENCE: lambda x: x,
    'sqrt(x)': jnp.sqrt,
    'rsqrt(x)': jax.lax.rsqrt,
    'log2(x)': jnp.log2,
    'exp2(x)': jnp.exp2,
    'exp2(-0.625 * log2(x))': lambda x: jnp.exp2(-0.625 * jnp.log2(x)),
    'lax.pow(x, -0.625)': lambda x: jax.lax.pow(x, jnp.float32(-0.625)),
}

# The steps set beside the operations, and the one their budget refers to.
STEPS = ('sgd', 'adagrad', 'classp p=1.5', 'classp p=1.6')
BUDGET_REFERENCE = 'adagrad'
BUDGET_RATIO = 1.1


def operation_costs(size: int, repeats: int) -> dict[str, float]:
  """Median seconds of one in-place pass ``x + 1e-30 * f(x)`` per operation.

  ``x`` is float32, uniform in [1, 2): ``1e-30 * f(x)`` is below half an
  ulp of ``x``, so every pass leaves ``x`` as it was and repetitions see the
  same values, yet XLA cannot drop ``f``.

  Args:
    size: elements of the vector.
    repeats: interleaved repetitions.

  Returns:
    Per name of :data:`OPERATIONS`, the median seconds of one pass.
  """
  vectors, passes = {}, {}
  for name, operation in OPERATIONS.items():
    update = jax.jit(lambda x, f=operation: x + 1e-30 * f(x),
                     donate_argnums=0)
    vectors[name] = jax.random.uniform(jax.random.key(0), (size,),
                                       minval=1.0, maxval=2.0)

    def one_pass(name=name, update=update):
      vectors[name] = update(vectors[name])
      return vectors[name]

    passes[name] = one_pass
  return timing.interleaved_medians(passes, repeats)


def document_for_size(size: int, operation_s: Mapping[str, float],
                      step_s: Mapping[str, float]) -> dict[str, Any]:
  """One size's entry of the document: nanoseconds per element.

  Args:
    size: elements.
    operation_s: :func:`operation_costs`'s result.
    step_s: the median seconds of each of :data:`STEPS` at that size.

  Returns:
    ``operations`` and ``steps`` (name -> ns per element), the operations'
    ``over_reference`` and the steps' ``over_budget_reference`` (ns per
    element above :data:`REFERENCE` and :data:`BUDGET_REFERENCE`), and
    ``budget_ns``: the ns per element that :data:`BUDGET_RATIO` times the
    budget reference's step leaves above it.
  """
  operations = {n: s * 1e9 / size for n, s in operation_s.items()}
  steps = {n: s * 1e9 / size for n, s in step_s.items()}
  return {
      'params': size,
      'operations': operations,
      'over_reference': {n: t - operations[REFERENCE]
                         for n, t in operations.items()},
      'steps': steps,
      'over_budget_reference': {n: t - steps[BUDGET_REFERENCE]
                                for n, t in steps.items()},
      'budget_ns': (BUDGET_RATIO - 1) * steps[BUDGET_REFERENCE],
  }


def markdown(document: Mapping[str, Any]) -> str:
  """The power-cost tables: operations, then steps, per size."""
  operation_rows, step_rows = [], []
  for tree, entry in document['sizes'].items():
    for name, ns in entry['operations'].items():
      operation_rows.append([tree, f'`{name}`', f'{ns:.3f}',
                             f'{entry["over_reference"][name]:+.3f}'])
    reference = entry['steps'][BUDGET_REFERENCE]
    for name, ns in entry['steps'].items():
      step_rows.append([tree, name, f'{ns:.3f}', f'{ns / reference:.2f}',
                        f'{entry["over_budget_reference"][name]:+.3f}',
                        f'{entry["budget_ns"]:.3f}'])
  return '\n'.join([
      f'Device: {document["device"]}; JAX {document["jax"]}. Nanoseconds '
      'per element (wall time over the whole vector, every core XLA uses), '
      f'median of {document["repeats"]} interleaved repetitions.', '',
      'One in-place pass `x + 1e-30 * f(x)` over float32 `x` in [1, 2), per '
      f'`f`; the last column subtracts `f(x) = {REFERENCE}` (the same memory '
      'traffic).', '',
      tables.markdown_table(
          ['params', 'f(x)', 'ns / element', f'minus `{REFERENCE}`'],
          operation_rows), '',
      '`update + apply_updates` (donated), per element; the budget is what '
      f'{BUDGET_RATIO}x {BUDGET_REFERENCE}\'s step leaves above it.', '',
      tables.markdown_table(
          ['params', 'step', 'ns / element', f'vs {BUDGET_REFERENCE}',
           f'minus {BUDGET_REFERENCE}', f'budget at {BUDGET_RATIO}x'],
          step_rows), ''])
