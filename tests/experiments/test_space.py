"""Tests of experiments.space: ranges, branches and points of the cube."""

import math

import pytest

from experiments import space
from experiments.space import Choice
from experiments.space import LogUniform
from experiments.space import Uniform


def test_log_uniform_spreads_evenly_in_log_scale():
  knob = LogUniform(1e-4, 1.0)
  assert knob.at(0.0) == 1e-4 and knob.at(1.0) == 1.0
  assert knob.at(0.5) == 0.01
  assert knob.at(0.25) == 0.001
  assert knob.at(1 / 3) == 0.00215  # 1e-4 * 1e4 ** (1/3), 3 digits
  assert knob.contains(0.5) and not knob.contains(2.0)
  assert not knob.contains(0.0)
  assert LogUniform(1e-12, 1e-2, with_zero=True).contains(0.0)


def test_uniform_and_choice():
  assert Uniform(1.0, 2.0).at(0.5) == 1.5
  choice = Choice(('sgd', 'adam'))
  assert [choice.at(u) for u in (0.0, 0.49, 0.5, 1.0)] == [
      'sgd', 'sgd', 'adam', 'adam']
  assert choice.contains('adam') and not choice.contains('adagrad')


@pytest.mark.parametrize('bad', [
    lambda: LogUniform(0.0, 1.0), lambda: LogUniform(2.0, 1.0),
    lambda: Uniform(2.0, 1.0), lambda: Choice(())])
def test_empty_or_invalid_ranges_are_refused(bad):
  with pytest.raises(ValueError):
    bad()


def test_a_point_picks_the_branch_then_sets_its_free_knobs_in_order():
  two = ({'base': 'sgd', 'learning_rate': LogUniform(1e-4, 1.0),
          'strength': LogUniform(1.0, 1e12)},
         {'base': 'adam', 'learning_rate': LogUniform(1e-5, 1e-1),
          'strength': LogUniform(1.0, 1e12)})
  assert space.dimensions(two) == 3
  assert space.at(two, [0.9, 0.5, 0.5]) == {
      'base': 'adam', 'learning_rate': 0.001, 'strength': 1e6}
  assert space.at(two, [0.1, 0.0, 1.0]) == {
      'base': 'sgd', 'learning_rate': 1e-4, 'strength': 1e12}
  one = ({'learning_rate': LogUniform(1e-4, 1.0), 'power': 2.0},)
  assert space.dimensions(one) == 1
  assert space.at(one, [0.5]) == {'learning_rate': 0.01, 'power': 2.0}
  with pytest.raises(ValueError, match='1 coordinates, got 2'):
    space.at(one, [0.5, 0.5])


def test_contains_checks_every_knob_of_one_branch():
  one = ({'learning_rate': LogUniform(1e-4, 1.0), 'power': 2.0},)
  assert space.contains(one, {'learning_rate': 0.1, 'power': 2.0})
  assert not space.contains(one, {'learning_rate': 0.1, 'power': 1.0})
  assert not space.contains(one, {'learning_rate': 2.0, 'power': 2.0})
  assert not space.contains(one, {'learning_rate': 0.1})
  assert math.isclose(one[0]['learning_rate'].at(0.75), 0.1)
