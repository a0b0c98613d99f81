"""Tests of experiments.search: budgets, named points, quasi-random draws."""

import pytest

from experiments import methods
from experiments import search
from experiments import space
from experiments.configs import presets
from experiments.configs import search_spaces

_WIDE = presets.PRESETS['hsu2018'].search


_WIDE_CASES = [
    pytest.param(preset, key, id=f'{preset.name}-{key}')
    for preset in presets.PRESETS.values()
    if preset.search is not None and preset.search.draw == 'quasi_random'
    for key in preset.setups]


@pytest.mark.parametrize('name', presets.WIDE_METHODS)
@pytest.mark.parametrize('preset, stream_key', _WIDE_CASES)
def test_every_method_gets_the_budget_with_its_named_points_first(
    name, preset, stream_key):
  candidates = search.configurations(name, preset.search, stream_key)
  assert len(candidates) == preset.search.budget
  named = search.named_points(name, stream_key, preset.search.literature)
  if name in ('classp', 'classp+ewc', 'classp+si', 'classp+mas'):
    assert len(named) >= 2  # CLASSP's own points, whatever the literature
  assert [c.label for c in candidates[:len(named)]] == list(named)
  assert [c.hyperparams for c in candidates[:len(named)]] == list(
      named.values())
  assert all(c.label is None for c in candidates[len(named):])
  wide = methods.wide_space(methods.parse_method(name))
  assert all(space.contains(wide, c.hyperparams) for c in candidates)
  # Deterministic: the same method always draws the same configurations.
  assert search.configurations(name, preset.search, stream_key) == candidates


def test_the_literature_presets_name_their_literature():
  assert presets.PRESETS['hsu2018'].search.literature == 'hsu2018'
  assert presets.PRESETS['vandeven2019'].search.literature == 'vandeven2019'
  for name, literature in (('hsu2018', 'hsu2018'),
                           ('vandeven2019', 'vandeven2019')):
    for key in presets.PRESETS[name].setups:
      assert search.named_points('ewc', key, literature)  # a default each


def test_classp_always_tries_adagrad_and_the_authors_settings():
  candidates = search.configurations('classp', _WIDE, 'split_mnist_task')
  points = {c.label: c.hyperparams for c in candidates}
  assert points['adagrad_equivalent'] == {
      'learning_rate': 0.01, 'power': 2.0, 'threshold': 0.0}
  assert points['author'] == {'learning_rate': 0.2, 'power': 1.0,
                              'threshold': 0.0}
  # The drawn ones spread over the space: both ends of the power range.
  powers = [c.hyperparams['power'] for c in candidates if c.label is None]
  assert min(powers) < 1.25 and max(powers) > 1.75


def test_each_baseline_tries_the_literature_default_of_its_stream():
  ewc = search.named_points('ewc', 'split_mnist_class', 'hsu2018')
  # Hsu et al.'s reg_coef 600 without 1/2 is strength 1200 here.
  assert ewc == {'literature': {'base': 'adam', 'learning_rate': 1e-3,
                                'strength': 1200.0}}
  assert search.named_points('si', 'split_mnist_domain', 'hsu2018')[
      'literature'][
      'strength'] == 3000.0
  # A pairing completes CLASSP's points with the regularizer's default.
  paired = search.named_points('classp+ewc', 'split_mnist_class',
                               'hsu2018')
  assert paired['author']['strength'] == 1200.0
  # A variant keeps the named points its fixed knobs leave as they are.
  assert list(search.named_points(
      'classp_adagrad', 'split_mnist_task', 'hsu2018')) == [
          'adagrad_equivalent']
  assert list(search.named_points(
      'classp_accumulator_only', 'split_mnist_task', 'hsu2018')) == ['author']
  # Both of CLASSP's points have threshold 0: without scaling, plain SGD.
  assert search.named_points('classp_mask_only', 'split_mnist_task',
                             'hsu2018') == {}
  # Without a literature, only CLASSP's own points.
  assert search.named_points('ewc', 'split_mnist_class') == {}
  # van de Ven & Tolias: online EWC's gamma enters the penalty twice.
  assert search.named_points('online_ewc', 'permuted_mnist', 'vandeven2019')[
      'literature'] == {'base': 'adam', 'learning_rate': 1e-4,
                        'strength': 900.0, 'decay': 0.9}


