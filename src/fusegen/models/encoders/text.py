"""Text encoders: token embeddings with masked average pooling, a small transformer, or dense over embeddings."""

import keras

from fusegen.models.encoders.numeric import dense_vector_encoder
from fusegen.models.layers import TextTransformer
from fusegen.models.registry import ENCODERS


@ENCODERS.register("text", "embedding_pool")
def embedding_pool_text_encoder(config, input_spec, prefix, vocabulary_size=None):
    # Id 0 is padding; masking it keeps short instructions from averaging in padding.
    return [
        keras.layers.Embedding(
            vocabulary_size, config.embedding_dim, mask_zero=True, name=f"{prefix}_embedding"
        ),
        keras.layers.GlobalAveragePooling1D(name=f"{prefix}_pool"),
    ]


ENCODERS.register("text", "dense")(dense_vector_encoder)


@ENCODERS.register("text", "transformer")
def transformer_text_encoder(config, input_spec, prefix, vocabulary_size=None):
    return [
        TextTransformer(
            vocabulary_size,
            input_spec.sequence_length,
            config.embedding_dim,
            num_layers=config.num_layers,
            num_heads=config.num_heads,
            name=f"{prefix}_transformer",
        )
    ]
