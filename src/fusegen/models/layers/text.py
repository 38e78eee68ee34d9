"""Layers for token sequences: a small transformer text encoder."""

from __future__ import annotations

import keras
from keras import ops

from fusegen.models.layers.checks import check_positive


@keras.saving.register_keras_serializable(package="fusegen")
class TextTransformer(keras.layers.Layer):
    """Token ids -> token and position embeddings -> transformer blocks -> masked mean: (B, T) -> (B, D).

    Id 0 is padding: padded positions are neither attended to nor averaged.
    Each block is pre-norm multi-head self-attention and a feed-forward
    layer, both residual.
    """

    #: Arguments of keras.src.testing.TestCase.run_layer_test; the conformance tests run it.
    example = {
        "init_kwargs": {"vocabulary_size": 10, "sequence_length": 5, "embedding_dim": 8, "num_heads": 2},
        "input_shape": (2, 5),
        "input_dtype": "int32",
        "expected_output_shape": (2, 8),
    }

    def __init__(self, vocabulary_size, sequence_length, embedding_dim, num_layers=1, num_heads=4, **kwargs):
        super().__init__(**kwargs)
        check_positive(
            vocabulary_size=vocabulary_size,
            sequence_length=sequence_length,
            embedding_dim=embedding_dim,
            num_layers=num_layers,
            num_heads=num_heads,
        )
        if embedding_dim % num_heads:
            raise ValueError(
                f"`embedding_dim` must be divisible by `num_heads`. Received: embedding_dim={embedding_dim}, "
                f"num_heads={num_heads}"
            )
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.num_heads = num_heads

    def build(self, input_shape):
        dim = self.embedding_dim
        self.token_embedding = keras.layers.Embedding(self.vocabulary_size, dim, name="token_embedding")
        self.token_embedding.build(input_shape)
        self.position_embedding = self.add_weight(
            shape=(self.sequence_length, dim), initializer="random_normal", name="position_embedding"
        )
        self.blocks = []
        for index in range(self.num_layers):
            block = {
                "norm_1": keras.layers.LayerNormalization(name=f"block_{index}_norm_1"),
                "attention": keras.layers.MultiHeadAttention(
                    self.num_heads, dim // self.num_heads, name=f"block_{index}_attention"
                ),
                "norm_2": keras.layers.LayerNormalization(name=f"block_{index}_norm_2"),
                "feed_forward": keras.layers.Dense(dim * 2, activation="gelu", name=f"block_{index}_ff_1"),
                "feed_forward_out": keras.layers.Dense(dim, name=f"block_{index}_ff_2"),
            }
            tokens = (None, self.sequence_length, dim)
            block["norm_1"].build(tokens)
            block["attention"].build(tokens, tokens)
            block["norm_2"].build(tokens)
            block["feed_forward"].build(tokens)
            block["feed_forward_out"].build((None, self.sequence_length, dim * 2))
            self.blocks.append(block)
        self.final_norm = keras.layers.LayerNormalization(name="final_norm")
        self.final_norm.build((None, self.sequence_length, dim))

    def call(self, inputs, training=None):
        ids = ops.cast(inputs, "int32")
        present = ops.not_equal(ids, 0)
        x = self.token_embedding(ids) + self.position_embedding
        attention_mask = ops.logical_and(ops.expand_dims(present, 1), ops.expand_dims(present, 2))
        for block in self.blocks:
            h = block["norm_1"](x)
            x = x + block["attention"](h, h, attention_mask=attention_mask, training=training)
            x = x + block["feed_forward_out"](block["feed_forward"](block["norm_2"](x)))
        x = self.final_norm(x)
        weights = ops.expand_dims(ops.cast(present, x.dtype), -1)
        return ops.sum(x * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2 or input_shape[1] != self.sequence_length:
            raise ValueError(
                f"TextTransformer expects token ids (batch, {self.sequence_length}). Received: "
                f"input_shape={input_shape}"
            )
        return (input_shape[0], self.embedding_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "embedding_dim": self.embedding_dim,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
        }
