"""Result files in the shape the sweep writes, for the report's tests."""

import numpy as np

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
MIB = 2**20


def method_block(acc, bwt, forgetting, per_seed, state_bytes, hyperparams,
                 wall=(10.0, 0.5)):
  """One method's results; ``acc``, ``bwt``, ... are ``(mean, std)``."""
  def summary(v):
    return None if v is None else {'mean': v[0], 'std': v[1]}

  return {
      'acc_matrix': {'mean': np.mean(per_seed, axis=0).tolist(),
                     'per_seed': per_seed},
      'avg_acc': summary(acc),
      'bwt': summary(bwt),
      'forgetting': summary(forgetting),
      'state_bytes': state_bytes,
      'param_bytes': MIB,
      'wall_s': summary(wall),
      'hyperparams': hyperparams,
      'grid': [hyperparams],
      'val_avg_acc': [acc[0]],
  }


def permuted_mnist():
  """Three tasks, one seed; classp, sgd and joint."""
  classp_r = [[0.9, 0.1, 0.1], [0.85, 0.9, 0.1], [0.8, 0.8, 0.8]]
  sgd_r = [[0.9, 0.1, 0.1], [0.5, 0.9, 0.1], [0.4, 0.5, 0.9]]
  return {
      'stream': 'permuted_mnist', 'scenario': None, 'seeds': [1],
      'tuning_seed': 0, 'protocol': {'model': 'mlp'}, 'notes': [],
      'methods': {
          'classp': method_block(
              acc=(0.8, 0.0), bwt=(-0.075, 0.0), forgetting=(0.075, 0.0),
              per_seed=[classp_r], state_bytes=MIB, hyperparams={}),
          'sgd': method_block(
              acc=(0.6, 0.0), bwt=(-0.0004, 0.0), forgetting=(0.45, 0.0),
              per_seed=[sgd_r], state_bytes=0,
              hyperparams={'learning_rate': 0.1}),
          'joint': method_block(
              acc=(0.9, 0.0), bwt=None, forgetting=None,
              per_seed=[[[0.9, 0.9, 0.9]]], state_bytes=0, hyperparams={}),
      },
  }


def three_seed_result(ewc_accs, other_accs):
  """One task, three seeds: classp at 0.80, 0.82, 0.78; ewc and mas."""
  def method(accs):
    return method_block(
        acc=(float(np.mean(accs)), float(np.std(accs))), bwt=None,
        forgetting=None, per_seed=[[[a]] for a in accs], state_bytes=MIB,
        hyperparams={})
  return {'stream': 'toy', 'scenario': None, 'seeds': [1, 2, 3],
          'methods': {'classp': method([0.80, 0.82, 0.78]),
                      'ewc': method(ewc_accs), 'mas': method(other_accs),
                      'joint': method([0.99, 0.99, 0.99])}}
