"""Typed configs of the inputs and the output, one class per kind.

Each input and the output know their shape as the model sees it (without the
batch axis) through ``model_shape``; that is all the shape planner needs from
the spec. Vocabulary sizes that are fitted on data are passed in as
``vocabulary_sizes`` by the caller that fitted them.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)

from fusegen.spec.components import (
    ENCODER_SLOTS,
    HEAD_SLOTS,
    CategoricalEncoder,
    Conv1DSequenceEncoder,
    ConvImageEncoder,
    ConvSequenceHead,
    DenseVectorEncoder,
    EmbeddingCategoricalEncoder,
    EmbeddingPoolTextEncoder,
    ImageEncoder,
    ImageHead,
    MLPHead,
    NumericEncoder,
    SequenceEncoder,
    SequenceHead,
    TextEncoder,
    UpsampleImageHead,
    VectorHead,
)

MissingPolicy = Literal["error", "drop_rows"]

#: What an input does with a missing value (NaN, None, empty string); ``None`` follows ``data.missing``.
InputMissingPolicy = Literal["error", "drop_rows", "impute", "mask"]

_IMPUTE_NUMBERS = (
    "With missing: impute or mask, fill with the mean or the median of the training split "
    "(per column; per channel for a sequence)."
)


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``type`` used when an ``encoder`` / ``head`` mapping leaves it out.
    default_component_type: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def _default_component_type(cls, data):
        if not isinstance(data, dict):
            return data
        for key in ("encoder", "head"):
            component = data.get(key)
            if isinstance(component, dict) and "type" not in component:
                default = cls._component_default(data)
                if default:
                    data = {**data, key: {"type": default, **component}}
        return data

    @classmethod
    def _component_default(cls, data) -> str | None:
        return cls.default_component_type


class StepsAndChannels(_Part):
    """Which part of a stored sequence array an input or output reads."""

    channels: list[Annotated[int, Field(ge=0)]] | None = Field(
        default=None, description="Channel indices to keep; all when omitted."
    )
    steps: tuple[Annotated[int, Field(ge=0)], PositiveInt] | None = Field(
        default=None, description="[start, stop) step range; all when omitted."
    )

    @model_validator(mode="after")
    def _ordered(self) -> StepsAndChannels:
        if self.steps is not None and self.steps[0] >= self.steps[1]:
            raise ValueError(f"steps must be [start, stop) with start < stop, received {list(self.steps)}")
        return self


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------


class _Input(_Part):
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


class ImageInput(_Input):
    """An image, rescaled to [0, 1] floats of the given size."""

    default_component_type: ClassVar[str] = "conv"

    kind: Literal["image"]
    height: PositiveInt
    width: PositiveInt
    channels: Literal[1, 3, 4] = 3
    resize: bool = Field(
        default=True,
        description="Resize images of another size (files or arrays) to height x width; "
        "when false such an image is an error.",
    )
    convert_channels: bool = Field(
        default=False,
        description="Convert images with another channel count (grey, grey + alpha, RGB, RGBA) "
        "to 'channels'; when false such an image is an error.",
    )
    encoder: ImageEncoder = Field(default_factory=ConvImageEncoder)

    @model_validator(mode="after")
    def _no_imputation(self) -> ImageInput:
        if self.missing in ("impute", "mask"):
            raise ValueError(
                f"an image cannot be imputed; use missing: error or drop_rows, received missing: {self.missing}"
            )
        return self

    def model_shape(self, vocabulary_sizes=None) -> tuple[int, ...]:
        return (self.height, self.width, self.channels)


class TextInput(_Input):
    """Raw strings, tokenised with a fitted vocabulary, or precomputed embeddings.

    Give ``embedding_size`` for precomputed embedding vectors; otherwise the
    column holds raw text, tokenised into ``sequence_length`` token ids.
    """

    @classmethod
    def _component_default(cls, data) -> str:
        return "dense" if data.get("embedding_size") else "embedding_pool"

    kind: Literal["text"]
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


class NumericInput(_Input):
    """Numeric columns (a table) or one vector field (arrays), standardised."""

    default_component_type: ClassVar[str] = "dense"

    kind: Literal["numeric"]
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


class CategoricalInput(_Input):
    """One column of labels, mapped to integer ids; id 0 is out-of-vocabulary."""

    default_component_type: ClassVar[str] = "embedding"

    kind: Literal["categorical"]
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


_SEQUENCE_COLUMNS = (
    "One column per channel: scalar columns of a long table cut into windows by data.windows, "
    "or (examples, steps) array fields; stacked in this order. Instead of 'column'."
)


class SequenceInput(_Input):
    """A window of steps x channels, e.g. one sensor's readings."""

    default_component_type: ClassVar[str] = "conv1d"

    kind: Literal["sequence"]
    steps: PositiveInt
    channels: PositiveInt
    columns: list[str] | None = Field(default=None, min_length=1, description=_SEQUENCE_COLUMNS)
    select: StepsAndChannels | None = None
    impute_with: Literal["mean", "median"] = Field(default="mean", description=_IMPUTE_NUMBERS)
    encoder: SequenceEncoder = Field(default_factory=Conv1DSequenceEncoder)

    @model_validator(mode="after")
    def _select_matches_shape(self) -> SequenceInput:
        _check_selection(self.select, self.steps, self.channels, self.columns, self.column)
        return self

    def model_shape(self, vocabulary_sizes=None) -> tuple[int, ...]:
        # Under missing: mask, the channels are followed by one 0/1 indicator channel each.
        return (self.steps, self.channels * (2 if self.masks_missing else 1))


