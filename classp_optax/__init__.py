"""classp-optax: CLASSP continual-learning optimizer as optax transformations.

References:
  Ludwig, `CLASSP: a Biologically-Inspired Approach to Continual Learning
  through Adjustment Suppression and Sparsity Promotion
  <https://arxiv.org/abs/2405.09637>`_, 2024
"""

from classp_optax.alias import classp
from classp_optax.diagnostics import accumulator_leaves
from classp_optax.diagnostics import capacity_used
from classp_optax.diagnostics import effective_step_size
from classp_optax.diagnostics import mask_pass_fraction
from classp_optax.diagnostics import mean_accumulator
from classp_optax.diagnostics import StepSizeSummary
from classp_optax.hyperparams import check_hyperparams
from classp_optax.hyperparams import set_hyperparams
from classp_optax.transforms import scale_by_accumulator_decay
from classp_optax.transforms import scale_by_classp
from classp_optax.transforms import ScaleByAccumulatorDecayState
from classp_optax.transforms import threshold_mask

__version__ = '0.1.0'

__all__ = (
    'accumulator_leaves',
    'capacity_used',
    'check_hyperparams',
    'classp',
    'effective_step_size',
    'mask_pass_fraction',
    'mean_accumulator',
    'scale_by_accumulator_decay',
    'scale_by_classp',
    'ScaleByAccumulatorDecayState',
    'set_hyperparams',
    'StepSizeSummary',
    'threshold_mask',
)
