"""CLASSP composed with optax wrappers, Flax training APIs, vmap, sharding."""

import os
import subprocess
import sys
import textwrap

from flax import nnx
from flax.training import train_state
import jax
import jax.numpy as jnp
import numpy as np
import optax

from classp_optax import classp
from classp_optax import scale_by_accumulator_decay
from classp_optax import threshold_mask

GRADS = [jnp.array([3.0, -0.2, 4.0]), jnp.array([0.5, 1.0, -6.0])]


def _updates(tx, grads_per_step):
  params = jnp.zeros_like(grads_per_step[0])
  state = tx.init(params)
  outputs = []
  for grads in grads_per_step:
    updates, state = jax.jit(tx.update)(grads, state, params)
    outputs.append(updates)
  return outputs


def test_clip_in_front_clips_before_the_threshold():
  got = _updates(optax.chain(optax.clip_by_global_norm(1.0),
                             classp(0.1, threshold=0.01)), GRADS)
  clipped = [g / max(1.0, float(jnp.linalg.norm(g))) for g in GRADS]
  expected = _updates(classp(0.1, threshold=0.01), clipped)
  for g, e in zip(got, expected):
    np.testing.assert_allclose(g, e, rtol=1e-6)


def test_clip_behind_bounds_the_final_update():
  for updates in _updates(optax.chain(classp(10.0), optax.clip_by_global_norm(
      0.5)), GRADS):
    assert float(jnp.linalg.norm(updates)) <= 0.5 + 1e-6


def test_inside_multi_steps_updates_with_the_mean_gradient():
  tx = optax.MultiSteps(classp(0.1), every_k_schedule=2)
  got = _updates(tx, GRADS)
  np.testing.assert_array_equal(got[0], np.zeros(3))
  expected = _updates(classp(0.1), [(GRADS[0] + GRADS[1]) / 2])
  np.testing.assert_allclose(got[1], expected[0], rtol=1e-6)


def test_partition_classp_on_kernels_sgd_on_biases():
  tx = optax.partition({'classp': classp(0.1, eps=0.0), 'sgd': optax.sgd(0.1)},
                       lambda p: {'kernel': 'classp', 'bias': 'sgd'})
  params = {'kernel': jnp.zeros(2), 'bias': jnp.zeros(2)}
  grads = {'kernel': jnp.array([2.0, -4.0]), 'bias': jnp.array([2.0, -4.0])}
  updates, _ = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(updates['kernel'], [-0.1, 0.1])
  np.testing.assert_allclose(updates['bias'], [-0.2, 0.4])


def test_each_piece_alone_chains_with_other_optax_transforms():
  # The mask in front of SGD with momentum; the scaling without a mask.
  tx = optax.chain(threshold_mask(1.0), optax.sgd(0.1, momentum=0.9))
  got = _updates(tx, GRADS)
  np.testing.assert_allclose(got[0], [-0.3, 0.0, -0.4], rtol=1e-6)
  tx = optax.chain(scale_by_accumulator_decay(power=2.0, eps=0.0),
                   optax.scale(-1.0))
  got = _updates(tx, GRADS)
  np.testing.assert_allclose(got[0], [-1.0, 1.0, -1.0], rtol=1e-6)


class _Regressor(nnx.Module):

  def __init__(self, rngs):
    self.linear = nnx.Linear(3, 1, rngs=rngs)

  def __call__(self, x):
    return self.linear(x)[:, 0]


def _regression_data():
  x = jax.random.normal(jax.random.key(0), (32, 3))
  return x, x @ jnp.array([1.0, -2.0, 0.5]) + 0.3


def test_flax_nnx_optimizer():
  model = _Regressor(nnx.Rngs(0))
  optimizer = nnx.Optimizer(model, classp(0.1, power=2.0), wrt=nnx.Param)
  x, y = _regression_data()

  @nnx.jit
  def train_step(model, optimizer):
    def loss_fn(model):
      return jnp.mean((model(x) - y) ** 2)
    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss

  losses = [float(train_step(model, optimizer)) for _ in range(200)]
  assert losses[-1] < 1e-2 * losses[0]
  kernel_acc = optimizer.opt_state[0].accumulator['linear']['kernel']
  assert kernel_acc.shape == (3, 1) and bool(jnp.all(kernel_acc[...] > 0))


