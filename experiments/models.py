"""Flax nnx models of the experiments, registered by name in :data:`MODELS`.

Every model maps a batch of inputs to logits, ``model(x, train=...,
dropout_key=...)``, and is built from the stream's input shape and number of
classes (and, for token inputs, its vocabulary size).
"""

from collections.abc import Callable, Sequence
import math

import chex
from flax import nnx
import jax
import jax.numpy as jnp


class MLP(nnx.Module):
  """A multilayer perceptron on flattened inputs (ReLU, no dropout)."""

  def __init__(self, hidden: Sequence[int], num_classes: int, *,
               rngs: nnx.Rngs, in_features: int = 28 * 28):
    widths = [in_features, *hidden]
    self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs)
                            for a, b in zip(widths[:-1], widths[1:])])
    self.head = nnx.Linear(widths[-1], num_classes, rngs=rngs)

  def __call__(self, x: chex.Array, *, train: bool = False,
               dropout_key: chex.PRNGKey | None = None) -> chex.Array:
    del train, dropout_key  # No dropout.
    x = x.reshape(x.shape[0], -1)
    for layer in self.hidden:
      x = jax.nn.relu(layer(x))
    return self.head(x)


class CNN(nnx.Module):
  """The PyTorch MNIST example's CNN, used by the CLASSP paper.

  conv3x3(32)-relu-conv3x3(64)-relu-maxpool2-dropout2d(0.25)-fc128-relu-
  dropout(0.5)-fc(num_classes); about 1.2 M parameters for 28x28 inputs.

  Args:
    num_classes: logits.
    rngs: initialization.
    input_shape: ``(height, width, channels)`` of one image.
  """

  def __init__(self, num_classes: int, *, rngs: nnx.Rngs,
               input_shape: Sequence[int] = (28, 28, 1)):
    height, width, channels = input_shape
    self.conv1 = nnx.Conv(channels, 32, (3, 3), padding='VALID', rngs=rngs)
    self.conv2 = nnx.Conv(32, 64, (3, 3), padding='VALID', rngs=rngs)
    # Whole feature maps, like PyTorch's Dropout2d in the author's model.
    self.dropout1 = nnx.Dropout(0.25, broadcast_dims=(1, 2))
    # Two VALID 3x3 convolutions, then a 2x2 max pool.
    pooled = ((height - 4) // 2) * ((width - 4) // 2)
    self.fc1 = nnx.Linear(pooled * 64, 128, rngs=rngs)
    self.dropout2 = nnx.Dropout(0.5)
    self.fc2 = nnx.Linear(128, num_classes, rngs=rngs)

  def __call__(self, x: chex.Array, *, train: bool = False,
               dropout_key: chex.PRNGKey | None = None) -> chex.Array:
    if train and dropout_key is None:
      raise ValueError('CNN: train=True needs a dropout_key.')
    keys = jax.random.split(dropout_key, 2) if train else (None, None)
    x = jax.nn.relu(self.conv1(x))
    x = jax.nn.relu(self.conv2(x))
    x = nnx.max_pool(x, window_shape=(2, 2), strides=(2, 2))
    x = self.dropout1(x, deterministic=not train,
                      rngs=nnx.Rngs(keys[0]) if train else None)
    x = jax.nn.relu(self.fc1(x.reshape(x.shape[0], -1)))
    x = self.dropout2(x, deterministic=not train,
                      rngs=nnx.Rngs(keys[1]) if train else None)
    return self.fc2(x)


# Token id 0 is padding in every token input (see experiments.streams.text).
PADDING_ID = 0


class EncoderBlock(nnx.Module):
  """A pre-norm transformer encoder block: self-attention, then an MLP.

  Args:
    width: the model's width.
    num_heads: attention heads (``width`` must divide by it).
    dropout: rate on each residual branch in training.
    rngs: initialization.
  """

  def __init__(self, width: int, num_heads: int, dropout: float, *,
               rngs: nnx.Rngs):
    self.attention_norm = nnx.LayerNorm(width, rngs=rngs)
    self.attention = nnx.MultiHeadAttention(
        num_heads=num_heads, in_features=width, decode=False, rngs=rngs)
    self.mlp_norm = nnx.LayerNorm(width, rngs=rngs)
    self.mlp_in = nnx.Linear(width, 2 * width, rngs=rngs)
    self.mlp_out = nnx.Linear(2 * width, width, rngs=rngs)
    self.dropout = nnx.Dropout(dropout)

  def __call__(self, h: chex.Array, mask: chex.Array, *, train: bool,
               keys: tuple[chex.PRNGKey, chex.PRNGKey] | None) -> chex.Array:
    def drop(x, key):
      return self.dropout(x, deterministic=not train,
                          rngs=nnx.Rngs(key) if train else None)

    keys = keys or (None, None)
    h = h + drop(self.attention(self.attention_norm(h), mask=mask),
                 keys[0])
    mlp = self.mlp_out(jax.nn.gelu(self.mlp_in(self.mlp_norm(h))))
    return h + drop(mlp, keys[1])


class TextTransformer(nnx.Module):
  """A small transformer encoder that classifies token sequences.

  Token and learned position embeddings, ``num_layers`` pre-norm encoder
  blocks whose attention ignores padding (:data:`PADDING_ID`), a final layer
  norm, the mean over the non-padding positions, dropout and a linear head.
  Padding tokens change nothing: neither their embeddings nor their
  positions reach the logits.

  Args:
    vocab_size: token ids are in ``[0, vocab_size)``.
    max_len: tokens per input.
    width: embedding and model width.
    num_layers: encoder blocks.
    num_heads: attention heads per block.
    num_classes: logits.
    rngs: initialization.
    dropout: rate on the residual branches and before the head.
  """

  def __init__(self, vocab_size: int, max_len: int, width: int,
               num_layers: int, num_heads: int, num_classes: int, *,
               rngs: nnx.Rngs, dropout: float = 0.1):
    if width % num_heads:
      raise ValueError(f'TextTransformer: width {width} is not a multiple of '
                       f'num_heads {num_heads}.')
    self.token = nnx.Embed(vocab_size, width, rngs=rngs)
    self.position = nnx.Embed(max_len, width, rngs=rngs)
    self.blocks = nnx.List([EncoderBlock(width, num_heads, dropout,
                                         rngs=rngs)
                            for _ in range(num_layers)])
    self.norm = nnx.LayerNorm(width, rngs=rngs)
    self.dropout = nnx.Dropout(dropout)
    self.head = nnx.Linear(width, num_classes, rngs=rngs)

  def __call__(self, x: chex.Array, *, train: bool = False,
               dropout_key: chex.PRNGKey | None = None) -> chex.Array:
    if train and dropout_key is None:
      raise ValueError('TextTransformer: train=True needs a dropout_key.')
    keys = (jax.random.split(dropout_key, 2 * len(self.blocks) + 1) if train
            else [None] * (2 * len(self.blocks) + 1))
    tokens = x != PADDING_ID  # [B, L]
    h = self.token(x) + self.position(jnp.arange(x.shape[-1]))
    mask = nnx.make_attention_mask(tokens, tokens)  # [B, 1, L, L]
    for i, block in enumerate(self.blocks):
      h = block(h, mask, train=train,
                keys=(keys[2 * i], keys[2 * i + 1]) if train else None)
    h = self.norm(h)
    weights = tokens[..., None].astype(h.dtype)
    pooled = jnp.sum(h * weights, axis=-2) / jnp.maximum(
        jnp.sum(weights, axis=-2), 1.0)
    pooled = self.dropout(pooled, deterministic=not train,
                          rngs=nnx.Rngs(keys[-1]) if train else None)
    return self.head(pooled)


# The text transformer's heads per block (its width is ``hidden[0]``, its
# number of blocks ``len(hidden)``).
TEXT_HEADS = 4


def _text_transformer(num_classes, input_shape, hidden, rngs, vocab_size):
  if vocab_size is None:
    raise ValueError('The transformer needs the stream\'s vocab_size (a '
                     'stream of token ids).')
  if len(set(hidden)) != 1:
    raise ValueError(f'The transformer takes one width per block, all '
                     f'equal; got hidden={hidden}.')
  return TextTransformer(vocab_size, input_shape[0], hidden[0], len(hidden),
                         TEXT_HEADS, num_classes, rngs=rngs)


# name -> (num_classes, input_shape, hidden, rngs, vocab_size) -> model.
MODELS: dict[str, Callable[..., nnx.Module]] = {
    'mlp': lambda num_classes, input_shape, hidden, rngs, vocab_size: MLP(
        hidden, num_classes, rngs=rngs, in_features=math.prod(input_shape)),
    'cnn': lambda num_classes, input_shape, hidden, rngs, vocab_size: CNN(
        num_classes, rngs=rngs, input_shape=input_shape),
    # hidden: one width per encoder block, e.g. (64, 64) for two of 64.
    'transformer': _text_transformer,
}


def make_model(name: str, num_classes: int, *, seed: int,
               hidden: Sequence[int] = (256, 256),
               input_shape: Sequence[int] = (28, 28, 1),
               vocab_size: int | None = None) -> nnx.Module:
  """Builds a model by name.

  Args:
    name: a key of :data:`MODELS`.
    num_classes: size of the output head.
    seed: the initialization seed.
    hidden: widths of the MLP's hidden layers, or of the transformer's
      blocks (one width per block); ignored for the CNN.
    input_shape: the shape of one input, e.g. ``stream.input_shape``.
    vocab_size: token ids' range, for models of token inputs.

  Returns:
    The ``nnx.Module``.

  Raises:
    ValueError: for an unknown name, listing the valid ones.
  """
  if name not in MODELS:
    raise ValueError(f'Unknown model {name!r}; valid: {list(MODELS)}.')
  return MODELS[name](num_classes, tuple(input_shape), tuple(hidden),
                      nnx.Rngs(seed), vocab_size)


def masked_logits(logits: chex.Array, mask: chex.Array) -> chex.Array:
  """Logits outside ``mask`` (a task's heads) set to a large negative value."""
  return jnp.where(mask, logits, jnp.finfo(logits.dtype).min / 2)
