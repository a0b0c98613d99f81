"""``python -m experiments``: see :mod:`experiments.cli`."""

import sys

from experiments import cli

sys.exit(cli.main())
