"""fusegen's own Keras layers: alignment, fusion, conditioning, image and text layers.

Each layer validates its arguments in ``__init__``, creates weights in
``build``, uses only ``keras.ops`` in ``call``, states
``compute_output_shape`` (the shape planner relies on it) and round-trips
through ``get_config``. All are registered under the ``fusegen`` package so a
saved model loads in Keras safe mode. Each declares a small ``example`` of
itself (the arguments of Keras's ``run_layer_test``), which
tests/test_conformance.py runs for every layer.

The layers live by role in `fusion` (aligning and fusing branches),
`conditioning` (time embedding, FiLM), `routing` (cross-attention over
positions), `image` (residual block, U-Net decoder) and `text` (transformer
encoder); this package gathers them.
"""

from fusegen.models.layers.conditioning import FeatureWiseAffine, SinusoidalEmbedding
from fusegen.models.layers.fusion import BranchAttentionFusion, GatedFusion, NullableBranch, TileToGrid
from fusegen.models.layers.image import ResidualBlock2D, UNetDecoder
from fusegen.models.layers.routing import PositionalRouting, fourier_positions, position_channels, route_map
from fusegen.models.layers.text import TextTransformer

__all__ = [
    "BranchAttentionFusion",
    "FeatureWiseAffine",
    "GatedFusion",
    "NullableBranch",
    "PositionalRouting",
    "ResidualBlock2D",
    "SinusoidalEmbedding",
    "TextTransformer",
    "TileToGrid",
    "UNetDecoder",
    "fourier_positions",
    "position_channels",
    "route_map",
]
