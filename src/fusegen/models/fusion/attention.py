"""Attention over the branches' tokens (pixels, steps, or one token per vector)."""

from fusegen.models.layers import BranchAttentionFusion
from fusegen.models.registry import FUSIONS


@FUSIONS.register(
    "any",
    "attention",
    needs_common_width=True,
    needs_tokens=True,
    fuses_one_branch=True,
    applies_dropout=True,
)
def attention_fusion(config, num_branches, prefix):
    return BranchAttentionFusion(
        config.num_heads, dropout_rate=config.dropout_rate, name=f"{prefix}_attention"
    )
