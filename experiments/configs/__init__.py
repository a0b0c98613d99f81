"""Configuration of the experiments, apart from the code that runs them.

* :mod:`experiments.configs.hyperparams`: each optimizer's and regularizer's
  search space and default hyperparameters.
* :mod:`experiments.configs.presets`: the streams' protocols (what every
  method shares on a stream), the presets of ``python -m experiments run``
  and the notes that go with them into the result files.
"""
