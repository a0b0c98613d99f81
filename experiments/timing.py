"""Wall-clock medians of jitted calls, timed interleaved.

Each repetition visits every callable once, so machine noise (another
process, frequency changes) falls on all of them alike and their ratios stay
comparable within one run.
"""

from collections.abc import Callable, Mapping
import statistics
import time
from typing import Any

import jax


def interleaved_medians(steps: Mapping[Any, Callable[[], Any]],
                        repeats: int, warmup: int = 3) -> dict[Any, float]:
  """Median seconds of each callable; every repetition visits all of them.

  Args:
    steps: callables returning JAX arrays (or trees of them); each call is
      timed until its result is ready.
    repeats: timed repetitions.
    warmup: untimed repetitions first (compilation, caches).

  Returns:
    The median seconds of each callable, under its key.
  """
  for _ in range(warmup):
    for step in steps.values():
      jax.block_until_ready(step())
  times = {name: [] for name in steps}
  for _ in range(repeats):
    for name, step in steps.items():
      start = time.perf_counter()
      jax.block_until_ready(step())
      times[name].append(time.perf_counter() - start)
  return {name: statistics.median(t) for name, t in times.items()}
