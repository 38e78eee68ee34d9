"""Sum of branches projected to a common width."""

import keras

from fusegen.models.registry import FUSIONS


@FUSIONS.register("any", "add", needs_common_width=True)
def add_fusion(config, num_branches, prefix):
    return keras.layers.Add(name=f"{prefix}_add")
