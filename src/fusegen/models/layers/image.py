"""Image layers: a residual convolution block and the conditioned U-Net decoder."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from fusegen.models.layers.checks import check_positive
from fusegen.models.layers.conditioning import FeatureWiseAffine
from fusegen.models.layers.routing import PositionalRouting, position_channels, route_map


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
        check_positive(filters=filters)
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
        check_positive(
            height=height,
            width=width,
            channels=channels,
            base_filters=base_filters,
            min_filters=min_filters,
            max_stages=max_stages,
            blocks_per_stage=blocks_per_stage,
            routing_bases=routing_bases,
        )
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