def test_a_named_point_outside_the_space_is_refused(monkeypatch):
  monkeypatch.setitem(search_spaces.NAMED_POINTS, 'classp', {
      'too_fast': {'learning_rate': 10.0, 'power': 1.0, 'threshold': 0.0}})
  with pytest.raises(ValueError, match="'too_fast' of classp"):
    search.named_points('classp', 'split_mnist_task')


def test_the_quasi_random_draw_covers_every_knob_range():
  drawn = search.quasi_random('ewc', 40)
  bases = {c['base'] for c in drawn}
  assert bases == {'sgd', 'adam'}
  strengths = sorted(c['strength'] for c in drawn)
  assert strengths[0] < 1e2 and strengths[-1] > 1e10  # 1e0..1e12


def test_the_grid_draw_is_the_small_budget_protocols():
  grid = search.Search(draw='grid', budget=8, tuning_seeds=(0,))
  candidates = search.configurations('sgd', grid, 'permuted_mnist')
  assert [c.hyperparams for c in candidates] == methods.tuning_grid(
      methods.parse_method('sgd'), 8)
  assert all(c.label is None for c in candidates)


@pytest.mark.parametrize('kwargs', [
    {'draw': 'random'}, {'budget': 0}, {'tuning_seeds': ()},
    {'halving': search.Halving(first_tasks=2, keep=20)},
    {'halving': search.Halving(first_tasks=0, keep=2)},
    # Halving on the whole stream needs a second tuning seed to tune on.
    {'halving': search.Halving(first_tasks=None, keep=2)},
    # The narrower search keeps as many finalists and is narrower.
    {'draw': 'quasi_random', 'budget': 8,
     'halving': search.Halving(2, keep=3, narrower_budget=2)},
    {'draw': 'quasi_random', 'budget': 8,
     'halving': search.Halving(2, keep=3, narrower_budget=8)},
    # A grid of another budget is another grid: nothing to keep.
    {'draw': 'grid', 'budget': 8,
     'halving': search.Halving(2, keep=3, narrower_budget=4)}])
def test_a_bad_search_is_refused(kwargs):
  with pytest.raises(ValueError):
    search.Search(**kwargs)


def test_a_quasi_random_search_may_widen_a_narrower_one():
  wider = search.Search('quasi_random', 8, (0,),
                        search.Halving(2, keep=3, narrower_budget=4))
  assert wider.halving.narrower_budget == 4


def test_describe_records_the_ranges():
  described = search.space_record('classp', _WIDE)
  assert described == [{
      'learning_rate': {'log_uniform': [1e-4, 1.0]},
      'power': {'uniform': [1.0, 2.0]},
      'threshold': {'log_uniform': [1e-12, 1e-2], 'or': 0.0}}]


@pytest.mark.parametrize('narrower_budget, finalists', [
    (None, [2, 4]),  # the best 2 of all
    (2, [0, 1, 2, 4]),  # and the best 2 of the first 2
    (3, [0, 2, 4]),  # the best 2 of the first 3 are 2 and 0
])
def test_finalists_include_the_narrower_search_s(narrower_budget, finalists):
  halving = search.Halving(2, keep=2, narrower_budget=narrower_budget)
  assert halving.finalists([0.5, 0.4, 0.8, None, 0.9]) == finalists


def test_ranked_puts_the_best_first_and_drops_the_diverged():
  assert search.ranked([0.5, None, 0.9, 0.5]) == [2, 0, 3]
  assert search.ranked([None, None]) == []


def test_the_record_names_a_narrower_budget_only_when_set():
  plain = search.Search('quasi_random', 12, (0, 1), search.Halving(2, 3))
  assert search.record(plain)['halving'] == {'first_tasks': 2, 'keep': 3}
  wider = search.Search('quasi_random', 48, (0, 1),
                        search.Halving(2, 3, narrower_budget=12))
  assert search.record(wider)['halving'] == {
      'first_tasks': 2, 'keep': 3, 'narrower_budget': 12}
  assert search.record(search.Search('grid', 8, (0,)))['halving'] is None
