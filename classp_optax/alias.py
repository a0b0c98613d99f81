"""The CLASSP optimizer as one optax alias."""


import chex
import optax

from classp_optax import _validation
from classp_optax import transforms


def classp(
    learning_rate: optax.ScalarOrSchedule,
    threshold: chex.Numeric = 0.0,
    power: chex.Numeric = 1.0,
    eps: chex.Numeric = 1e-5,
    apply_scaling: transforms.BoolLike = True,
    accumulator_dtype: chex.ArrayDType | None = None,
) -> optax.GradientTransformation:
  r"""CLASSP: adjustment suppression and sparsity promotion.

  Per weight :math:`i` and step :math:`t`, with gradient :math:`g`:

  .. math::
    w_{i,t+1} = \begin{cases}
      w_{i,t} - \eta \, g_{i,t} / (\epsilon + A_{i,t})^{1/p}
        & \text{if } g_{i,t}^2 > \theta \\
      w_{i,t} & \text{otherwise}
    \end{cases}

  where :math:`A_{i,t}` sums :math:`|g_{i,k}|^p` over the steps
  :math:`k \le t` on which weight :math:`i` passed the threshold. It gives
  the updates of

  ``optax.chain(threshold_mask(threshold),
  scale_by_accumulator_decay(power, eps, apply_scaling),
  optax.scale_by_learning_rate(learning_rate))``

  and is built as ``optax.chain(scale_by_classp(threshold, power, eps,
  apply_scaling), optax.scale_by_learning_rate(learning_rate))``, which fuses
  the first two into one pass over memory (see :func:`scale_by_classp`).

  The state is created once for a whole stream of tasks; its accumulator only
  grows. To change ``learning_rate``, ``threshold``, ``eps`` or
  ``apply_scaling`` between steps or tasks without recompiling or resetting
  the accumulator, wrap the alias in :func:`optax.inject_hyperparams` with
  ``static_args=('power',)`` and pass ``apply_scaling`` as an array, e.g.
  ``jnp.asarray(False)`` (a Python bool stays static there).

  Step sizes: with ``power=1`` a weight's step is
  :math:`\eta\, g_t / \sum_{k \le t} |g_k|`, so with gradients of steady
  magnitude it shrinks like :math:`\eta / t` and the weight moves at most
  about :math:`\eta\,(1 + \ln T)` in :math:`T` steps; AdaGrad
  (``power=2``) shrinks like :math:`\eta / \sqrt{t}` and moves up to about
  :math:`2 \eta \sqrt{T}`. A weight that must travel far (a long first task)
  therefore needs a larger learning rate with ``power=1`` than with AdaGrad.

  Hyperparameters checked: concrete values (Python numbers, concrete arrays)
  are checked when the transformation is built and by
  :func:`classp_optax.set_hyperparams`. Traced values (computed under
  ``jax.jit``, or injected and then written into the state by hand) cannot
  be: a negative ``threshold`` then masks every element (its square root is
  NaN), a negative ``eps`` or a non-positive traced ``power`` gives NaN or
  infinite updates. :func:`classp_optax.check_hyperparams` checks them inside
  a function transformed with :func:`jax.experimental.checkify.checkify`.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from classp_optax import classp
    >>> def f(x): return jnp.sum(x ** 2)  # simple quadratic function
    >>> solver = classp(learning_rate=0.5, threshold=1e-4)
    >>> params = jnp.array([1., 2., 3.])
    >>> opt_state = solver.init(params)
    >>> for _ in range(5):
    ...   grad = jax.grad(f)(params)
    ...   updates, opt_state = solver.update(grad, opt_state, params)
    ...   params = optax.apply_updates(params, updates)
    ...   print('Objective function: {:.2E}'.format(f(params)))
    Objective function: 8.75E+00
    Objective function: 6.93E+00
    Objective function: 5.91E+00
    Objective function: 5.22E+00
    Objective function: 4.72E+00

  Args:
    learning_rate: :math:`\eta`, a float or an :class:`optax.Schedule`.
    threshold: :math:`\theta \ge 0` on the squared gradient (strict ``>``).
    power: :math:`p > 0`; 1 is the paper's main setting, 2 is AdaGrad-like.
    eps: :math:`\epsilon \ge 0`, inside the root.
    apply_scaling: when false, the update is ``-learning_rate * g`` on the
      elements that pass the threshold while the accumulator still grows
      (the author's first-task mode).
    accumulator_dtype: dtype of the accumulator; ``None`` uses the params'.

  Returns:
    The corresponding :class:`optax.GradientTransformation`.

  Raises:
    ValueError: for a concrete hyperparameter out of range or non-finite; the
      message names the parameter and the value.

  References:
    Ludwig, `CLASSP: a Biologically-Inspired Approach to Continual Learning
    through Adjustment Suppression and Sparsity Promotion
    <https://arxiv.org/abs/2405.09637>`_, 2024
  """
  if not callable(learning_rate):
    _validation.check_classp_hyperparameter('learning_rate', learning_rate)
  return optax.chain(
      transforms.scale_by_classp(
          threshold=threshold,
          power=power,
          eps=eps,
          apply_scaling=apply_scaling,
          accumulator_dtype=accumulator_dtype,
      ),
      optax.scale_by_learning_rate(learning_rate),
  )
