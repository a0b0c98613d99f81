"""Search spaces and default hyperparameters of the optimizers and regularizers.

A space maps each knob to the values searched. Its configurations are the
product of the knobs' values in the order written here, the last knob varying
fastest; a knob with one value is fixed.
:func:`experiments.methods.search_space` combines an optimizer's space with a
regularizer's.
"""

# Optimizers trained alone (or under a regularizer, as in 'classp+ewc').
OPTIMIZER_SPACES = {
    'classp': {'learning_rate': (0.003, 0.01, 0.03, 0.1),
               'power': (1.0, 2.0),
               'threshold': (0.0, 1e-6, 1e-5, 1e-4)},
    'sgd': {'learning_rate': (0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)},
    'adam': {'learning_rate': (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2,
                               2e-2)},
    # The accumulator starts at 0, like CLASSP's (optax's default is 0.1), so
    # that CLASSP with power 2 differs from AdaGrad only by the threshold and
    # where eps sits.
    'adagrad': {'learning_rate': (0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
                                  1.0),
                'initial_accumulator_value': (0.0,)},
}

# The base optimizers a regularizer's method tunes over (its 'base' knob).
BASE_OPTIMIZER_SPACES = {
    'sgd': {'learning_rate': (0.01, 0.03, 0.1)},
    'adam': {'learning_rate': (3e-4, 1e-3)},
}

REGULARIZER_SPACES = {
    'none': {},
    'ewc': {'strength': (1.0, 10.0, 100.0, 1e3, 1e4)},
    'online_ewc': {'decay': (0.7, 1.0),
                   'strength': (1.0, 10.0, 100.0, 1e3, 1e4)},
    'si': {'strength': (0.01, 0.1, 1.0, 10.0)},
    'mas': {'strength': (0.01, 0.1, 1.0, 10.0)},
    'l2': {'strength': (0.01, 0.1, 1.0, 10.0)},
}

# Used when no sweep result exists for the stream (else `run` takes the
# sweep's choices): the sweep's choices on permuted MNIST
# (experiments/results/permuted_mnist.json). A method 'optimizer+regularizer'
# without an entry takes the optimizer's and the regularizer's knobs.
DEFAULT_HYPERPARAMS = {
    'classp': {'learning_rate': 0.03, 'threshold': 1e-4, 'power': 1.0},
    'sgd': {'learning_rate': 0.05},
    'adam': {'learning_rate': 1e-4},
    'adagrad': {'learning_rate': 0.01, 'initial_accumulator_value': 0.0},
    'ewc': {'base': 'sgd', 'learning_rate': 0.03, 'strength': 10.0},
    'online_ewc': {'base': 'adam', 'learning_rate': 3e-4, 'strength': 100.0,
                   'decay': 1.0},
    'si': {'base': 'sgd', 'learning_rate': 0.1, 'strength': 0.1},
    'mas': {'base': 'adam', 'learning_rate': 1e-3, 'strength': 0.01},
    'l2': {'base': 'sgd', 'learning_rate': 0.1, 'strength': 0.1},
    'joint': {'learning_rate': 1e-3},
}
