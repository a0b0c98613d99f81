"""Continual-learning experiments for classp-optax: data, streams, models, methods, training and reports."""
