"""Learned per-branch gates over branches projected to a common width."""

from fusegen.models.layers import GatedFusion
from fusegen.models.registry import FUSIONS


@FUSIONS.register("any", "gated")
def gated_fusion(config, num_branches, prefix):
    return GatedFusion(num_branches, name=f"{prefix}_gated")


gated_fusion.needs_common_width = True
gated_fusion.needs_tokens = False
