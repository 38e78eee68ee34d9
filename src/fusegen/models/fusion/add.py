"""Sum of branches projected to a common width."""

import keras

from fusegen.models.registry import FUSIONS


@FUSIONS.register("any", "add")
def add_fusion(config, num_branches, prefix):
    return keras.layers.Add(name=f"{prefix}_add")


add_fusion.needs_common_width = True
add_fusion.needs_tokens = False
