"""Tests of experiments.protocol."""

import dataclasses
import json

import pytest

from experiments.configs import presets
from experiments.protocol import Protocol
from experiments.protocol import Setup


def test_replace_changes_setup_and_protocol_fields():
  setup = presets.QUICK.replace(train_per_task=10, epochs=3, batch_size=8)
  assert setup.train_per_task == 10
  assert setup.protocol.epochs == 3 and setup.protocol.batch_size == 8
  assert setup.protocol.hidden == presets.QUICK.protocol.hidden
  assert presets.QUICK.replace() == presets.QUICK


@pytest.mark.parametrize('setup', [*presets.FULL.values(), presets.QUICK,
                                   presets.PAPER])
def test_config_round_trips_through_json(setup):
  config = json.loads(json.dumps(setup.config()))
  assert Setup.from_config(config, notes=setup.notes) == setup


def test_epochs_of_a_task():
  assert Protocol(epochs=2).epochs_of(5) == 2
  assert Protocol(epochs=(4, 1)).epochs_of(1) == 1


def test_key():
  assert presets.FULL['split_mnist_task'].key == 'split_mnist_task'
  assert presets.QUICK.key == 'permuted_mnist'


def test_fields_added_later_are_recorded_only_when_set():
  setup = presets.QUICK
  assert 'steps_per_task' not in setup.config()  # older run keys stay valid
  stepped = setup.replace(steps_per_task=5000)
  assert stepped.config()['steps_per_task'] == 5000
  assert Setup.from_config(stepped.config()) == dataclasses.replace(
      stepped, notes=())
  assert Setup.from_config(setup.config()).protocol.steps_per_task is None
