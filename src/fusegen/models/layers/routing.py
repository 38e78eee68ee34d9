"""Cross-attention over positions: where each output position of an image reads from.

`PositionalRouting` turns a condition into attention between the positions
of a grid; `route_map` applies it to a feature map, cells then positions
inside the cells; `position_channels` tells a decoder stage where it is.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from fusegen.models.layers.checks import check_positive


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
        check_positive(height=height, width=width, num_bases=num_bases, key_dim=key_dim)
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
        scores = self.sharpness * ops.einsum("bpd,qd->bpq", queries, keys)
        if self.height * self.width == 1:
            # A 1x1 map routes its one position to itself. The softmax over that single key, written
            # out (exp(s - s) = 1, with the same zero gradients), spares a Keras warning.
            return ops.exp(scores - scores)
        return ops.softmax(scores, axis=-1)

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
