"""Layers that let a condition steer features: a time embedding and FiLM."""

from __future__ import annotations

import keras
from keras import ops

from fusegen.models.layers.checks import check_positive


@keras.saving.register_keras_serializable(package="fusegen")
class SinusoidalEmbedding(keras.layers.Layer):
    """Diffusion time in [0, 1] -> sin/cos features at geometric frequencies: (B, 1) -> (B, dim)."""

    #: Arguments of keras.src.testing.TestCase.run_layer_test; the conformance tests run it.
    example = {"init_kwargs": {"dim": 8}, "input_shape": (2, 1), "expected_output_shape": (2, 8)}

    def __init__(self, dim, max_frequency=1000.0, **kwargs):
        super().__init__(**kwargs)
        check_positive(dim=dim)
        if dim % 2:
            raise ValueError(f"`dim` must be even. Received: dim={dim}")
        self.dim = dim
        self.max_frequency = max_frequency

    def call(self, inputs):
        half = self.dim // 2
        frequencies = ops.exp(ops.linspace(0.0, ops.log(self.max_frequency), half))
        angles = ops.cast(inputs, "float32") * frequencies
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "max_frequency": self.max_frequency}


@keras.saving.register_keras_serializable(package="fusegen")
class FeatureWiseAffine(keras.layers.Layer):
    """FiLM: ``x * (1 + scale(c)) + shift(c)`` with scale and shift projected from a vector c.

    Inputs are ``[features (B, ..., C), condition (B, D)]``.
    """

    #: Arguments of keras.src.testing.TestCase.run_layer_test; the conformance tests run it.
    example = {
        "init_kwargs": {},
        "input_shape": ((2, 4, 4, 6), (2, 5)),
        "expected_output_shape": (2, 4, 4, 6),
    }

    def build(self, input_shape):
        features_shape, condition_shape = input_shape
        channels = features_shape[-1]
        self.projection = keras.layers.Dense(2 * channels, kernel_initializer="zeros", name="projection")
        self.projection.build(condition_shape)

    def call(self, inputs):
        features, condition = inputs
        scale, shift = ops.split(self.projection(condition), 2, axis=-1)
        shape = (-1,) + (1,) * (len(features.shape) - 2) + (features.shape[-1],)
        return features * (1.0 + ops.reshape(scale, shape)) + ops.reshape(shift, shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])
