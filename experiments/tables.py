"""Markdown tables and the number formats of the reports."""

from collections.abc import Sequence

DASH = '—'  # a cell with no value


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  """A Markdown table; ``|`` in cells is escaped."""
  lines = [header, ['---'] * len(header), *rows]
  return '\n'.join(
      '| ' + ' | '.join(cell.replace('|', r'\|') for cell in line) + ' |'
      for line in lines)


def one_decimal(value: float) -> str:
  """``value`` with one decimal, never ``-0.0``."""
  return f'{round(value, 1) + 0.0:.1f}'


def percent(fraction: float) -> str:
  """A fraction in %, one decimal, never ``-0.0``."""
  return one_decimal(100 * fraction)
