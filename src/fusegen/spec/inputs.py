"""Typed configs of the inputs, one class per kind.

Each input knows its shape as the model sees it (without the batch axis)
through ``model_shape``; that is all the shape planner needs from the spec.
Vocabulary sizes that are fitted on data are passed in as ``vocabulary_sizes``
by the caller that fitted them.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, StrictStr, field_validator, model_validator

from fusegen.spec.components import (
    ENCODER_SLOTS,
    CategoricalEncoder,
    Component,
    Conv1DSequenceEncoder,
    ConvImageEncoder,
    DenseVectorEncoder,
    EmbeddingCategoricalEncoder,
    EmbeddingPoolTextEncoder,
    ImageEncoder,
    NumericEncoder,
    SequenceEncoder,
    TextEncoder,
)
from fusegen.spec.modality_base import (
    ImageFields,
    InputMissingPolicy,
    ModalityBase,
    SequenceFields,
)
from fusegen.spec.registry import ConfigSlot

_IMPUTE_NUMBERS = (
    "With missing: impute or mask, fill with the mean or the median of the training split "
    "(per column; per channel for a sequence)."
)


class InputConfig(ModalityBase):
    """The base of every input kind's config.

    A kind is a subclass with ``kind: Literal["my_kind"]``, an ``encoder``
    field typed as its encoder config, and ``model_shape``; it answers the
    questions below instead of being named anywhere. It joins the spec through
    `fusegen.data.register_input_kind`, which also pairs it with its converter.
    """

    #: Small valid configs of this kind, one per form it takes; the conformance tests plan each.
    examples: ClassVar[tuple[dict, ...]] = ()

    column: str | None = Field(
        default=None,
        description="Column or array field holding this input; the input's name when omitted.",
    )
    missing: InputMissingPolicy | None = Field(
        default=None,
        description="Missing values (NaN, None, empty) in this input: 'error' names their rows, "
        "'drop_rows' drops those rows, 'impute' fills them from the training split (numeric and "
        "sequence: the mean or median, see impute_with; categorical and text: a '[MISSING]' label). "
        "'mask' (numeric and sequence) imputes and also gives the model a 0/1 indicator of each "
        "filled value: one extra feature per column, or one extra channel per channel. "
        "Follows data.missing when omitted.",
    )

    @property
    def masks_missing(self) -> bool:
        """Whether the model also gets a 0/1 indicator of each missing value."""
        return self.missing == "mask"

    # What the pipeline, the planner and the export ask of an input kind, instead of its name.

    def columns_read(self, column: str) -> list[str]:
        """The table columns this input reads: its ``columns`` if it has them, else ``column``."""
        columns = getattr(self, "columns", None)
        return list(columns) if columns else [column]

    @property
    def takes_ids(self) -> bool:
        """Whether the model gets this input as integer ids (categories, tokens), not floats."""
        return False

    @property
    def fits_vocabulary(self) -> bool:
        """Whether its vocabulary is fitted on the data (so planning exactly needs the data)."""
        return False

    @property
    def vocabulary_size_before_fitting(self) -> int | None:
        """The id range the model must hold when planned without data; None when unknown."""
        return None

    def _reject_mask(self, why: str) -> None:
        if self.missing == "mask":
            raise ValueError(
                f"missing: mask is for numeric and sequence inputs; {why}, received missing: mask"
            )


class ImageInput(ImageFields, InputConfig):
    """An image, rescaled to [0, 1] floats of the given size."""

    default_component_type: ClassVar[str] = "conv"
    examples: ClassVar[tuple[dict, ...]] = ({"kind": "image", "height": 8, "width": 8, "channels": 3},)

    resize: bool = Field(
        default=True,
        description="Resize images of another size (files or arrays) to height x width; "
        "when false such an image is an error.",
    )
    convert_channels: bool = Field(
        default=False,
        description="Convert images with another channel count (grey, grey + alpha, RGB, RGBA) "
        "to 'channels' (transparent pixels laid on white where alpha is dropped); when false such "
        "an image is an error.",
    )
    encoder: ImageEncoder = Field(default_factory=ConvImageEncoder)

    @model_validator(mode="after")
    def _no_imputation(self) -> ImageInput:
        if self.missing in ("impute", "mask"):
            raise ValueError(
                f"an image cannot be imputed; use missing: error or drop_rows, received missing: {self.missing}"
            )
        return self


class TextInput(InputConfig):
    """Raw strings, tokenised with a fitted vocabulary, or precomputed embeddings.

    Give ``embedding_size`` for precomputed embedding vectors; otherwise the
    column holds raw text, tokenised into ``sequence_length`` token ids.
    """

    @classmethod
    def _component_default(cls, data) -> str:
        return "dense" if data.get("embedding_size") else "embedding_pool"

    kind: Literal["text"]
    examples: ClassVar[tuple[dict, ...]] = (
        {"kind": "text", "max_tokens": 12, "sequence_length": 4},
        {"kind": "text", "embedding_size": 8},
    )
    max_tokens: PositiveInt = Field(default=5000, ge=3)
    sequence_length: PositiveInt = 16
    embedding_size: PositiveInt | None = None
    encoder: TextEncoder | None = None

    @model_validator(mode="after")
    def _encoder_matches_form(self) -> TextInput:
        expected = ["dense"] if self.embedding_size else ["embedding_pool", "transformer"]
        if self.encoder is None:
            default = DenseVectorEncoder() if self.embedding_size else EmbeddingPoolTextEncoder()
            object.__setattr__(self, "encoder", default)
        elif self.encoder.type not in expected:
            form = "precomputed embeddings" if self.embedding_size else "raw text"
            raise ValueError(
                f"a text input of {form} needs encoder type {' or '.join(map(repr, expected))}, "
                f"received '{self.encoder.type}'"
            )
        return self

    @model_validator(mode="after")
    def _no_mask(self) -> TextInput:
        self._reject_mask("a text input marks a missing text with the text '[MISSING]' under missing: impute")
        return self

    @property
    def is_raw_text(self) -> bool:
        return self.embedding_size is None

    @property
    def takes_ids(self) -> bool:
        return self.is_raw_text

    @property
    def fits_vocabulary(self) -> bool:
        return self.is_raw_text

    @property
    def vocabulary_size_before_fitting(self) -> int | None:
        # Before fitting, the vocabulary can grow to max_tokens.
        return self.max_tokens if self.is_raw_text else None

    def model_shape(self, vocabulary_sizes=None) -> tuple[int, ...]:
        if self.embedding_size:
            return (self.embedding_size,)
        return (self.sequence_length,)


class NumericInput(InputConfig):
    """Numeric columns (a table) or one vector field (arrays), standardised."""

    default_component_type: ClassVar[str] = "dense"

    kind: Literal["numeric"]
    examples: ClassVar[tuple[dict, ...]] = ({"kind": "numeric", "size": 3},)
    columns: list[str] | None = Field(default=None, min_length=1, description="Table columns, in order.")
    size: PositiveInt | None = Field(default=None, description="Length of a vector field, for array sources.")
    impute_with: Literal["mean", "median"] = Field(default="mean", description=_IMPUTE_NUMBERS)
    encoder: NumericEncoder = Field(default_factory=DenseVectorEncoder)

    @model_validator(mode="after")
    def _columns_or_size(self) -> NumericInput:
        if (self.columns is None) == (self.size is None):
            raise ValueError(
                "give exactly one of 'columns' (table columns) or 'size' "
                f"(a vector field), received columns={self.columns}, size={self.size}"
            )
        return self

    @property
    def num_features(self) -> int:
        return len(self.columns) if self.columns else int(self.size)

    def model_shape(self, vocabulary_sizes=None) -> tuple[int, ...]:
        # Under missing: mask, the features are followed by one 0/1 indicator each.
        return (self.num_features * (2 if self.masks_missing else 1),)


class CategoricalInput(InputConfig):
    """One column of labels, mapped to integer ids; id 0 is out-of-vocabulary."""

    default_component_type: ClassVar[str] = "embedding"

    kind: Literal["categorical"]
    examples: ClassVar[tuple[dict, ...]] = ({"kind": "categorical", "vocabulary": ["a", "b", "c"]},)
    vocabulary: list[str] | None = Field(
        default=None, min_length=1, description="Fixed labels; fitted on data when omitted."
    )
    impute_with: Literal["missing_label", "most_frequent"] = Field(
        default="missing_label",
        description="With missing: impute, fill with a '[MISSING]' label of its own or with the "
        "most frequent label of the training split.",
    )
    encoder: CategoricalEncoder = Field(default_factory=EmbeddingCategoricalEncoder)

    @field_validator("vocabulary")
    @classmethod
    def _unique(cls, value):
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"vocabulary has repeated labels, received {value}")
        return value

    @property
    def takes_ids(self) -> bool:
        return True

    @property
    def fits_vocabulary(self) -> bool:
        return not self.vocabulary

    @property
    def vocabulary_size_before_fitting(self) -> int | None:
        # Id 0 is out-of-vocabulary.
        return len(self.vocabulary) + 1 if self.vocabulary else None

    @model_validator(mode="after")
    def _no_mask(self) -> CategoricalInput:
        self._reject_mask(
            "a categorical input marks a missing value with a '[MISSING]' category of its own under "
            "missing: impute"
        )
        return self

    def model_shape(self, vocabulary_sizes=None) -> tuple[int, ...]:
        return ()


class SequenceInput(SequenceFields, InputConfig):
    """A window of steps x channels, e.g. one sensor's readings."""

    default_component_type: ClassVar[str] = "conv1d"
    examples: ClassVar[tuple[dict, ...]] = ({"kind": "sequence", "steps": 8, "channels": 2},)

    impute_with: Literal["mean", "median"] = Field(default="mean", description=_IMPUTE_NUMBERS)
    known_future: bool = Field(
        default=False,
        description="The steps are known ahead for the output's own steps (tomorrow's weather forecast, "
        "the calendar): the head joins them to the generated series step by step, besides the fused "
        "summary. Needs a sequence output of the same steps and an objective with a head.",
    )
    window_units: list[StrictStr | NonNegativeInt] = Field(
        default_factory=list,
        description="Channels read in each window's own units: less the window's mean, over its spread. "
        "Name a column of `columns`, or give a channel's index. For a covariate that wanders like a random "
        "walk (another exchange rate, an index), whose level in a forecast window is one training never "
        "saw; `fusegen init` lists such columns. A channel that the output continues is already read so "
        "(output.context_scaling).",
    )
    encoder: SequenceEncoder = Field(default_factory=Conv1DSequenceEncoder)

    @model_validator(mode="after")
    def _window_units_name_channels(self) -> SequenceInput:
        self.window_unit_channels()
        return self

    def window_unit_channels(self) -> list[int]:
        """The channel indices that ``window_units`` names, in order; raises ValueError for a name it does not read."""
        names = [column for column, _ in self.channel_sources("")] if self.columns is not None else []
        channels = []
        for entry in self.window_units:
            if isinstance(entry, str):
                if entry not in names:
                    read = (
                        f"its columns are {names}"
                        if names
                        else "it reads one column, so give channel indices"
                    )
                    raise ValueError(f"window_units names '{entry}', which this input does not read; {read}")
                channel = names.index(entry)
            elif entry >= self.channels:
                raise ValueError(
                    f"window_units gives channel {entry}, but the input has {self.channels} channels (0 to "
                    f"{self.channels - 1})"
                )
            else:
                channel = entry
            if channel not in channels:
                channels.append(channel)
        return channels

    def model_shape(self, vocabulary_sizes=None) -> tuple[int, ...]:
        # Under missing: mask, the channels are followed by one 0/1 indicator channel each.
        return (self.steps, self.channels * (2 if self.masks_missing else 1))


