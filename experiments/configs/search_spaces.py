"""The wide search spaces of the literature protocols, and their named points.

Every method that has a learning rate searches the same range for the same
optimizer, and every regularized method the same base optimizers; the
regularizers' strengths span at least the ranges the literature searched
(van de Ven & Tolias 2019 search EWC's lambda up to 1e13, SI's c over
1e-3..1e5). :func:`experiments.methods.wide_space` combines them; the
quasi-random draw of :mod:`experiments.search` adds the named points.

Strength conventions (this project's, :mod:`experiments.regularizers`):
EWC, online EWC and L2 penalize ``strength/2 * sum F (theta - theta*)^2``,
SI and MAS ``strength * sum Omega (theta - theta*)^2``. Hsu et al.'s code
penalizes ``reg_coef * sum importance (theta - theta*)^2`` for all five, so
their EWC, online EWC and L2 coefficients are doubled here.
"""

from experiments.space import LogUniform
from experiments.space import Uniform

# The same learning-rate range for every method training with an optimizer.
LEARNING_RATES = {
    'sgd': LogUniform(1e-4, 1.0),
    'adam': LogUniform(1e-5, 1e-1),
    'adagrad': LogUniform(1e-4, 1.0),
    'classp': LogUniform(1e-4, 1.0),
}

# Thresholds on the squared gradient, from masking almost nothing to almost
# everything. Measured on split MNIST's first batch with the 2x400 MLP at
# initialization: 98.5% of the weights pass 1e-12, 79% pass 1e-6, 19% pass
# 1e-4 and 0.1% pass 1e-2 (gradients shrink as a task is learned: after 10
# Adam steps 51% pass 1e-12). 0 masks none and is always tried (named
# points).
CLASSP_THRESHOLDS = LogUniform(1e-12, 1e-2, with_zero=True)

OPTIMIZER_SPACES = {
    'classp': {'learning_rate': LEARNING_RATES['classp'],
               'power': Uniform(1.0, 2.0),
               'threshold': CLASSP_THRESHOLDS},
    'sgd': {'learning_rate': LEARNING_RATES['sgd']},
    'adam': {'learning_rate': LEARNING_RATES['adam']},
    # The accumulator starts at 0, like CLASSP's and PyTorch's Adagrad.
    'adagrad': {'learning_rate': LEARNING_RATES['adagrad'],
                'initial_accumulator_value': 0.0},
}

# A regularizer's own method ('ewc', 'si', ...) also searches its base.
BASE_OPTIMIZERS = ('sgd', 'adam')

REGULARIZER_SPACES = {
    'none': {},
    'ewc': {'strength': LogUniform(1.0, 1e12)},
    'online_ewc': {'strength': LogUniform(1.0, 1e12),
                   'decay': Uniform(0.5, 1.0)},
    'si': {'strength': LogUniform(1e-3, 1e5)},
    'mas': {'strength': LogUniform(1e-3, 1e5)},
    'l2': {'strength': LogUniform(1e-4, 1e4)},
}

# Points every quasi-random draw of a method includes (and counts), by label.
NAMED_POINTS = {
    'classp': {
        # CLASSP as AdaGrad (eps inside the root, accumulator from 0) at
        # AdaGrad's literature learning rate (Hsu et al. 2018).
        'adagrad_equivalent': {'learning_rate': 0.01, 'power': 2.0,
                               'threshold': 0.0},
        # The CLASSP author's settings (vision script; eps 1e-5 is the
        # default): lr 0.2, p = 1, and the threshold the author's code
        # effectively applied (0, see presets.PAPER_METHODS).
        'author': {'learning_rate': 0.2, 'power': 1.0, 'threshold': 0.0},
    },
}

# Each baseline's defaults in the literature a protocol follows, by the
# literature's name (a Search's `literature`), then stream key.

# Hsu et al. 2018's scripts (split MNIST): Adam 1e-3 for every regularizer,
# SGD and Adagrad 1e-2; reg_coef per scenario, converted (see above).
_HSU_SPLIT_REG_COEF = {
    # method: (task, domain, class)
    'l2': (0.01, 0.5, 100.0),
    'ewc': (100.0, 100.0, 600.0),
    'online_ewc': (400.0, 700.0, 100.0),
    'si': (300.0, 3000.0, 600.0),
    'mas': (1.0, 10000.0, 1.0),
}
_DOUBLED = ('l2', 'ewc', 'online_ewc')  # strength/2 here, no 1/2 there


def _hsu_split(scenario_index: int) -> dict[str, dict[str, float | str]]:
  defaults = {
      'sgd': {'learning_rate': 0.01},
      'adam': {'learning_rate': 1e-3},
      'adagrad': {'learning_rate': 0.01, 'initial_accumulator_value': 0.0},
  }
  for method, coefficients in _HSU_SPLIT_REG_COEF.items():
    strength = coefficients[scenario_index] * (2 if method in _DOUBLED else 1)
    defaults[method] = {'base': 'adam', 'learning_rate': 1e-3,
                        'strength': strength}
  defaults['online_ewc']['decay'] = 1.0
  return defaults


# van de Ven & Tolias 2019's defaults (param_values.py of
# GMvandeVen/continual-learning at a02db26): Adam 1e-3 (split) or 1e-4
# (permuted). Their EWC penalty is lambda/2 * sum F (theta - theta*)^2 as
# here; their online EWC multiplies the running Fisher by gamma once more in
# the penalty, so its strength here is lambda * gamma; SI's c is as here.
def _van_de_ven(learning_rate: float, ewc: float, online: tuple[float, float],
                si: float) -> dict[str, dict[str, float | str]]:
  base = {'base': 'adam', 'learning_rate': learning_rate}
  return {
      'adam': {'learning_rate': learning_rate},
      'joint': {'learning_rate': learning_rate},  # their upper bound
      'ewc': {**base, 'strength': ewc},
      'online_ewc': {**base, 'strength': online[0] * online[1],
                     'decay': online[1]},
      'si': {**base, 'strength': si},
  }


LITERATURE_DEFAULTS = {
    'hsu2018': {
        f'split_mnist_{scenario}': _hsu_split(index)
        for index, scenario in enumerate(('task', 'domain', 'class'))},
    'vandeven2019': {
        'split_mnist_task': _van_de_ven(1e-3, 1e7, (1e8, 0.8), 50.0),
        'split_mnist_domain': _van_de_ven(1e-3, 1e6, (1e8, 0.7), 500.0),
        'split_mnist_class': _van_de_ven(1e-3, 1e8, (1e9, 0.8), 0.5),
        'permuted_mnist': _van_de_ven(1e-4, 500.0, (1e3, 0.9), 5.0),
    },
    # The CLASSP paper's vision script: EWC on SGD 0.25 with lambda 5000
    # (see presets.PAPER_METHODS for how its scale may differ from ours).
    'ludwig2024': {
        'mnist_fashion': {
            'ewc': {'base': 'sgd', 'learning_rate': 0.25, 'strength': 5000.0},
        },
        # The sentiment script: EWC on SGD 0.025, lambda 5000; SGD 0.025;
        # Adam 3e-4 (presets.PAPER_TEXT_METHODS).
        'tweet_domains': {
            'ewc': {'base': 'sgd', 'learning_rate': 0.025,
                    'strength': 5000.0},
            'sgd': {'learning_rate': 0.025},
            'adam': {'learning_rate': 3e-4},
        },
    },
}
