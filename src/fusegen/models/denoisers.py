"""Denoisers for the diffusion objective, one per output rank.

Each maps ``(noisy target x_t, time t in [0, 1], fused conditions)`` to the
predicted noise, at exactly the target's shape. The time and the conditions
modulate every block through FiLM (`FeatureWiseAffine`).
"""

from __future__ import annotations

import math

import keras

from fusegen.models.heads.base import halvings
from fusegen.models.layers import FeatureWiseAffine, SinusoidalEmbedding
from fusegen.models.target_networks import _as_vector, padded


def build_denoiser(target_shape: tuple[int, ...], fused_shape: tuple[int, ...], width: int, depth: int):
    """The denoiser for a target of ``target_shape`` (rank 1, 2 or 3, without the batch axis)."""
    noisy = keras.Input(shape=target_shape, name="noisy")
    time = keras.Input(shape=(1,), name="time")
    fused = keras.Input(shape=fused_shape, name="fused")
    embedding = keras.layers.Concatenate()([SinusoidalEmbedding(64)(time), _as_vector(fused)])
    embedding = keras.layers.Dense(width, activation="silu", name="embedding_0")(embedding)
    embedding = keras.layers.Dense(width, activation="silu", name="embedding_1")(embedding)
    builders = {1: _vector_body, 2: _sequence_body, 3: _image_body}
    output = builders[len(target_shape)](noisy, embedding, target_shape, width, depth)
    return keras.Model({"noisy": noisy, "time": time, "fused": fused}, output, name="denoiser")


def _vector_body(noisy, embedding, target_shape, width, depth):
    x = keras.layers.Dense(width, name="input_projection")(noisy)
    for index in range(depth):
        h = keras.layers.LayerNormalization(name=f"norm_{index}")(x)
        h = FeatureWiseAffine(name=f"film_{index}")([h, embedding])
        h = keras.layers.Dense(width * 2, activation="silu", name=f"dense_{index}_a")(h)
        h = keras.layers.Dense(width, name=f"dense_{index}_b")(h)
        x = keras.layers.Add()([x, h])
    return keras.layers.Dense(target_shape[0], name="noise")(x)


def _sequence_body(noisy, embedding, target_shape, width, depth):
    x = keras.layers.Conv1D(width, 3, padding="same", name="input_projection")(noisy)
    for index in range(depth):
        # Dilations 1, 2, 4, ... widen the receptive field to the whole window.
        h = keras.layers.GroupNormalization(groups=math.gcd(8, width), name=f"norm_{index}")(x)
        h = FeatureWiseAffine(name=f"film_{index}")([h, embedding])
        h = keras.layers.Activation("silu")(h)
        h = keras.layers.Conv1D(width, 3, padding="same", dilation_rate=2**index, name=f"conv_{index}_a")(h)
        h = keras.layers.Activation("silu")(h)
        h = keras.layers.Conv1D(width, 3, padding="same", name=f"conv_{index}_b")(h)
        x = keras.layers.Add()([x, h])
    return keras.layers.Conv1D(target_shape[-1], 1, name="noise")(x)


def _image_body(noisy, embedding, target_shape, width, depth):
    height, image_width, channels = target_shape
    levels = min(depth, halvings(min(height, image_width), 3))
    pad_height, pad_width = padded(height, levels) - height, padded(image_width, levels) - image_width
    x = noisy
    if pad_height or pad_width:
        # Pad to a multiple of 2^levels so the U-Net's skips line up; cropped back below.
        x = keras.layers.ZeroPadding2D(((0, pad_height), (0, pad_width)), name="pad")(x)
    x = keras.layers.Conv2D(width // 2, 3, padding="same", name="input_projection")(x)
    skips = []
    # Channels double at each halving up to twice the width, as in DDPM's
    # U-Net: a level costs about as much as the one above it, and the coarse
    # levels, where the condition decides the shape, get the capacity.
    filters = [min(2 * width, (width // 2) * 2**level) for level in range(levels + 1)]
    for level in range(levels):
        x = _image_block(x, embedding, filters[level], f"down_{level}")
        skips.append(x)
        x = keras.layers.AveragePooling2D(2)(x)
    x = _image_block(x, embedding, filters[levels], "middle")
    # Self-attention over the coarsest grid relates distant parts (head, legs, tail).
    x = _attention_block(x, "middle_attention")
    for level in reversed(range(levels)):
        x = keras.layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = keras.layers.Concatenate()([x, skips[level]])
        x = _image_block(x, embedding, filters[level], f"up_{level}")
    x = keras.layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros", name="noise")(x)
    if pad_height or pad_width:
        x = keras.layers.Cropping2D(((0, pad_height), (0, pad_width)), name="crop")(x)
    return x


def _attention_block(x, name):
    """Pre-norm multi-head self-attention over the positions of a map, added back residually."""
    _, height, width, channels = x.shape
    h = keras.layers.GroupNormalization(groups=math.gcd(8, channels), name=f"{name}_norm")(x)
    h = keras.layers.Reshape((height * width, channels), name=f"{name}_flatten")(h)
    h = keras.layers.MultiHeadAttention(
        num_heads=max(1, channels // 32), key_dim=min(channels, 32), name=f"{name}_attention"
    )(h, h)
    h = keras.layers.Reshape((height, width, channels), name=f"{name}_unflatten")(h)
    return keras.layers.Add(name=f"{name}_add")([x, h])


def _image_block(x, embedding, filters, name):
    skip = keras.layers.Conv2D(filters, 1, name=f"{name}_skip")(x) if x.shape[-1] != filters else x
    h = keras.layers.GroupNormalization(groups=math.gcd(8, x.shape[-1]), name=f"{name}_norm")(x)
    h = FeatureWiseAffine(name=f"{name}_film")([h, embedding])
    h = keras.layers.Activation("silu")(h)
    h = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv_a")(h)
    h = keras.layers.Activation("silu")(h)
    h = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv_b")(h)
    return keras.layers.Add()([skip, h])