#: The input configs the spec accepts, by ``kind``; `register_input_kind` adds one.
INPUT_SLOT = ConfigSlot(
    "inputs.*",
    "kind",
    [ImageInput, TextInput, NumericInput, CategoricalInput, SequenceInput],
    InputConfig,
)
InputSpec = INPUT_SLOT.annotation()


# A part registered later (one file of its own) rebuilds these fields with its config.
ENCODER_SLOTS["image"].attach(ImageInput, "encoder")
ENCODER_SLOTS["text"].attach(TextInput, "encoder", optional=True)
ENCODER_SLOTS["numeric"].attach(NumericInput, "encoder")
ENCODER_SLOTS["categorical"].attach(CategoricalInput, "encoder")
ENCODER_SLOTS["sequence"].attach(SequenceInput, "encoder")


def register_input_kind(config: type[InputConfig]) -> type[InputConfig]:
    """Accept a new input kind in the spec, and open an encoder slot for it.

    Its ``encoder`` field's config becomes the first member of
    ``ENCODER_SLOTS[kind]``, so ``ENCODERS.register(kind, ...)`` can add more.
    Called by `fusegen.data.register_input_kind`, which also registers the
    kind's converter; use that one.
    """
    (kind,) = INPUT_SLOT.names_of(config)
    field = config.model_fields.get("encoder")
    encoder = field.annotation if field is not None else None
    if not (isinstance(encoder, type) and issubclass(encoder, Component)):
        raise TypeError(
            f"input kind '{kind}' ({config.__name__}) needs a field 'encoder' typed as its encoder config "
            f"(a Component subclass), e.g. encoder: MyEncoder = Field(default_factory=MyEncoder); "
            f"received {encoder!r}"
        )
    if kind not in ENCODER_SLOTS:
        ENCODER_SLOTS[kind] = ConfigSlot(f"inputs.*.encoder ({kind})", "type", [encoder], Component)
        ENCODER_SLOTS[kind].attach(config, "encoder")
    return INPUT_SLOT.register(config)
