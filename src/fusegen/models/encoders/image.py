"""Image encoders: strided convolutions, or residual stages."""

import keras

from fusegen.models.layers import ResidualBlock2D
from fusegen.models.registry import ENCODERS


@ENCODERS.register("image", "conv")
def conv_image_encoder(config, input_spec, prefix, vocabulary_size=None):
    return [
        _halving_conv(filters, config, f"{prefix}_conv_{index}")
        for index, filters in enumerate(config.filters)
    ]


def _halving_conv(filters: int, config, name: str):
    """A strided 3x3 convolution: half the height and width."""
    return keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation=config.activation, name=name)


@ENCODERS.register("image", "residual")
def residual_image_encoder(config, input_spec, prefix, vocabulary_size=None):
    layers = [
        keras.layers.Conv2D(
            config.filters[0], 3, padding="same", activation=config.activation, name=f"{prefix}_stem"
        )
    ]
    for stage, filters in enumerate(config.filters):
        if stage:
            # Downsample between stages, so the first stage keeps full resolution.
            layers.append(_halving_conv(filters, config, f"{prefix}_down_{stage}"))
        for block in range(config.blocks_per_stage):
            layers.append(
                ResidualBlock2D(filters, activation=config.activation, name=f"{prefix}_block_{stage}_{block}")
            )
    return layers
