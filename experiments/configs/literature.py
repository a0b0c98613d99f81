"""Published results the literature protocols are calibrated against.

Each :class:`Reference` names the protocol it applies to (settings a result
file's ``protocol`` must have) and its numbers: ACC in % as mean and spread,
by stream key and by this project's method names.
"""

from collections.abc import Mapping
import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Reference:
  """A published table.

  Attributes:
    name: how tables cite it.
    source: where the numbers were read.
    spread: what the ``±`` of its numbers is: ``'population std'`` (ddof=0)
      or ``'sem'`` (standard error of the mean).
    runs: runs behind each number.
    protocol: settings of a result's protocol this table applies to.
    numbers: stream key -> method -> (mean, spread) ACC in %.
  """
  name: str
  source: str
  spread: str
  runs: int
  protocol: Mapping[str, Any]
  numbers: Mapping[str, Mapping[str, tuple[float, float]]]

  def sample_std(self, spread: float) -> float:
    """A published spread as the sample standard deviation over its runs."""
    if self.spread == 'population std':
      return spread * (self.runs / (self.runs - 1)) ** 0.5
    if self.spread == 'sem':
      return spread * self.runs ** 0.5
    raise ValueError(f'Unknown spread {self.spread!r}.')

  def applies_to(self, protocol: Mapping[str, Any]) -> bool:
    """Whether a result file's protocol is this table's."""
    return all(protocol.get(k) == v for k, v in self.protocol.items())


def _columns(rows: Mapping[str, tuple[tuple[float, float], ...]],
             keys: tuple[str, ...]) -> dict[str, dict[str, tuple]]:
  """Per-method rows of (mean, spread) per column -> per-column tables."""
  return {key: {method: row[i] for method, row in rows.items()}
          for i, key in enumerate(keys)}


_SPLIT = ('split_mnist_task', 'split_mnist_domain', 'split_mnist_class')

HSU2018 = Reference(
    name='Hsu et al. 2018',
    source=('Hsu, Liu, Ramasamy & Kira, "Re-evaluating continual learning '
            'scenarios: a categorization and case for strong baselines", '
            'arXiv 1810.12488, Table 2 (read from fig/results_split_mnist.png '
            'of GT-RIPL/Continual-Learning-Benchmark)'),
    spread='population std', runs=10,
    protocol={'stream': 'split_mnist', 'hidden': [400, 400], 'epochs': 4,
              'batch_size': 128, 'train_per_task': None,
              'steps_per_task': None},
    numbers=_columns({
        'adam': ((93.46, 2.01), (55.16, 1.38), (19.71, 0.08)),
        'sgd': ((97.98, 0.09), (63.20, 0.35), (19.46, 0.04)),
        'adagrad': ((98.06, 0.53), (58.08, 1.06), (19.82, 0.09)),
        'l2': ((98.18, 0.96), (66.00, 3.73), (22.52, 1.08)),
        'ewc': ((97.70, 0.81), (58.85, 2.59), (19.80, 0.05)),
        'online_ewc': ((98.04, 1.10), (57.33, 1.44), (19.77, 0.04)),
        'si': ((98.56, 0.49), (64.76, 3.09), (19.67, 0.09)),
        'mas': ((99.22, 0.21), (68.57, 6.85), (19.52, 0.29)),
        'joint': ((99.52, 0.16), (98.59, 0.15), (97.53, 0.30)),
    }, _SPLIT))

REFERENCES = (HSU2018,)


def reference_for(result: Mapping[str, Any]) -> Reference | None:
  """The published table a result file's protocol follows, if any."""
  protocol = {**result.get('protocol', {}), 'stream': result.get('stream')}
  for reference in REFERENCES:
    if reference.applies_to(protocol):
      return reference
  return None
