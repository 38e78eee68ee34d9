"""MLP heads for vectors and records: a dense trunk, then one layer per output part."""

import keras

from fusegen.models.heads.base import HeadLayers
from fusegen.models.registry import HEADS, layer_name


def _trunk(config, prefix):
    layers = []
    for index, units in enumerate(config.units):
        layers.append(keras.layers.Dense(units, activation=config.activation, name=f"{prefix}_dense_{index}"))
        if config.dropout_rate:
            layers.append(keras.layers.Dropout(config.dropout_rate, name=f"{prefix}_dropout_{index}"))
    return layers


@HEADS.register("vector", "mlp")
def mlp_vector_head(config, output_spec, fused_shape, vocabulary_sizes, prefix):
    part = [keras.layers.Dense(output_spec.size, name=f"{prefix}_{output_spec.name}")]
    return HeadLayers(trunk=_trunk(config, prefix), parts={output_spec.name: part})


@HEADS.register("record", "mlp")
def mlp_record_head(config, output_spec, fused_shape, vocabulary_sizes, prefix):
    parts = {}
    if output_spec.numeric:
        parts["numeric"] = [keras.layers.Dense(len(output_spec.numeric), name=f"{prefix}_numeric")]
    for column in output_spec.categorical_parts():
        # Logits; the loss applies the softmax, and sampling draws from it.
        parts[column] = [
            keras.layers.Dense(
                vocabulary_sizes[f"output.{column}"], name=layer_name(prefix, column, "logits")
            )
        ]
    return HeadLayers(trunk=_trunk(config, prefix), parts=parts)
