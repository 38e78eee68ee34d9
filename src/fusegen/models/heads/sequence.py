"""Sequence heads: a seed upsampled over time and cropped to exactly T steps, or a recurrent decoder."""

import keras

from fusegen.models.heads.base import HeadLayers, ceil_div, halvings
from fusegen.models.registry import HEADS


@HEADS.register("sequence", "conv1d")
def conv1d_sequence_head(config, output_spec, fused_shape, vocabulary_sizes, prefix):
    steps, channels = output_spec.steps, output_spec.channels
    stages = halvings(steps, config.max_stages)
    seed_steps = ceil_div(steps, 2**stages)
    layers = [
        keras.layers.Dense(
            seed_steps * config.base_filters, activation=config.activation, name=f"{prefix}_seed"
        ),
        keras.layers.Reshape((seed_steps, config.base_filters), name=f"{prefix}_seed_steps"),
    ]
    for stage in range(stages):
        layers += [
            keras.layers.UpSampling1D(2, name=f"{prefix}_up_{stage}"),
            keras.layers.Conv1D(
                config.base_filters,
                config.kernel_size,
                padding="same",
                activation=config.activation,
                name=f"{prefix}_conv_{stage}",
            ),
        ]
    layers.append(
        keras.layers.Conv1D(channels, config.kernel_size, padding="same", name=f"{prefix}_to_channels")
    )
    extra = seed_steps * 2**stages - steps
    if extra:
        layers.append(keras.layers.Cropping1D((0, extra), name=f"{prefix}_crop"))
    return HeadLayers(trunk=[], parts={output_spec.name: layers})


def _recurrent(layer_class):
    def recurrent_sequence_head(config, output_spec, fused_shape, vocabulary_sizes, prefix):
        layers = [
            keras.layers.RepeatVector(output_spec.steps, name=f"{prefix}_repeat"),
            layer_class(config.units, return_sequences=True, name=f"{prefix}_{config.type}"),
            keras.layers.Dense(output_spec.channels, name=f"{prefix}_to_channels"),
        ]
        return HeadLayers(trunk=[], parts={output_spec.name: layers})

    return recurrent_sequence_head


HEADS.register("sequence", "gru")(_recurrent(keras.layers.GRU))
HEADS.register("sequence", "lstm")(_recurrent(keras.layers.LSTM))
