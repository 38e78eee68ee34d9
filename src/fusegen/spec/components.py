"""Typed configs of the model parts: encoders, fusion methods and heads.

Each config has a ``type`` (fusion: ``method``) discriminator naming a
registered implementation in ``fusegen.models``. The configs each spec key
accepts live in a `ConfigSlot` (``ENCODER_SLOTS[kind]``, ``FUSION_SLOT``,
``HEAD_SLOTS[kind]``); a new part's config joins its slot when its
implementation registers (see docs/adding-a-part.md), so adding a part
touches no file here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from fusegen.spec.registry import ConfigSlot

Activation = Literal["relu", "gelu", "silu", "tanh", "leaky_relu"]
Pooling = Literal["auto", "average", "max", "flatten"]


def _check_heads_divide(what: str, width: int, num_heads: int) -> None:
    """Multi-head attention splits a width evenly across its heads."""
    if width % num_heads:
        raise ValueError(f"{what} ({width}) must be divisible by num_heads ({num_heads})")


class Component(BaseModel):
    """Base of every part config: unknown keys are errors, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------
# Encoders: one branch per input.
# --------------------------------------------------------------------------


class ConvImageEncoder(Component):
    """Strided 3x3 convolutions; each stage halves height and width."""

    type: Literal["conv"] = "conv"
    filters: list[PositiveInt] = Field(default=[32, 64, 128], min_length=1)
    activation: Activation = "relu"
    pooling: Pooling = Field(
        default="auto",
        description="How the feature map becomes a vector for vector fusion. "
        "'auto' flattens maps of at most 4096 values and averages larger ones.",
    )


class ResidualImageEncoder(Component):
    """A stem convolution and residual blocks, downsampling between stages."""

    type: Literal["residual"] = "residual"
    filters: list[PositiveInt] = Field(default=[32, 64, 128], min_length=1)
    blocks_per_stage: PositiveInt = 1
    activation: Activation = "relu"
    pooling: Pooling = "auto"


class EmbeddingPoolTextEncoder(Component):
    """Token embedding followed by masked average pooling."""

    type: Literal["embedding_pool"] = "embedding_pool"
    embedding_dim: PositiveInt = 64


class TransformerTextEncoder(Component):
    """Token and position embeddings, small transformer blocks, then masked average pooling.

    Unlike ``embedding_pool``, word order counts ("rotate left" vs "left
    rotate"), and each word's meaning can depend on the others.
    """

    type: Literal["transformer"] = "transformer"
    embedding_dim: PositiveInt = 64
    num_layers: PositiveInt = Field(default=1, le=8)
    num_heads: PositiveInt = 4

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TransformerTextEncoder:
        _check_heads_divide("embedding_dim", self.embedding_dim, self.num_heads)
        return self


class DenseVectorEncoder(Component):
    """Dense layers over a vector (numeric columns or text embeddings)."""

    type: Literal["dense"] = "dense"
    units: list[PositiveInt] = Field(default=[64], min_length=1)
    activation: Activation = "relu"


class EmbeddingCategoricalEncoder(Component):
    """A learned embedding per category, with one out-of-vocabulary row."""

    type: Literal["embedding"] = "embedding"
    embedding_dim: PositiveInt = 16


class Conv1DSequenceEncoder(Component):
    """Strided 1-D convolutions over time; each stage halves the steps."""

    type: Literal["conv1d"] = "conv1d"
    filters: list[PositiveInt] = Field(default=[32, 64], min_length=1)
    kernel_size: PositiveInt = 5
    activation: Activation = "relu"
    pooling: Pooling = "average"


class RecurrentSequenceEncoder(Component):
    """Stacked GRU or LSTM layers returning the full sequence."""

    type: Literal["gru", "lstm"] = "gru"
    units: list[PositiveInt] = Field(default=[64], min_length=1)
    pooling: Pooling = "average"


#: The encoder configs each input kind accepts; ``ENCODER_SLOTS[kind].register`` adds one.
ENCODER_SLOTS = {
    "image": ConfigSlot(
        "inputs.*.encoder (image)", "type", [ConvImageEncoder, ResidualImageEncoder], Component
    ),
    "text": ConfigSlot(
        "inputs.*.encoder (text)",
        "type",
        [EmbeddingPoolTextEncoder, TransformerTextEncoder, DenseVectorEncoder],
        Component,
    ),
    "numeric": ConfigSlot("inputs.*.encoder (numeric)", "type", [DenseVectorEncoder], Component),
    "categorical": ConfigSlot(
        "inputs.*.encoder (categorical)", "type", [EmbeddingCategoricalEncoder], Component
    ),
    "sequence": ConfigSlot(
        "inputs.*.encoder (sequence)", "type", [Conv1DSequenceEncoder, RecurrentSequenceEncoder], Component
    ),
}
ImageEncoder = ENCODER_SLOTS["image"].annotation()
TextEncoder = ENCODER_SLOTS["text"].annotation()
NumericEncoder = ENCODER_SLOTS["numeric"].annotation()
CategoricalEncoder = ENCODER_SLOTS["categorical"].annotation()
SequenceEncoder = ENCODER_SLOTS["sequence"].annotation()


# --------------------------------------------------------------------------
# Fusion: how the branches become one representation.
# --------------------------------------------------------------------------


