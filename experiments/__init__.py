"""Continual-learning experiments for classp-optax.

Data, streams, models, methods, one training loop, sweeps and reports; see
``experiments/README.md`` for the layers and where to add a stream, a
regularizer or an optimizer variant.
"""
