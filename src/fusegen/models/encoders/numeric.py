"""Numeric encoder: dense layers over standardised features."""

import keras

from fusegen.models.registry import ENCODERS


@ENCODERS.register("numeric", "dense")
def dense_vector_encoder(config, input_spec, prefix, vocabulary_size=None):
    return [
        keras.layers.Dense(units, activation=config.activation, name=f"{prefix}_dense_{index}")
        for index, units in enumerate(config.units)
    ]
