"""Tests of experiments.configs.hyperparams against the registries."""

import json
from pathlib import Path

import pytest

from experiments import methods
from experiments import optimizers
from experiments import regularizers
from experiments.configs import hyperparams

_RESULTS = Path(__file__).resolve().parents[3] / 'experiments' / 'results'


def test_every_registered_name_has_a_space_and_no_other():
  assert set(hyperparams.OPTIMIZER_SPACES) == set(optimizers.OPTIMIZERS)
  assert set(hyperparams.REGULARIZER_SPACES) == set(regularizers.REGULARIZERS)
  assert set(hyperparams.BASE_OPTIMIZER_SPACES) <= set(optimizers.OPTIMIZERS)


@pytest.mark.parametrize('spaces', [hyperparams.OPTIMIZER_SPACES,
                                    hyperparams.BASE_OPTIMIZER_SPACES])
def test_optimizer_knobs_are_their_factories_parameters(spaces):
  for name, space in spaces.items():
    assert 'learning_rate' in space
    assert set(space) <= set(optimizers.OPTIMIZERS[name].hyperparams), name


def test_regularizer_knobs_are_their_factories_parameters():
  for name, space in hyperparams.REGULARIZER_SPACES.items():
    assert set(space) <= set(regularizers.hyperparams(name)), name


def test_defaults_name_known_methods():
  for name in hyperparams.DEFAULT_HYPERPARAMS:
    methods.parse_method(name)


def _committed_grids():
  return [pytest.param(name, block['grid'], id=f'{path.stem}-{name}')
          for path in sorted(_RESULTS.glob('*.json'))
          for name, block in json.loads(path.read_text())['methods'].items()]


@pytest.mark.parametrize('name, grid', _committed_grids())
def test_the_committed_sweep_drew_the_grids_these_spaces_draw(name, grid):
  # Else a rerun of the sweep would not find its cached tuning runs.
  assert methods.tuning_grid(methods.parse_method(name), len(grid)) == grid
