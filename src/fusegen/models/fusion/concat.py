"""Concatenation along features: keeps every branch intact; width is the sum of theirs."""

import keras

from fusegen.models.registry import FUSIONS


@FUSIONS.register("any", "concat")
def concat_fusion(config, num_branches, prefix):
    return keras.layers.Concatenate(axis=-1, name=f"{prefix}_concat")