def test_flax_train_state():
  x, y = _regression_data()
  params = {'w': jnp.zeros(3), 'b': jnp.zeros(())}

  def apply_fn(params, x):
    return x @ params['w'] + params['b']

  state = train_state.TrainState.create(
      apply_fn=apply_fn, params=params, tx=classp(0.5, power=2.0))

  @jax.jit
  def train_step(state):
    def loss_fn(params):
      return jnp.mean((state.apply_fn(params, x) - y) ** 2)
    grads = jax.grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads)

  for _ in range(500):
    state = train_step(state)
  np.testing.assert_allclose(state.params['w'], [1.0, -2.0, 0.5], atol=1e-2)


def test_vmap_over_a_batch_of_states():
  tx = classp(0.1, threshold=0.3, power=1.5)
  params = jnp.zeros((3, 4, 5))  # a batch of 3 independent (4, 5) params
  grads = jax.random.normal(jax.random.key(1), (3, 4, 5))
  states = jax.vmap(tx.init)(params)
  vmapped = jax.jit(jax.vmap(tx.update))
  for _ in range(3):
    expected = [tx.update(g, jax.tree.map(lambda s, i=i: s[i], states))
                for i, g in enumerate(grads)]
    updates, states_next = vmapped(grads, states)
    for i, (e_updates, e_state) in enumerate(expected):
      np.testing.assert_allclose(updates[i], e_updates, rtol=1e-6)
      np.testing.assert_allclose(states_next[0].accumulator[i],
                                 e_state[0].accumulator, rtol=1e-6)
    states = states_next
    grads = grads[::-1]


_SHARDING_SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np, optax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from classp_optax import classp
    assert jax.device_count() == 8, jax.devices()
    mesh = Mesh(np.array(jax.devices()).reshape(2, 4), ('data', 'model'))
    shardings = {'kernel': NamedSharding(mesh, P('data', 'model')),
                 'bias': NamedSharding(mesh, P('model'))}
    params = {'kernel': jnp.zeros((8, 16)), 'bias': jnp.zeros(16)}
    params = jax.device_put(params, shardings)
    grads = jax.device_put(
        {'kernel': jax.random.normal(jax.random.key(0), (8, 16)),
         'bias': jax.random.normal(jax.random.key(1), (16,))}, shardings)
    tx = classp(0.1, threshold=0.1)
    state = tx.init(params)  # eager init: zeros on each param's sharding
    for name in params:
      acc = state[0].accumulator[name]
      assert acc.sharding.is_equivalent_to(shardings[name], acc.ndim), (
          name, acc.sharding)
    step = jax.jit(lambda g, s, p: tx.update(g, s, p), donate_argnums=1)
    updates, state = step(grads, state, params)
    updates, state = step(grads, state, params)
    for name in params:
      ndim = params[name].ndim
      assert updates[name].sharding.is_equivalent_to(shardings[name], ndim)
      assert state[0].accumulator[name].sharding.is_equivalent_to(
          shardings[name], ndim)
    host = jax.device_get
    ref_state = tx.init(host(params))
    for _ in range(2):
      ref_updates, ref_state = tx.update(host(grads), ref_state, host(params))
    for name in params:
      np.testing.assert_allclose(host(updates[name]), ref_updates[name],
                                 rtol=1e-6)
    print('SHARDED_OK')
""")


def test_sharded_params_give_sharded_state_on_8_host_devices():
  env = dict(os.environ,
             XLA_FLAGS='--xla_force_host_platform_device_count=8',
             JAX_PLATFORMS='cpu')
  result = subprocess.run([sys.executable, '-c', _SHARDING_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=300,
                          check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'SHARDED_OK' in result.stdout


def test_state_round_trips_through_a_flax_checkpoint():
  from flax import serialization  # pylint: disable=g-import-not-at-top
  tx = optax.inject_hyperparams(classp, static_args=('power',))(
      0.1, threshold=0.01, apply_scaling=jnp.asarray(False))
  params = {'w': jnp.zeros((2, 3))}
  state = tx.init(params)
  _, state = tx.update({'w': jnp.ones((2, 3))}, state, params)
  restored = serialization.from_bytes(tx.init(params),
                                      serialization.to_bytes(state))
  for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored)):
    np.testing.assert_array_equal(a, b)
  assert not bool(restored.hyperparams['apply_scaling'])
