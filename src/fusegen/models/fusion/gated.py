"""Learned per-branch gates over branches projected to a common width."""

from fusegen.models.layers import GatedFusion
from fusegen.models.registry import FUSIONS


@FUSIONS.register("any", "gated", needs_common_width=True)
def gated_fusion(config, num_branches, prefix):
    return GatedFusion(num_branches, name=f"{prefix}_gated")
