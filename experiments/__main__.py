"""``python -m experiments``: see :mod:`experiments.cli`."""

import sys

# Top-level modules of the 'experiments' extra that the command line imports.
_EXTRA = frozenset({'flax', 'matplotlib', 'tqdm'})

try:
  from experiments import cli
except ModuleNotFoundError as error:
  if (error.name or '').split('.')[0] not in _EXTRA:
    raise
  print(f'error: {error.name} is not installed; the experiments need the '
        'experiments extra: pip install -e ".[experiments]"', file=sys.stderr)
  sys.exit(2)

sys.exit(cli.main())