InputSpec = Annotated[
    Union[ImageInput, TextInput, NumericInput, CategoricalInput, SequenceInput],
    Field(discriminator="kind"),
]


def _check_selection(
    select: StepsAndChannels | None,
    steps: int,
    channels: int,
    columns: list[str] | None = None,
    column: str | None = None,
):
    if columns is not None:
        if column is not None:
            raise ValueError(f"give 'column' or 'columns', not both, received column={column!r}")
        available = len(columns)
        if select is not None and select.channels is not None:
            if max(select.channels) >= available:
                raise ValueError(
                    f"select.channels {select.channels} names a channel past the {available} columns"
                )
        elif available != channels:
            raise ValueError(f"columns lists {available} channels but channels={channels}")
    if select is None:
        return
    if select.channels is not None and len(select.channels) != channels:
        raise ValueError(f"select.channels lists {len(select.channels)} channels but channels={channels}")
    if select.steps is not None and select.steps[1] - select.steps[0] != steps:
        raise ValueError(
            f"select.steps {list(select.steps)} covers "
            f"{select.steps[1] - select.steps[0]} steps but steps={steps}"
        )


# --------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------


class _Output(_Part):
    name: str = Field(default="output", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    column: str | None = Field(
        default=None, description="Column or array field of the target; the name when omitted."
    )

    def part_names(self) -> list[str]:
        """Names of the loss parts; loss weights are keyed by these."""
        return [self.name]


class ImageOutput(_Output):
    """An image of exactly this size, returned in ``value_range`` as ``dtype``."""

    default_component_type: ClassVar[str] = "upsample"

    kind: Literal["image"]
    height: PositiveInt
    width: PositiveInt
    channels: Literal[1, 3, 4] = 3
    resize: bool = Field(default=True, description="Resize target images of another size (files or arrays).")
    convert_channels: bool = Field(
        default=False, description="Convert target images with another channel count to 'channels'."
    )
    value_range: tuple[float, float] = (0.0, 255.0)
    dtype: Literal["uint8", "float32"] = "uint8"
    head: ImageHead = Field(default_factory=UpsampleImageHead)

    @model_validator(mode="after")
    def _range_ordered(self) -> ImageOutput:
        low, high = self.value_range
        if low >= high:
            raise ValueError(f"value_range must be [low, high] with low < high, received {[low, high]}")
        return self

    def model_shape(self, vocabulary_sizes=None) -> tuple[int, ...]:
        return (self.height, self.width, self.channels)


class SequenceOutput(_Output):
    """A sequence of exactly ``steps`` x ``channels``."""

    default_component_type: ClassVar[str] = "conv1d"

    kind: Literal["sequence"]
    steps: PositiveInt
    channels: PositiveInt
    columns: list[str] | None = Field(default=None, min_length=1, description=_SEQUENCE_COLUMNS)
    select: StepsAndChannels | None = None
    clip: bool = Field(
        default=True,
        description="Clip generated windows per channel to the range seen in training, as a bounded "
        "output layer would; false lets samples leave it.",
    )
    head: SequenceHead = Field(default_factory=ConvSequenceHead)

    @model_validator(mode="after")
    def _select_matches_shape(self) -> SequenceOutput:
        _check_selection(self.select, self.steps, self.channels, self.columns, self.column)
        return self

    def model_shape(self, vocabulary_sizes=None) -> tuple[int, ...]:
        return (self.steps, self.channels)


class RecordOutput(_Output):
    """A record of named numeric and categorical columns.

    The model predicts one part for all numeric columns (``numeric``) and one
    part per categorical column, keyed by the column name.
    """

    default_component_type: ClassVar[str] = "mlp"

    kind: Literal["record"]
    name: str = Field(default="record", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)
    vocabularies: dict[str, list[str]] = Field(
        default_factory=dict, description="Fixed labels per categorical column; fitted when omitted."
    )
    numeric_transform: Literal["quantile", "standard"] = Field(
        default="quantile",
        description="'quantile' maps each numeric column through its empirical quantiles to a normal "
        "(copes with skewed and multi-modal columns); 'standard' subtracts the mean, divides by the std.",
    )
    integer: list[str] = Field(
        default_factory=list,
        description="Numeric columns returned as integers (columns of integer dtype are detected too).",
    )
    datetime: list[str] = Field(
        default_factory=list, description="Numeric columns holding dates or times, returned as datetimes."
    )
    datetime_formats: dict[str, str] = Field(
        default_factory=dict,
        description="The text format of datetime columns, in strftime codes: {when: '%d/%m/%Y'} reads "
        "02/01/2020 as 2 January. A column without one is read as ISO 8601 (2020-01-02), or in the format "
        "pandas guesses from its first value. `fusegen init` detects it.",
    )
    nullable: list[str] = Field(
        default_factory=list,
        description="Columns whose missing values are generated at the real rate; numeric ones get a "
        "'COLUMN_is_missing' part, categorical ones a '[MISSING]' label.",
    )
    head: VectorHead = Field(default_factory=MLPHead)

    @model_validator(mode="after")
    def _columns_make_sense(self) -> RecordOutput:
        if not self.numeric and not self.categorical:
            raise ValueError("a record output needs at least one numeric or categorical column")
        repeated = sorted(set(self.numeric) & set(self.categorical))
        if repeated:
            raise ValueError(f"columns cannot be both numeric and categorical, received {repeated}")
        if "numeric" in self.categorical:
            raise ValueError("'numeric' is reserved for the numeric part; rename that categorical column")
        unknown = sorted(set(self.vocabularies) - set(self.categorical))
        if unknown:
            raise ValueError(f"vocabularies given for columns that are not categorical: {unknown}")
        for key in ("integer", "datetime"):
            stray = sorted(set(getattr(self, key)) - set(self.numeric))
            if stray:
                raise ValueError(f"{key} lists columns that are not numeric columns of the record: {stray}")
        stray = sorted(set(self.nullable) - set(self.numeric) - set(self.categorical))
        if stray:
            raise ValueError(f"nullable lists columns that are not in the record: {stray}")
        stray = sorted(set(self.datetime_formats) - set(self.datetime))
        if stray:
            raise ValueError(f"datetime_formats names columns that are not datetime columns: {stray}")
        codeless = {
            column: text
            for column, text in self.datetime_formats.items()
            if "%" not in text and text != "ISO8601"
        }
        if codeless:
            raise ValueError(
                f"datetime_formats take strftime codes such as '%d/%m/%Y' (or 'ISO8601'), received {codeless}"
            )
        return self

    def missing_parts(self) -> list[str]:
        """The parts that say whether a nullable numeric column is missing."""
        return [f"{column}_is_missing" for column in self.numeric if column in self.nullable]

    def categorical_parts(self) -> list[str]:
        """Parts predicted as categories: categorical columns, then missing indicators."""
        return list(self.categorical) + self.missing_parts()

    def part_names(self) -> list[str]:
        return (["numeric"] if self.numeric else []) + self.categorical_parts()

    def model_shape(self, vocabulary_sizes=None) -> tuple[int, ...]:
        return (len(self.numeric) + len(self.categorical),)


class VectorOutput(_Output):
    """A vector of ``size`` numbers (standardised for training, returned in the user's units)."""

    default_component_type: ClassVar[str] = "mlp"

    kind: Literal["vector"]
    size: PositiveInt
    head: VectorHead = Field(default_factory=MLPHead)

    def model_shape(self, vocabulary_sizes=None) -> tuple[int, ...]:
        return (self.size,)


OutputSpec = Annotated[
    Union[ImageOutput, SequenceOutput, RecordOutput, VectorOutput],
    Field(discriminator="kind"),
]

__all__ = [
    "CategoricalInput",
    "ImageInput",
    "ImageOutput",
    "InputMissingPolicy",
    "InputSpec",
    "MissingPolicy",
    "NumericInput",
    "OutputSpec",
    "RecordOutput",
    "SequenceInput",
    "SequenceOutput",
    "StepsAndChannels",
    "TextInput",
    "VectorOutput",
    "ConvSequenceHead",
]


# A part registered later (one file of its own) rebuilds these fields with its config.
for _kind, _owner in (
    ("image", ImageInput),
    ("numeric", NumericInput),
    ("categorical", CategoricalInput),
    ("sequence", SequenceInput),
):
    ENCODER_SLOTS[_kind].attach(_owner, "encoder")
ENCODER_SLOTS["text"].attach(TextInput, "encoder", optional=True)
for _kind, _owner in (
    ("image", ImageOutput),
    ("sequence", SequenceOutput),
    ("record", RecordOutput),
    ("vector", VectorOutput),
):
    HEAD_SLOTS[_kind].attach(_owner, "head")
