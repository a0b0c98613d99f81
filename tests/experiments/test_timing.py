"""Interleaved timing: every callable is visited in every repetition."""

import jax.numpy as jnp

from experiments import timing


def test_every_callable_is_called_warmup_plus_repeats_times():
  calls = {'a': 0, 'b': 0}

  def make(name):
    def step():
      calls[name] += 1
      return jnp.zeros(())
    return step

  medians = timing.interleaved_medians({n: make(n) for n in calls},
                                       repeats=4, warmup=2)
  assert calls == {'a': 6, 'b': 6}
  assert set(medians) == {'a', 'b'}
  assert all(seconds >= 0 for seconds in medians.values())
