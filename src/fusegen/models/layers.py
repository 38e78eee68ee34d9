"""fusegen's own Keras layers: alignment, fusion and residual blocks.

Each layer validates its arguments in ``__init__``, creates weights in
``build``, uses only ``keras.ops`` in ``call``, states
``compute_output_shape`` (the shape planner relies on it) and round-trips
through ``get_config``. All are registered under the ``fusegen`` package so a
saved model loads in Keras safe mode. Each declares a small ``example`` of
itself (the arguments of Keras's ``run_layer_test``), which
tests/test_conformance.py runs for every layer.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def _check_positive(name, value):
    if not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


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
        _check_positive("height", height)
        _check_positive("width", width)
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
        _check_positive("num_branches", num_branches)
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
        _check_positive("num_heads", num_heads)
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
class ResidualBlock2D(keras.layers.Layer):
    """Two 3x3 convolutions with a skip connection (projected when widths differ)."""

    #: Arguments of keras.src.testing.TestCase.run_layer_test; the conformance tests run it.
    example = {
        "init_kwargs": {"filters": 6},
        "input_shape": (2, 8, 8, 3),
        "expected_output_shape": (2, 8, 8, 6),
    }

    def __init__(self, filters, activation="relu", **kwargs):
        super().__init__(**kwargs)
        _check_positive("filters", filters)
        self.filters = filters
        self.activation = activation

    def build(self, input_shape):
        self.conv_1 = keras.layers.Conv2D(
            self.filters, 3, padding="same", activation=self.activation, name="conv_1"
        )
        self.conv_2 = keras.layers.Conv2D(self.filters, 3, padding="same", name="conv_2")
        self.conv_1.build(input_shape)
        self.conv_2.build(tuple(input_shape[:-1]) + (self.filters,))
        self.skip = None
        if input_shape[-1] != self.filters:
            self.skip = keras.layers.Conv2D(self.filters, 1, name="skip")
            self.skip.build(input_shape)
        self.activation_layer = keras.layers.Activation(self.activation)

    def call(self, inputs):
        skip = inputs if self.skip is None else self.skip(inputs)
        return self.activation_layer(self.conv_2(self.conv_1(inputs)) + skip)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "activation": self.activation}


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


@keras.saving.register_keras_serializable(package="fusegen")
class SinusoidalEmbedding(keras.layers.Layer):
    """Diffusion time in [0, 1] -> sin/cos features at geometric frequencies: (B, 1) -> (B, dim)."""

    #: Arguments of keras.src.testing.TestCase.run_layer_test; the conformance tests run it.
    example = {"init_kwargs": {"dim": 8}, "input_shape": (2, 1), "expected_output_shape": (2, 8)}

    def __init__(self, dim, max_frequency=1000.0, **kwargs):
        super().__init__(**kwargs)
        _check_positive("dim", dim)
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
        for name, value in (("vocabulary_size", vocabulary_size), ("sequence_length", sequence_length),
                            ("embedding_dim", embedding_dim), ("num_layers", num_layers),
                            ("num_heads", num_heads)):  # fmt: skip
            _check_positive(name, value)
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


def fourier_positions(height: int, width: int) -> np.ndarray:
    """Fixed 2-D Fourier features of the positions of a grid, (height * width, features).

    Frequencies double from half a period across the grid, so nearby
    positions get similar features and every position a unique one.
    """
    rows, columns = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    features = []
    for level in range(int(np.log2(max(height, width))) + 1):
        for values, size in ((rows, height), (columns, width)):
            angle = np.pi / size * 2**level * (values + 0.5)
            features += [np.cos(angle), np.sin(angle)]
    return np.stack(features, -1).reshape(height * width, -1).astype("float32")


@keras.saving.register_keras_serializable(package="fusegen")
class PositionalRouting(keras.layers.Layer):
    """Cross-attention from the output's positions to the input's, steered by a condition: (B, D) -> (B, P, P).

    Over a ``height`` x ``width`` grid of P positions, the query of output
    position p is ``sum_k a_k(c) F(p) Wq_k`` and the key of input position q
    is ``F(q) Wk``, with F fixed Fourier features of the position and ``a(c)``
    a projection of the condition. The attention holds no content, only
    where each output position reads from, so one condition ("mirror it")
    can learn one rearrangement and apply it to any image.
    """

    #: Arguments of keras.src.testing.TestCase.run_layer_test; the conformance tests run it.
    example = {
        "init_kwargs": {"height": 2, "width": 3, "num_bases": 2, "key_dim": 4},
        "input_shape": (2, 5),
        "expected_output_shape": (2, 6, 6),
    }

    def __init__(self, height, width, num_bases=6, key_dim=32, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("height", height), ("width", width), ("num_bases", num_bases),
                            ("key_dim", key_dim)):  # fmt: skip
            _check_positive(name, value)
        self.height, self.width = height, width
        self.num_bases, self.key_dim = num_bases, key_dim

    def build(self, condition_shape):
        features = fourier_positions(self.height, self.width).shape[1]
        self.query_bases = self.add_weight(
            shape=(self.num_bases, features, self.key_dim), initializer="glorot_normal", name="query_bases"
        )
        self.key_projection = self.add_weight(
            shape=(features, self.key_dim), initializer="glorot_normal", name="key_projection"
        )
        self.sharpness = self.add_weight(shape=(), initializer="ones", name="sharpness")
        self.select = keras.layers.Dense(self.num_bases, name="select")
        self.select.build(condition_shape)

    def call(self, condition):
        positions = ops.convert_to_tensor(fourier_positions(self.height, self.width))
        bases = ops.einsum("pf,kfd->kpd", positions, self.query_bases)
        queries = ops.einsum("bk,kpd->bpd", self.select(condition), bases)
        keys = ops.matmul(positions, self.key_projection)
        return ops.softmax(self.sharpness * ops.einsum("bpd,qd->bpq", queries, keys), axis=-1)

    def compute_output_shape(self, condition_shape):
        positions = self.height * self.width
        return (condition_shape[0], positions, positions)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "num_bases": self.num_bases, "key_dim": self.key_dim}  # fmt: skip


def route_map(x, token_routing, cell_routing, grid: tuple[int, int]):
    """Move a map's content as routings say: a coarse ``grid`` of cells, then positions inside each cell.

    ``x`` is (B, gh * sh, gw * sw, C); ``token_routing`` (B, gh*gw, gh*gw)
    moves whole cells, ``cell_routing`` (B, sh*sw, sh*sw) or None
    rearranges the positions inside every cell (a flip flips both).
    """
    grid_height, grid_width = grid
    cell_height, cell_width = x.shape[1] // grid_height, x.shape[2] // grid_width
    channels = x.shape[-1]
    cells = ops.reshape(x, (-1, grid_height, cell_height, grid_width, cell_width, channels))
    cells = ops.transpose(cells, (0, 1, 3, 2, 4, 5))
    cells = ops.reshape(cells, (-1, grid_height * grid_width, cell_height * cell_width, channels))
    cells = ops.einsum("bpq,bqsc->bpsc", token_routing, cells)
    if cell_routing is not None:
        cells = ops.einsum("bst,bptc->bpsc", cell_routing, cells)
    cells = ops.reshape(cells, (-1, grid_height, grid_width, cell_height, cell_width, channels))
    cells = ops.transpose(cells, (0, 1, 3, 2, 4, 5))
    return ops.reshape(cells, (-1, grid_height * cell_height, grid_width * cell_width, channels))


def position_channels(height: int, width: int, grid: tuple[int, int] | None) -> np.ndarray:
    """Fixed channels that tell a decoder stage where it is: coarse sinusoids, and the position inside a routing cell."""
    rows, columns = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    channels = [
        np.cos(np.pi * (v + 0.5) / n * k) for v, n in ((rows, height), (columns, width)) for k in (1, 2, 4)
    ]
    if grid is not None:
        cell_height, cell_width = height // grid[0], width // grid[1]
        channels += [
            ((rows % cell_height) == j).astype("float32") for j in range(cell_height) if cell_height > 1
        ]
        channels += [
            ((columns % cell_width) == j).astype("float32") for j in range(cell_width) if cell_width > 1
        ]
    return np.stack(channels, -1).astype("float32")


@keras.saving.register_keras_serializable(package="fusegen")
class UNetDecoder(keras.layers.Layer):
    """An image decoder conditioned at every stage, with U-Net skips: ``[fused, *skips] -> (B, H, W, C)``.

    ``fused`` is the fused condition, a vector (B, D) or a grid (B, h, w, D).
    ``skips`` are an image encoder's feature maps, each of its own size;
    each joins the decoder stage of that size. Without skips the decoder
    starts from a seed map projected from the condition vector.

    The condition vector (the fused vector, or the grid averaged, then
    layer-normalised) steers the stages as ``conditioning`` lists:

    - ``film`` scales and shifts the features of every block, and gates each
      skip's channels;
    - ``cross_attention``: each output position attends over the input's
      positions (`PositionalRouting`), on the grid of the first map and
      inside its cells for larger maps; the first map and every skip are
      moved by that attention before they join, so an instruction that
      moves content (flip, rotate, shift, zoom) moves the skips' detail
      too, instead of the skips pasting it where it was. Each stage also
      gets fixed position channels.
    - ``concat`` tiles the condition vector onto every stage's input.

    Args:
        height, width, channels: the output image.
        conditioning: a list of ``film``, ``cross_attention``, ``concat``.
        base_filters: width of the first map; later stages halve it down to
            ``min_filters`` unless a skip gives its own width.
        max_stages: upsampling stages without skips.
        blocks_per_stage: residual blocks per stage.
        routing_bases: the cross-attention's query bases (how many distinct
            rearrangements it composes from).
        activation: of the convolutions.
    """

    #: Arguments of keras.src.testing.TestCase.run_layer_test; the conformance tests run it.
    example = {
        "init_kwargs": {"height": 8, "width": 8, "channels": 3, "conditioning": ["film", "cross_attention", "concat"],
                        "base_filters": 8, "min_filters": 4, "routing_bases": 2},
        "input_shape": ((2, 8), (2, 4, 4, 8), (2, 8, 8, 4)),
        "expected_output_shape": (2, 8, 8, 3),
    }  # fmt: skip

    def __init__(self, height, width, channels, conditioning=("film",), base_filters=128, min_filters=32,
                 max_stages=4, blocks_per_stage=1, routing_bases=6, activation="relu", **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        for name, value in (("height", height), ("width", width), ("channels", channels),
                            ("base_filters", base_filters), ("min_filters", min_filters),
                            ("max_stages", max_stages), ("blocks_per_stage", blocks_per_stage),
                            ("routing_bases", routing_bases)):  # fmt: skip
            _check_positive(name, value)
        unknown = sorted(set(conditioning) - {"film", "cross_attention", "concat"})
        if unknown or not conditioning:
            raise ValueError(
                "`conditioning` must list some of 'film', 'cross_attention', 'concat'. "
                f"Received: conditioning={list(conditioning)}"
            )
        self.height, self.width, self.channels = height, width, channels
        self.conditioning = list(conditioning)
        self.base_filters, self.min_filters = base_filters, min_filters
        self.max_stages, self.blocks_per_stage = max_stages, blocks_per_stage
        self.routing_bases = routing_bases
        self.activation = activation

    def stage_sizes(self, input_shape) -> list[tuple[int, int]]:
        """The (height, width) of the first map and of every stage after it.

        The stages are the fused grid's size and every skip's, smallest
        first, then doublings until the output is covered; the last map is
        cropped to the output when a doubling overshoots it.
        """
        fused_shape, *skip_shapes = _as_shape_list(input_shape)
        sizes = {tuple(shape[1:3]) for shape in skip_shapes}
        if len(fused_shape) == 4:
            sizes.add(tuple(fused_shape[1:3]))
        if not sizes:
            stages = 0
            while stages < self.max_stages and 2 ** (stages + 1) <= min(self.height, self.width):
                stages += 1
            sizes.add((-(-self.height // 2**stages), -(-self.width // 2**stages)))
        sizes = sorted(sizes)
        while sizes[-1][0] < self.height or sizes[-1][1] < self.width:
            sizes.append((sizes[-1][0] * 2, sizes[-1][1] * 2))
        return sizes

    def _routed(self, size) -> bool:
        """Whether maps of this size are moved by the cross-attention (a whole number of cells)."""
        grid = self.sizes[0]
        return "cross_attention" in self.conditioning and size[0] % grid[0] == 0 and size[1] % grid[1] == 0

    def build(self, input_shape):
        fused_shape, *skip_shapes = _as_shape_list(input_shape)
        self.sizes = self.stage_sizes(input_shape)
        skip_by_size = {tuple(shape[1:3]): shape for shape in skip_shapes}
        condition_width = fused_shape[-1]
        use = set(self.conditioning)
        activation = self.activation

        self.condition_norm = keras.layers.LayerNormalization(name="condition_norm")
        self.condition_norm.build((None, condition_width))
        self.stage_filters = []
        for index, size in enumerate(self.sizes):
            skip = skip_by_size.get(size)
            filters = max(self.min_filters, skip[-1] if skip else self.base_filters // 2**index)
            self.stage_filters.append(filters)
        self.stage_filters[0] = max(self.stage_filters[0], self.base_filters)
        if not skip_shapes and len(fused_shape) == 2:
            first = self.sizes[0]
            self.seed = keras.layers.Dense(first[0] * first[1] * self.base_filters, activation=activation,
                                           name="seed")  # fmt: skip
            self.seed.build(fused_shape)
        self.routings = {}
        if "cross_attention" in use:
            grid = self.sizes[0]
            # String keys: TensorFlow's SavedModel export cannot track a dict keyed by tuples.
            self.routings["grid"] = PositionalRouting(*grid, num_bases=self.routing_bases, name="routing")
            self.routings["grid"].build((None, condition_width))
            for size in self.sizes[1:]:
                cell = (size[0] // grid[0], size[1] // grid[1])
                if self._routed(size) and cell != (1, 1) and _cell_key(cell) not in self.routings:
                    self.routings[_cell_key(cell)] = PositionalRouting(*cell, num_bases=self.routing_bases, key_dim=8,
                                                            name=f"routing_cell_{cell[0]}x{cell[1]}")  # fmt: skip
                    self.routings[_cell_key(cell)].build((None, condition_width))

        self.stages = []
        for index, (size, filters) in enumerate(zip(self.sizes, self.stage_filters, strict=True)):
            stage = {}
            skip = skip_by_size.get(size)
            channels_in = self.stage_filters[index - 1] if index else 0
            if index == 0:
                if len(fused_shape) == 4 and tuple(fused_shape[1:3]) == size:
                    channels_in += fused_shape[-1]
                if not skip_shapes and len(fused_shape) == 2:
                    channels_in += self.base_filters  # the seed
            if skip is not None:
                channels_in += skip[-1]
                if "film" in use:
                    stage["skip_gate"] = keras.layers.Dense(skip[-1], kernel_initializer="zeros",
                                                            name=f"stage_{index}_skip_gate")  # fmt: skip
                    stage["skip_gate"].build((None, condition_width))
            if "concat" in use:
                channels_in += condition_width
            if "cross_attention" in use:
                channels_in += self._positions(size).shape[-1]
            stage["conv"] = keras.layers.Conv2D(filters, 3, padding="same", activation=activation,
                                                name=f"stage_{index}_conv")  # fmt: skip
            stage["conv"].build((None, *size, channels_in))
            stage["blocks"] = []
            for block_index in range(self.blocks_per_stage):
                name = f"stage_{index}_block_{block_index}"
                block = {
                    "norm": keras.layers.GroupNormalization(groups=_groups(filters), name=f"{name}_norm"),
                    "conv_a": keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv_a"),
                    "conv_b": keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv_b"),
                    "act": keras.layers.Activation(activation),
                }
                for layer in (block["norm"], block["conv_a"], block["conv_b"]):
                    layer.build((None, *size, filters))
                if "film" in use:
                    block["film"] = FeatureWiseAffine(name=f"{name}_film")
                    block["film"].build([(None, *size, filters), (None, condition_width)])
                stage["blocks"].append(block)
            self.stages.append(stage)
        self.to_pixels = keras.layers.Conv2D(self.channels, 3, padding="same", activation="sigmoid",
                                             name="to_pixels")  # fmt: skip
        self.to_pixels.build((None, *self.sizes[-1], self.stage_filters[-1]))

    def _positions(self, size) -> np.ndarray:
        return position_channels(*size, self.sizes[0] if self._routed(size) else None)

    def call(self, inputs, training=None):
        fused, *skips = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        condition = fused if len(fused.shape) == 2 else ops.mean(fused, axis=(1, 2))
        condition = self.condition_norm(condition)
        skip_by_size = {tuple(skip.shape[1:3]): skip for skip in skips}
        routings = {key: routing(condition) for key, routing in self.routings.items()}
        grid = self.sizes[0]

        def route(x, size):
            if not routings or not self._routed(size):
                return x
            cell = (size[0] // grid[0], size[1] // grid[1])
            return route_map(x, routings["grid"], routings.get(_cell_key(cell)), grid)

        x = None
        batch = ops.shape(condition)[0]
        for index, (size, stage) in enumerate(zip(self.sizes, self.stages, strict=True)):
            parts = []
            if index == 0:
                if hasattr(self, "seed"):
                    parts.append(ops.reshape(self.seed(condition), (-1, *size, self.base_filters)))
                if len(fused.shape) == 4 and tuple(fused.shape[1:3]) == size:
                    parts.append(route(fused, size))
            else:
                parts.append(_resize(x, size))
            skip = skip_by_size.get(size)
            if skip is not None:
                if "skip_gate" in stage:
                    gate = ops.sigmoid(stage["skip_gate"](condition) + 2.0)  # starts open (~0.88)
                    skip = skip * ops.reshape(gate, (-1, 1, 1, skip.shape[-1]))
                parts.append(route(skip, size))
            if "concat" in self.conditioning:
                parts.append(ops.broadcast_to(ops.reshape(condition, (-1, 1, 1, condition.shape[-1])),
                                              (batch, *size, condition.shape[-1])))  # fmt: skip
            if "cross_attention" in self.conditioning:
                positions = ops.convert_to_tensor(self._positions(size))
                parts.append(ops.broadcast_to(positions[None], (batch, *positions.shape)))
            x = stage["conv"](parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1))
            for block in stage["blocks"]:
                h = block["norm"](x)
                if "film" in block:
                    h = block["film"]([h, condition])
                h = block["conv_a"](block["act"](h))
                h = block["conv_b"](block["act"](h))
                x = x + h
        return self.to_pixels(x[:, : self.height, : self.width])

    def compute_output_shape(self, input_shape):
        fused_shape, *skip_shapes = _as_shape_list(input_shape)
        if len(fused_shape) not in (2, 4) or any(len(shape) != 4 for shape in skip_shapes):
            raise ValueError(
                "UNetDecoder expects [fused (batch, D) or (batch, h, w, D), *skips (batch, h, w, C)]. "
                f"Received: input_shape={input_shape}"
            )
        sizes = [tuple(shape[1:3]) for shape in skip_shapes]
        if len(set(sizes)) != len(sizes):
            raise ValueError(f"UNetDecoder's skips must differ in size. Received sizes {sizes}")
        if sizes and (
            max(size[0] for size in sizes) > self.height or max(size[1] for size in sizes) > self.width
        ):
            raise ValueError(
                f"UNetDecoder's largest skip {sizes} exceeds the output {self.height}x{self.width}"
            )
        return (fused_shape[0], self.height, self.width, self.channels)

    def get_config(self):
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "channels": self.channels,
            "conditioning": self.conditioning,
            "base_filters": self.base_filters,
            "min_filters": self.min_filters,
            "max_stages": self.max_stages,
            "blocks_per_stage": self.blocks_per_stage,
            "routing_bases": self.routing_bases,
            "activation": self.activation,
        }


def _cell_key(cell: tuple[int, int]) -> str:
    return f"cell_{cell[0]}x{cell[1]}"


def _as_shape_list(input_shape) -> list[tuple]:
    if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
        return [tuple(shape) for shape in input_shape]
    return [tuple(input_shape)]


def _groups(channels: int) -> int:
    for groups in (8, 4, 2):
        if channels % groups == 0:
            return groups
    return 1


def _resize(x, size):
    if tuple(x.shape[1:3]) == tuple(size):
        return x
    return ops.image.resize(x, size, interpolation="bilinear")
