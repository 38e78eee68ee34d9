"""Layers that align and fuse the branches of a model: tiling, gates, attention, absent branches."""

from __future__ import annotations

import keras
from keras import ops

from fusegen.models.layers.checks import check_positive


@keras.saving.register_keras_serializable(package="fusegen")
class TileToGrid(keras.layers.Layer):
    """Repeat a vector over a height x width grid: (B, D) -> (B, H, W, D)."""

    #: Arguments of keras.src.testing.TestCase.run_layer_test; the conformance tests run it.
    example = {
        "init_kwargs": {"height": 3, "width": 5},
        "input_shape": (2, 7),
        "expected_output_shape": (2, 3, 5, 7),
    }

    def __init__(self, height, width, **kwargs):
        super().__init__(**kwargs)
        check_positive(height=height, width=width)
        self.height = height
        self.width = width

    def call(self, inputs):
        grid = ops.expand_dims(ops.expand_dims(inputs, 1), 1)
        return ops.tile(grid, [1, self.height, self.width, 1])

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"TileToGrid expects vectors of shape (batch, features). Received: input_shape={input_shape}"
            )
        return (input_shape[0], self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


@keras.saving.register_keras_serializable(package="fusegen")
class GatedFusion(keras.layers.Layer):
    """Learned per-branch gates: ``sum_i softmax(W [x_1..x_n])_i * x_i``.

    Every branch must already have the same shape ``(B, ..., width)``; the
    gates are computed per position from all branches together, so a branch
    that carries no signal for an example can be switched off.
    """

    #: Arguments of keras.src.testing.TestCase.run_layer_test; the conformance tests run it.
    example = {
        "init_kwargs": {"num_branches": 2},
        "input_shape": ((2, 6), (2, 6)),
        "expected_output_shape": (2, 6),
    }

    def __init__(self, num_branches, **kwargs):
        super().__init__(**kwargs)
        check_positive(num_branches=num_branches)
        self.num_branches = num_branches

    def build(self, input_shape):
        if len(input_shape) != self.num_branches:
            raise ValueError(
                f"GatedFusion expects {self.num_branches} branches. Received: {len(input_shape)} inputs"
            )
        shapes = {tuple(shape[1:]) for shape in input_shape}
        if len(shapes) != 1:
            raise ValueError(f"GatedFusion needs branches of one shape. Received: input_shape={input_shape}")
        width = input_shape[0][-1]
        self.gate = keras.layers.Dense(self.num_branches, name="gate")
        self.gate.build(tuple(input_shape[0][:-1]) + (width * self.num_branches,))

    def call(self, inputs):
        stacked = ops.stack(inputs, axis=-2)  # (B, ..., n, width)
        gates = ops.softmax(self.gate(ops.concatenate(inputs, axis=-1)), axis=-1)
        return ops.sum(stacked * ops.expand_dims(gates, -1), axis=-2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "num_branches": self.num_branches}


@keras.saving.register_keras_serializable(package="fusegen")
class BranchAttentionFusion(keras.layers.Layer):
    """A learned query attends over the tokens of every branch.

    Inputs are a list of token sets ``(B, ..., n_i, width)``, one per branch
    (a feature map's pixels, a sequence's steps, or one token for a vector).
    A learned embedding per branch is added so attention knows which
    modality a token came from; a learned query token attends over all tokens
    with multi-head scaled dot-product attention; the result, after a
    residual feed-forward block, is ``(B, ..., width)``.
    """

    #: Arguments of keras.src.testing.TestCase.run_layer_test; the conformance tests run it.
    example = {
        "init_kwargs": {"num_heads": 2},
        "input_shape": ((2, 5, 8), (2, 1, 8)),
        "expected_output_shape": (2, 8),
    }

    def __init__(self, num_heads, dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        check_positive(num_heads=num_heads)
        if not 0.0 <= dropout_rate < 1.0:
            raise ValueError(f"`dropout_rate` must be in [0, 1). Received: dropout_rate={dropout_rate}")
        self.num_heads = num_heads
        self.dropout_rate = dropout_rate

    def build(self, input_shape):
        widths = {shape[-1] for shape in input_shape}
        if len(widths) != 1:
            raise ValueError(
                f"BranchAttentionFusion needs branches of one width. Received: input_shape={input_shape}"
            )
        width = widths.pop()
        if width % self.num_heads:
            raise ValueError(
                f"width {width} is not divisible by num_heads={self.num_heads}. Received: input_shape={input_shape}"
            )
        self.width = width
        self.branch_embeddings = [
            self.add_weight(shape=(width,), initializer="zeros", name=f"branch_{index}")
            for index in range(len(input_shape))
        ]
        self.query = self.add_weight(shape=(width,), initializer="random_normal", name="query")
        self.query_projection = keras.layers.Dense(width, name="query_projection")
        self.key_projection = keras.layers.Dense(width, name="key_projection")
        self.value_projection = keras.layers.Dense(width, name="value_projection")
        self.output_projection = keras.layers.Dense(width, name="output_projection")
        self.feed_forward = keras.layers.Dense(width * 2, activation="gelu", name="feed_forward")
        self.feed_forward_out = keras.layers.Dense(width, name="feed_forward_out")
        self.norm = keras.layers.LayerNormalization(name="norm")
        self.dropout = keras.layers.Dropout(self.dropout_rate)
        for layer in (self.query_projection, self.key_projection, self.value_projection,
                      self.output_projection):  # fmt: skip
            layer.build((None, width))
        self.feed_forward.build((None, width))
        self.feed_forward_out.build((None, width * 2))
        self.norm.build((None, width))

    def call(self, inputs, training=None):
        tokens = ops.concatenate(
            [branch + embedding for branch, embedding in zip(inputs, self.branch_embeddings, strict=True)],
            axis=-2,
        )  # (B, ..., n, width)
        head_size = self.width // self.num_heads
        leading = ops.shape(tokens)[:-2]
        num_tokens = tokens.shape[-2]
        # Attention runs over (batch * grid positions, tokens): some kernels
        # (oneDNN softmax) accept at most 5 dimensions.
        tokens = ops.reshape(tokens, (-1, num_tokens, self.width))
        query_token = ops.broadcast_to(self.query, (ops.shape(tokens)[0], 1, self.width))
        # The query token is also a key, like a [CLS] token, so it can keep
        # its own state rather than being forced onto one branch.
        tokens = ops.concatenate([query_token, tokens], axis=1)
        query = self.query_projection(query_token)
        keys = self.key_projection(tokens)
        values = self.value_projection(tokens)

        def split_heads(x):
            return ops.reshape(x, (-1, ops.shape(x)[1], self.num_heads, head_size))

        query, keys, values = split_heads(query), split_heads(keys), split_heads(values)
        scores = ops.einsum("bqhd,bkhd->bhqk", query, keys) / (head_size**0.5)
        weights = self.dropout(ops.softmax(scores, axis=-1), training=training)
        attended = ops.einsum("bhqk,bkhd->bqhd", weights, values)
        attended = ops.reshape(attended, (*leading, self.width))
        fused = self.output_projection(attended)
        return self.norm(fused + self.feed_forward_out(self.feed_forward(fused)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-2]) + (input_shape[0][-1],)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "dropout_rate": self.dropout_rate,
        }


@keras.saving.register_keras_serializable(package="fusegen")
class NullableBranch(keras.layers.Layer):
    """Replace a branch by a learned "absent" embedding where its presence flag is 0.

    Inputs are ``[features, present]``: features ``(B, ..., width)`` and the
    presence flags of every branch ``(B, num_branches)``; this layer reads
    column ``index``. Training with random flags (modality dropout) teaches the
    model to generate from any subset of its inputs.
    """

    #: Arguments of keras.src.testing.TestCase.run_layer_test; the conformance tests run it.
    example = {"init_kwargs": {"index": 1}, "input_shape": ((2, 6), (2, 2)), "expected_output_shape": (2, 6)}

    def __init__(self, index, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(index, int) or index < 0:
            raise ValueError(f"`index` must be a non-negative integer. Received: index={index!r}")
        self.index = index

    def build(self, input_shape):
        features_shape, _ = input_shape
        self.absent = self.add_weight(shape=(features_shape[-1],), initializer="zeros", name="absent")

    def call(self, inputs):
        features, present = inputs
        flag = ops.cast(present[:, self.index], features.dtype)
        flag = ops.reshape(flag, (-1,) + (1,) * (len(features.shape) - 1))
        return flag * features + (1.0 - flag) * self.absent

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "index": self.index}
