"""Tests of experiments.configs.presets."""

import pytest

from experiments import data
from experiments import methods
from experiments import models
from experiments import streams
from experiments.configs import presets


def test_full_and_online_cover_every_stream_and_scenario_once():
  assert sorted([*presets.FULL, *presets.ONLINE]) == sorted(
      streams.stream_key(name, scenario)
      for name, scenarios in streams.STREAMS.items() for scenario in scenarios)
  # FULL (what --stream all sweeps) needs no internet.
  online = set(data.TFDS_TEXT_DATASETS)
  for setup in presets.FULL.values():
    assert not online & set(streams.family(setup.stream).datasets)
  for setup in presets.ONLINE.values():
    assert online & set(streams.family(setup.stream).datasets)
  for key, setup in presets.FULL.items():
    assert setup.key == key
    assert setup.protocol.model in models.MODELS


@pytest.mark.parametrize('preset', presets.PRESETS.values(),
                         ids=list(presets.PRESETS))
def test_presets_run_known_streams_and_methods(preset):
  assert preset.name in presets.PRESETS
  assert any(key.startswith(preset.stream) for key in preset.setups)
  for key, setup in preset.setups.items():
    assert setup.key == key
  for name in preset.methods:
    if name not in preset.fixed:
      methods.parse_method(name)
  for run in preset.fixed.values():
    methods.build(methods.parse_method(run.method), run.hyperparams,
                  injectable=run.task_hyperparams is not None)


def test_paper_is_the_full_mnist_fashion_setup_with_the_paper_schedule():
  full = presets.FULL['mnist_fashion']
  assert presets.PAPER.protocol.epochs == (4, 1)
  assert not presets.PAPER.protocol.shuffle
  assert presets.PAPER.replace(epochs=1, shuffle=True) == full
  for run in presets.PAPER_METHODS.values():
    assert run.task_hyperparams is None or len(run.task_hyperparams) == 2
  tags = [run.tag for run in presets.PAPER_METHODS.values()]
  assert len(set(zip(tags, (r.method for r in
                            presets.PAPER_METHODS.values())))) == len(tags)
