"""Image heads: upsampling stages from the fused condition, or a conditioned U-Net decoder with skips.

The ``upsample`` head: a seed map upsampled 2x per stage, then cropped or resized to the exact size.

From a vector, the seed is ceil(H / 2^k) x ceil(W / 2^k) with k chosen from
the target, so after k doublings the map covers the target and a crop of at
most 2^k - 1 pixels gives exactly H x W (odd, non-square, any size). From a
grid, the map is upsampled while it stays within the target, then resized.
"""

import keras

from fusegen.models.heads.base import HeadLayers, ceil_div, halvings
from fusegen.models.layers import UNetDecoder
from fusegen.models.registry import HEADS


@HEADS.register("image", "upsample")
def upsample_image_head(config, output_spec, fused_shape, vocabulary_sizes, prefix):
    height, width, channels = output_spec.height, output_spec.width, output_spec.channels
    layers = []
    if len(fused_shape) == 1:
        stages = halvings(min(height, width), config.max_stages)
        seed_height, seed_width = ceil_div(height, 2**stages), ceil_div(width, 2**stages)
        layers += [
            keras.layers.Dense(
                seed_height * seed_width * config.base_filters,
                activation=config.activation,
                name=f"{prefix}_seed",
            ),
            keras.layers.Reshape((seed_height, seed_width, config.base_filters), name=f"{prefix}_seed_map"),
        ]
        reached_height, reached_width = seed_height * 2**stages, seed_width * 2**stages
    else:
        grid_height, grid_width = fused_shape[0], fused_shape[1]
        stages = 0
        while (
            stages < config.max_stages
            and grid_height * 2 ** (stages + 1) <= height
            and grid_width * 2 ** (stages + 1) <= width
        ):
            stages += 1
        reached_height, reached_width = grid_height * 2**stages, grid_width * 2**stages
    filters = config.base_filters
    for stage in range(stages):
        filters = max(config.min_filters, filters // 2)
        layers += [
            keras.layers.UpSampling2D(2, name=f"{prefix}_up_{stage}"),
            keras.layers.Conv2D(
                filters, 3, padding="same", activation=config.activation, name=f"{prefix}_conv_{stage}"
            ),
        ]
    if (reached_height, reached_width) != (height, width):
        if reached_height >= height and reached_width >= width:
            layers.append(
                keras.layers.Cropping2D(
                    ((0, reached_height - height), (0, reached_width - width)), name=f"{prefix}_crop"
                )
            )
        else:
            layers.append(keras.layers.Resizing(height, width, name=f"{prefix}_resize"))
    # Sigmoid: the model works in [0, 1]; the output converter maps to value_range.
    layers.append(
        keras.layers.Conv2D(channels, 3, padding="same", activation="sigmoid", name=f"{prefix}_to_pixels")
    )
    return HeadLayers(trunk=[], parts={output_spec.name: layers})


@HEADS.register("image", "unet")
def unet_image_head(config, output_spec, fused_shape, vocabulary_sizes, prefix):
    # One composite layer: its stages take the skips by size, which a flat
    # list of single-input layers cannot express. The planner passes it the
    # skip maps of the input it chooses (`_plan_skips`).
    decoder = UNetDecoder(
        output_spec.height,
        output_spec.width,
        output_spec.channels,
        conditioning=list(config.conditioning),
        base_filters=config.base_filters,
        min_filters=config.min_filters,
        max_stages=config.max_stages,
        blocks_per_stage=config.blocks_per_stage,
        routing_bases=config.routing_bases,
        activation=config.activation,
        name=f"{prefix}_unet",
    )
    return HeadLayers(trunk=[], parts={output_spec.name: [decoder]}, takes_skips=True)
