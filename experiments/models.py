"""Flax nnx models of the experiments, registered by name in :data:`MODELS`.

Every model maps a batch of inputs to logits, ``model(x, train=...,
dropout_key=...)``, and is built from the stream's input shape and number of
classes.
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


# name -> (num_classes, input_shape, hidden, rngs) -> model.
MODELS: dict[str, Callable[..., nnx.Module]] = {
    'mlp': lambda num_classes, input_shape, hidden, rngs: MLP(
        hidden, num_classes, rngs=rngs, in_features=math.prod(input_shape)),
    'cnn': lambda num_classes, input_shape, hidden, rngs: CNN(
        num_classes, rngs=rngs, input_shape=input_shape),
}


def make_model(name: str, num_classes: int, *, seed: int,
               hidden: Sequence[int] = (256, 256),
               input_shape: Sequence[int] = (28, 28, 1)) -> nnx.Module:
  """Builds a model by name.

  Args:
    name: a key of :data:`MODELS`.
    num_classes: size of the output head.
    seed: the initialization seed.
    hidden: widths of the MLP's hidden layers (ignored for the CNN).
    input_shape: the shape of one input, e.g. ``stream.input_shape``.

  Returns:
    The ``nnx.Module``.

  Raises:
    ValueError: for an unknown name, listing the valid ones.
  """
  if name not in MODELS:
    raise ValueError(f'Unknown model {name!r}; valid: {list(MODELS)}.')
  return MODELS[name](num_classes, tuple(input_shape), tuple(hidden),
                      nnx.Rngs(seed))


def masked_logits(logits: chex.Array, mask: chex.Array) -> chex.Array:
  """Logits outside ``mask`` (a task's heads) set to a large negative value."""
  return jnp.where(mask, logits, jnp.finfo(logits.dtype).min / 2)