class FusionConfig(Component):
    """Base of every fusion method's config: how the branches are combined.

    ``layout`` chooses the shape of the fused representation: ``vector`` pools
    every branch to a vector; ``grid`` keeps the feature map of the image input
    and tiles every other branch over it (image outputs only).
    """

    method: str
    width: PositiveInt = Field(
        default=128,
        description="Common width branches are projected to (add, gated, attention). concat keeps each "
        "branch's own width and uses this only for a feature map flattened to a vector.",
    )
    layout: Literal["auto", "vector", "grid"] = "auto"
    dropout_rate: float = Field(default=0.0, ge=0.0, lt=1.0)


class ConcatFusion(FusionConfig):
    """Concatenate the branches' vectors (or, on a grid, their channels), each at its own width: the
    fused width is the sum of theirs, which `fusegen inspect` shows."""

    method: Literal["concat"] = "concat"


class AddFusion(FusionConfig):
    """Sum the branches, each projected to ``width``."""

    method: Literal["add"] = "add"


class GatedFusion(FusionConfig):
    """A learned sigmoid gate weighs each branch, projected to ``width``, before summing."""

    method: Literal["gated"] = "gated"


class AttentionFusion(FusionConfig):
    """Multi-head attention over the branches' tokens (pixels, steps, or one token per vector)."""

    method: Literal["attention"] = "attention"
    num_heads: PositiveInt = 4

    @model_validator(mode="after")
    def _heads_divide_width(self) -> AttentionFusion:
        _check_heads_divide("attention fusion's width", self.width, self.num_heads)
        return self


#: The fusion configs the spec accepts; ``FUSION_SLOT.register`` adds one.
FUSION_SLOT = ConfigSlot(
    "fusion",
    "method",
    [ConcatFusion, AddFusion, GatedFusion, AttentionFusion],
    FusionConfig,
    default="concat",
)
FusionSpec = FUSION_SLOT.annotation()


# --------------------------------------------------------------------------
# Heads: from the fused representation to the output.
# --------------------------------------------------------------------------


class UpsampleImageHead(Component):
    """Dense seed, then upsample + conv stages, cropped to the exact size."""

    type: Literal["upsample"] = "upsample"
    base_filters: PositiveInt = 128
    min_filters: PositiveInt = 16
    max_stages: PositiveInt = Field(default=4, le=8)
    activation: Activation = "relu"


class UNetImageHead(Component):
    """Upsampling stages conditioned at every stage, reusing an image input's encoder maps as skips.

    When an image input has the output's size, its encoder's feature map at
    each resolution joins the decoder stage of that resolution (U-Net skip
    connections), so detail need not pass through the bottleneck. The fused
    condition steers every stage through ``conditioning``:

    - ``film``: a feature-wise scale and shift (and a gate on each skip) from
      the condition vector;
    - ``cross_attention``: each output position attends over the input's
      positions, with queries steered by the condition, and the skips are
      moved by that attention before they join, so an instruction can move
      content (flip, rotate, shift, zoom) and its detail with it;
    - ``concat``: the condition vector tiled and concatenated at every stage.
    """

    type: Literal["unet"] = "unet"
    skips_from: str | None = Field(
        default=None,
        description="The image input whose encoder feeds the skips; by default the image input of the "
        "output's size, if any. 'none' turns skips off.",
    )
    conditioning: list[Literal["film", "cross_attention", "concat"]] = Field(
        default=["film", "cross_attention"], min_length=1
    )
    base_filters: PositiveInt = Field(default=128, description="Width at the lowest resolution.")
    min_filters: PositiveInt = 32
    max_stages: PositiveInt = Field(default=4, le=8, description="Upsampling stages when there are no skips.")
    blocks_per_stage: PositiveInt = 1
    routing_bases: PositiveInt = Field(
        default=6, description="Cross-attention: how many distinct rearrangements its queries compose from."
    )
    activation: Activation = "relu"


class ConvSequenceHead(Component):
    """Dense seed, then upsample + conv1d stages, cropped to the exact steps."""

    type: Literal["conv1d"] = "conv1d"
    base_filters: PositiveInt = 64
    max_stages: PositiveInt = Field(default=3, le=8)
    kernel_size: PositiveInt = 5
    activation: Activation = "relu"


class RecurrentSequenceHead(Component):
    """Repeat the fused vector over the steps, then a GRU or LSTM."""

    type: Literal["gru", "lstm"] = "gru"
    units: PositiveInt = 64


class MLPHead(Component):
    """Dense layers, then one linear (numeric) or logits (categorical) layer per part."""

    type: Literal["mlp"] = "mlp"
    units: list[PositiveInt] = Field(default=[128, 128])
    activation: Activation = "relu"
    dropout_rate: float = Field(default=0.0, ge=0.0, lt=1.0)


#: The head configs each output kind accepts (records use the vector heads); ``.register`` adds one.
HEAD_SLOTS = {
    "image": ConfigSlot("output.head (image)", "type", [UpsampleImageHead, UNetImageHead], Component),
    "sequence": ConfigSlot(
        "output.head (sequence)", "type", [ConvSequenceHead, RecurrentSequenceHead], Component
    ),
    "vector": ConfigSlot("output.head (record, vector)", "type", [MLPHead], Component),
}
HEAD_SLOTS["record"] = HEAD_SLOTS["vector"]
ImageHead = HEAD_SLOTS["image"].annotation()
SequenceHead = HEAD_SLOTS["sequence"].annotation()
VectorHead = HEAD_SLOTS["vector"].annotation()
