"""The README's Python examples run as written."""

from pathlib import Path
import re

import pytest

README = Path(__file__).resolve().parents[1] / 'README.md'
BLOCKS = re.findall(r'```python\n(.*?)```', README.read_text(), re.S)


def test_readme_has_examples():
  assert len(BLOCKS) >= 2


@pytest.mark.parametrize('index', range(len(BLOCKS)))
def test_readme_example_runs(index, capsys):
  exec(compile(BLOCKS[index], f'README.md block {index}', 'exec'), {})  # pylint: disable=exec-used


def test_quickstart_test_command_is_what_ci_runs():
  ci = (README.parent / '.ci' / 'run').read_text()
  command = re.search(
      r'```bash\n(pip install -e "\.\[dev\]" && pytest[^\n]*)\n',
      README.read_text()).group(1)
  assert command in ci.splitlines()
