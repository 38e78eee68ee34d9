"""What the input and the output configs share: the base config, sequence selection, shape fields.

`ImageFields` and `SequenceFields` hold the fields an image (a sequence) input
and output both have. A config lists such a class first among its bases, so
pydantic keeps the input's or output's own common fields (``column``, ...)
first and the JSON Schema lists the keys in the same order as before.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

MissingPolicy = Literal["error", "drop_rows"]

#: What an input does with a missing value (NaN, None, empty string); ``None`` follows ``data.missing``.
InputMissingPolicy = Literal["error", "drop_rows", "impute", "mask"]

SEQUENCE_COLUMNS_DESCRIPTION = (
    "One column per channel: scalar columns of a long table cut into windows by data.windows, "
    "or (examples, steps) array fields; stacked in this order. Instead of 'column'."
)


class ModalityBase(BaseModel):
    """The base of every input and output config: unknown keys rejected, frozen, default part type."""

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


class StepsAndChannels(ModalityBase):
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


class ImageFields(ModalityBase):
    """The size of an image input or output, as the model sees it."""

    kind: Literal["image"]
    height: PositiveInt
    width: PositiveInt
    channels: Literal[1, 3, 4] = 3

    def model_shape(self, vocabulary_sizes=None) -> tuple[int, ...]:
        return (self.height, self.width, self.channels)


class SequenceFields(ModalityBase):
    """The window of a sequence input or output, and where it is read from.

    The subclass's other base declares ``column``.
    """

    kind: Literal["sequence"]
    steps: PositiveInt
    channels: PositiveInt
    columns: list[str] | None = Field(default=None, min_length=1, description=SEQUENCE_COLUMNS_DESCRIPTION)
    select: StepsAndChannels | None = None

    @model_validator(mode="after")
    def _select_matches_shape(self) -> SequenceFields:
        check_selection(self.select, self.steps, self.channels, self.columns, self.column)
        return self

    def model_shape(self, vocabulary_sizes=None) -> tuple[int, ...]:
        return (self.steps, self.channels)

    def channel_sources(self, default_column: str) -> list[tuple[str, int]]:
        """Where each channel is read from: (column, channel within that column).

        ``default_column`` is the column read when the spec names none (the
        input's or output's own name).
        """
        chosen = self.select.channels if self.select and self.select.channels is not None else None
        if self.columns is not None:
            return [(self.columns[index], 0) for index in (chosen or range(len(self.columns)))]
        return [(self.column or default_column, index) for index in (chosen or range(self.channels))]

    def step_range(self) -> tuple[int, int] | None:
        """The [start, stop) steps it reads from its column's series, where ``select.steps`` says."""
        return tuple(self.select.steps) if self.select and self.select.steps is not None else None


def check_selection(
    select: StepsAndChannels | None,
    steps: int,
    channels: int,
    columns: list[str] | None = None,
    column: str | None = None,
):
    """Check that ``select`` and ``columns`` agree with ``steps`` x ``channels``; raises ValueError."""
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
