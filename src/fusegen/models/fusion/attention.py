"""Attention over the branches' tokens (pixels, steps, or one token per vector)."""

from fusegen.models.layers import BranchAttentionFusion
from fusegen.models.registry import FUSIONS


@FUSIONS.register("any", "attention")
def attention_fusion(config, num_branches, prefix):
    return BranchAttentionFusion(
        config.num_heads, dropout_rate=config.dropout_rate, name=f"{prefix}_attention"
    )


attention_fusion.needs_common_width = True
#: Branches arrive as token sets (..., tokens, width) rather than vectors.
attention_fusion.needs_tokens = True
