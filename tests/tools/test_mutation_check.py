"""The mutation check stays in step with the code it mutates."""

import importlib.util
from pathlib import Path

_TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'mutation_check.py'


def test_every_mutant_still_applies_to_its_file():
  spec = importlib.util.spec_from_file_location('mutation_check', _TOOL)
  tool = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(tool)
  assert len(tool.MUTANTS) >= 20
  assert len({m.name for m in tool.MUTANTS}) == len(tool.MUTANTS)
  assert tool.stale_mutants() == []
