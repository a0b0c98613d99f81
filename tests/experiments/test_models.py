"""Tests of experiments.models."""

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import models
from experiments.streams import text


def _num_params(model):
  return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


def test_paper_cnn_on_mnist_has_the_pytorch_example_size():
  # 320 + 18,496 + 1,179,776 + 1,290 parameters, as in PyTorch's example.
  assert _num_params(models.make_model('cnn', 10, seed=0)) == 1_199_882


@pytest.mark.parametrize('name, input_shape', [
    ('cnn', (32, 32, 3)), ('cnn', (28, 20, 2)), ('mlp', (5,)),
    ('mlp', (4, 4, 3))])
def test_models_follow_the_input_shape(name, input_shape):
  model = models.make_model(name, 7, seed=0, hidden=(8,),
                            input_shape=input_shape)
  x = jnp.ones((2, *input_shape))
  assert model(x).shape == (2, 7)


def test_same_seed_same_weights():
  first = nnx.state(models.make_model('mlp', 3, seed=1, hidden=(4,)))
  again = nnx.state(models.make_model('mlp', 3, seed=1, hidden=(4,)))
  other = nnx.state(models.make_model('mlp', 3, seed=2, hidden=(4,)))
  for a, b, c in zip(jax.tree.leaves(first), jax.tree.leaves(again),
                     jax.tree.leaves(other)):
    np.testing.assert_array_equal(a, b)
    assert a.ndim == 1 or not np.array_equal(a, c)  # biases start at 0


def test_unknown_model_lists_the_valid_ones():
  with pytest.raises(ValueError, match="'mlp', 'cnn'"):
    models.make_model('resnet', 10, seed=0)


def test_masked_logits_push_other_heads_down():
  logits = jnp.array([[3.0, 1.0, 2.0]])
  masked = models.masked_logits(logits, jnp.array([False, True, True]))
  assert int(jnp.argmax(masked)) == 2 and masked[0, 0] < -1e30


def test_cnn_evaluates_without_dropout():
  model = models.make_model('cnn', 10, seed=0)
  x = jnp.ones((2, 28, 28, 1))
  np.testing.assert_array_equal(model(x), model(x))
  train_a = model(x, train=True, dropout_key=jax.random.key(0))
  train_b = model(x, train=True, dropout_key=jax.random.key(1))
  assert not np.allclose(train_a, train_b)
  with pytest.raises(ValueError, match='dropout_key'):
    model(x, train=True)


def _transformer(**kwargs):
  return models.make_model('transformer', 3, seed=0, hidden=(16, 16),
                           input_shape=(6,), vocab_size=50, **kwargs)


def test_the_transformer_maps_token_ids_to_logits():
  model = _transformer()
  x = jnp.array([[5, 7, 9, 0, 0, 0], [1, 2, 3, 4, 5, 6]], jnp.int32)
  assert model(x).shape == (2, 3)
  trained = model(x, train=True, dropout_key=jax.random.key(0))
  assert trained.shape == (2, 3)
  assert not np.allclose(trained, model(x))  # dropout in training only
  np.testing.assert_array_equal(model(x), model(x))
  # 2 blocks of width 16: embeddings (50 + 6) x 16, each block 4 x 16^2 + 4
  # x 16 (attention) + 2 x (16 x 32) + 32 + 16 (MLP) + 4 x 16 (norms), a
  # final norm (32) and a head of 16 x 3 + 3.
  block = 4 * 16 * 16 + 4 * 16 + 2 * 16 * 32 + 32 + 16 + 4 * 16
  assert _num_params(model) == 56 * 16 + 2 * block + 32 + 51
  with pytest.raises(ValueError, match='train=True needs a dropout_key'):
    model(x, train=True)


def test_padding_reaches_nothing():
  model = _transformer()
  x = jnp.array([[5, 7, 9, 0, 0, 0]], jnp.int32)
  before = model(x)
  # The padding token's embedding and the padded positions' embeddings
  # changed: the logits stay the same.
  model.token.embedding[...] = model.token.embedding[...].at[0].set(9.0)
  model.position.embedding[...] = (
      model.position.embedding[...].at[3:].set(-9.0))
  np.testing.assert_allclose(model(x), before, rtol=1e-6, atol=1e-6)
  # A real token there changes them.
  assert not np.allclose(model(x.at[0, 3].set(4)), before)
  # An input of padding only gives finite logits (the head's bias).
  empty = model(jnp.zeros((1, 6), jnp.int32))
  assert np.all(np.isfinite(empty))


@pytest.mark.parametrize('kwargs, match', [
    ({'vocab_size': None}, 'needs the stream'),
])
def test_the_transformer_needs_a_vocabulary(kwargs, match):
  with pytest.raises(ValueError, match=match):
    models.make_model('transformer', 3, seed=0, hidden=(16,),
                      input_shape=(6,), **kwargs)


def test_the_transformer_takes_equal_widths_that_fit_its_heads():
  with pytest.raises(ValueError, match='all equal'):
    models.make_model('transformer', 3, seed=0, hidden=(16, 32),
                      input_shape=(6,), vocab_size=50)
  with pytest.raises(ValueError, match='not a multiple of num_heads'):
    models.make_model('transformer', 3, seed=0, hidden=(10,),
                      input_shape=(6,), vocab_size=50)


def test_the_transformer_masks_the_tokenizers_padding_id():
  assert models.PADDING_ID == text.PAD_ID
