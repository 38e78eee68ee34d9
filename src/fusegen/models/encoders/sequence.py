"""Sequence encoders: strided 1-D convolutions, or stacked GRU / LSTM layers."""

import keras

from fusegen.models.registry import ENCODERS


@ENCODERS.register("sequence", "conv1d")
def conv1d_sequence_encoder(config, input_spec, prefix, vocabulary_size=None):
    return [
        keras.layers.Conv1D(
            filters,
            config.kernel_size,
            strides=2,
            padding="same",
            activation=config.activation,
            name=f"{prefix}_conv_{index}",
        )
        for index, filters in enumerate(config.filters)
    ]


def _recurrent(layer_class):
    def recurrent_sequence_encoder(config, input_spec, prefix, vocabulary_size=None):
        return [
            layer_class(units, return_sequences=True, name=f"{prefix}_{config.type}_{index}")
            for index, units in enumerate(config.units)
        ]

    return recurrent_sequence_encoder


ENCODERS.register("sequence", "gru")(_recurrent(keras.layers.GRU))
ENCODERS.register("sequence", "lstm")(_recurrent(keras.layers.LSTM))
