"""Categorical encoder: an embedding row per label, row 0 for out-of-vocabulary."""

import keras

from fusegen.models.registry import ENCODERS


@ENCODERS.register("categorical", "embedding")
def embedding_categorical_encoder(config, input_spec, prefix, vocabulary_size=None):
    return [keras.layers.Embedding(vocabulary_size, config.embedding_dim, name=f"{prefix}_embedding")]
