"""Typed configs of the output, one class per kind.

Each output knows its shape as the model sees it (without the batch axis)
through ``model_shape``, and the names of its loss parts through ``part_names``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Union

from pydantic import Field, PositiveInt, model_validator

from fusegen.spec.components import (
    HEAD_SLOTS,
    ConvSequenceHead,
    ImageHead,
    MLPHead,
    SequenceHead,
    UpsampleImageHead,
    VectorHead,
)
from fusegen.spec.modality_base import ImageFields, ModalityBase, SequenceFields

#: An output's name becomes a Python identifier and a Keras layer name.
_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Output(ModalityBase):
    name: str = Field(default="output", pattern=_NAME_PATTERN)
    column: str | None = Field(
        default=None, description="Column or array field of the target; the name when omitted."
    )

    def part_names(self) -> list[str]:
        """Names of the loss parts; loss weights are keyed by these."""
        return [self.name]


class ImageOutput(ImageFields, _Output):
    """An image of exactly this size, returned in ``value_range`` as ``dtype``."""

    default_component_type: ClassVar[str] = "upsample"

    resize: bool = Field(default=True, description="Resize target images of another size (files or arrays).")
    convert_channels: bool = Field(
        default=False,
        description="Convert target images with another channel count to 'channels' (transparent "
        "pixels laid on white where alpha is dropped).",
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


class SequenceOutput(SequenceFields, _Output):
    """A sequence of exactly ``steps`` x ``channels``."""

    default_component_type: ClassVar[str] = "conv1d"

    clip: bool = Field(
        default=True,
        description="Clip generated windows per channel to the range seen in training, as a bounded "
        "output layer would; false lets samples leave it. A channel that continues its context (see "
        "context_scaling) may leave the range but keeps its training sign: never negative if it never "
        "was.",
    )
    context_anchors: bool = Field(
        default=True,
        description="Where a channel continues an input's (same column and channel, the input's "
        "select.steps ending where the output's begin), show the head that channel's last value and "
        "its values one horizon earlier at each output step. Needs an objective with a head.",
    )
    context_cycles: bool = Field(
        default=True,
        description="With context_anchors: also show the head each window's last cycle repeated (its "
        "period: the lag, up to half the context, where the autocorrelation peaks after it stops falling "
        "from lag 1), so a forecast can continue a rhythm whose period differs from window to window.",
    )
    context_autoregression: bool = Field(
        default=True,
        description="With context_anchors: also show the head each window's own linear prediction, an "
        "autoregression fitted to that window alone (one coefficient per 8 context steps; none under 16 "
        "steps) and rolled over the horizon, so a forecast can continue an oscillation whose phase and "
        "damping differ from window to window.",
    )
    context_lags: list[PositiveInt] = Field(
        default_factory=list,
        description="With context_anchors: also show the head each continued channel's value this many steps "
        "before each output step (336 for half-hours: the same time a week earlier), repeated where the lag "
        "is shorter than the horizon; a lag longer than the context is left out. `fusegen evaluate` scores "
        "each lag's seasonal-naive forecast beside the model. `fusegen init` writes a week for rows under a "
        "day apart whose context covers one.",
    )
    context_scaling: bool = Field(
        default=True,
        description="Where a channel continues an input's (as for context_anchors), the network reads "
        "that context channel scaled by its own window's mean and standard deviation, and its output "
        "is scaled back with them, so a forecast follows a level or a swing wider than any seen in "
        "training (reversible instance normalisation). Needs an objective with a head.",
    )
    context_scale_prior: float = Field(
        default=0.0,
        ge=0,
        description="With context_scaling: measure a window's spread as if the channel's own spread over "
        "the training data had added this many readings to the window. A short, nearly flat window (six "
        "years of a slow series) is then not magnified many times over; a long one keeps about its own "
        "spread. 0 uses the window's alone. `fusegen init` writes 1 for a context of at most 12 steps.",
    )
    level_scaling: bool = Field(
        default=True,
        description="With context_scaling: each series is generated in its own units. A continued channel "
        "is standardised as its context is, the output's learned correction acts in each window's units, "
        "and for a channel never below zero in training a window's scale prior and floor shrink with its "
        "level below a quarter of the channel's mean. A panel's small series (a country of ten thousand "
        "people beside ones of a billion) are then forecast at their own scale, not the panel's. Runs "
        "written before 0.17.0 keep false.",
    )
    head: SequenceHead = Field(default_factory=ConvSequenceHead)


#: A label is one a column's gaps follow (``gaps_follow``) only where at least this many training rows
#: have it: a label on one or two rows, all of them gaps, is as likely chance.
GAP_LABEL_MIN_ROWS = 3


class RecordOutput(_Output):
    """A record of named numeric and categorical columns.

    The model predicts one part for all numeric columns (``numeric``) and one
    part per categorical column, keyed by the column name.
    """

    default_component_type: ClassVar[str] = "mlp"

    kind: Literal["record"]
    name: str = Field(default="record", pattern=_NAME_PATTERN)
    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)
    vocabularies: dict[str, list[str]] = Field(
        default_factory=dict, description="Fixed labels per categorical column; fitted when omitted."
    )
    numeric_transform: Literal["quantile", "standard"] = Field(
        default="quantile",
        description="'quantile' maps each numeric column through its empirical quantiles to a normal "
        "(copes with skewed and multi-modal columns, and with a value repeated over many rows: a value that "
        "fills several quantiles maps to the middle of their levels, also at the column's minimum or maximum); "
        "'standard' subtracts the mean, divides by the std.",
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
        "02/01/2020 as 2 January; '%-d/%-m/%Y' (glibc's unpadded codes) writes it back as 2/1/2020. A "
        "column without one is read as ISO 8601 (2020-01-02), or in the format pandas guesses from its "
        "first value. `fusegen init` detects it.",
    )
    nullable: list[str] = Field(
        default_factory=list,
        description="Columns whose missing values are generated at the real rate; numeric ones get a "
        "'COLUMN_is_missing' part, categorical ones a '[MISSING]' label.",
    )
    determined_by: dict[str, str] = Field(
        default_factory=dict,
        description="Categorical columns whose label another categorical column fixes, {operator: opid}: "
        "each sampled row takes the label its determining column's label had in the data, and a given "
        "label confines the determining column to labels that had it. `fusegen init` detects them.",
    )
    gaps_follow: dict[str, str] = Field(
        default_factory=dict,
        description="Nullable columns whose gaps follow another categorical column's labels, {weight: "
        "species}: the labels beside which the column is missing in every training row (on at least "
        f"{GAP_LABEL_MIN_ROWS} rows each, and more where the column is often missing) leave a sampled row's "
        "cell missing too, and a given or filled cell confines the other column to labels that had one. "
        "`fusegen init` writes them.",
    )
    missing_together: list[list[str]] = Field(
        default_factory=list,
        description="Groups of nullable numeric columns missing in the same rows, [[iv_start, iv_stop]]: "
        "a sampled row draws the first column's gap and the others copy it, unless a given or filled "
        "cell rules that out. `fusegen init` writes the groups missing in exactly the same training rows.",
    )
    unseen_label_pairs: Literal["rule_out", "allow"] = Field(
        default="rule_out",
        description="'rule_out': a pair of labels of two categorical columns (or a label and a nullable "
        "number's gap) that no training row has, where the two labels are common enough that chance "
        "would have put at least 4.6 rows on it (a chance under 1% of seeing none), is never sampled: labels are drawn one column after "
        "another, each beside the labels already drawn or given (no Gentoo penguin on Dream island). "
        "Pairs of columns with the largest label grids are left out past 16 million table entries. 'allow' "
        "draws each column's label on its own, as runs fitted before 0.23.0 do.",
    )
    differences: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Numeric columns the record holds that the data does not, each the difference of two "
        "of its numeric columns, {'arr_delay - dep_delay': [arr_delay, dep_delay]}: computed from the "
        "rows (in seconds for two datetime columns, {'end - start': [end, start]}), modelled as a column of its "
        "own, and left out of what sampling, imputation and export "
        "return, where the first column is the second plus the drawn difference (a given first column "
        "stays as given). A column that follows another closely (an arrival delay its departure delay) "
        "keeps their gap's spread, which decoding each on its own can lose. Each name joins the record's "
        "numeric columns (nullable where either column is, whole where both are) without being listed. "
        "`fusegen init` notes candidates and writes none: on some tables they help, on others they cost "
        "quality (docs/benchmarks.md).",
    )
    sums: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Numeric columns that are the sum of other numeric columns in every training row, "
        "{paid_total: [paid_principal, paid_interest, paid_late_fees]}: each sampled or imputed row's "
        "total is its parts' sum, at the total's decimals; where a part is missing, a nullable total is "
        "missing too and any other is left as drawn; a given total stays as given. `fusegen init` detects "
        "them, a total with gaps where its gaps are exactly its parts' (a sum of answers, none where one "
        "is unanswered).",
    )
    orders: list[list[str]] = Field(
        default_factory=list,
        description="Pairs [low, high] of numeric columns (two plain numbers, or two datetimes: a start "
        "before its end) with low <= high in every training row where both are present, [[balance, "
        "loan_amount]]: a sampled or imputed row that breaks one is drawn again "
        "(with its conditions), and `sample` warns of any still breaking it after the redraws (a given "
        "cell can rule the order out). `fusegen init` detects them.",
    )
    head: VectorHead = Field(default_factory=MLPHead)

    @model_validator(mode="before")
    @classmethod
    def _differences_join_the_record(cls, data):
        """Each difference is one more numeric column of the record, nullable where either of its
        columns is and whole where both are, without the spec having to list it."""
        if not isinstance(data, dict) or not isinstance(data.get("differences"), dict):
            return data
        data = dict(data)
        lists = {key: list(data.get(key) or []) for key in ("numeric", "nullable", "integer")}
        for name, pair in data["differences"].items():
            if not isinstance(pair, list | tuple) or name in lists["numeric"]:
                continue
            lists["numeric"].append(name)
            if any(column in lists["nullable"] for column in pair):
                lists["nullable"].append(name)
            if pair and all(column in lists["integer"] for column in pair):
                lists["integer"].append(name)
        data.update({key: values for key, values in lists.items() if values or key in data})
        return data

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
        stray = sorted({*self.determined_by, *self.determined_by.values()} - set(self.categorical))
        if stray:
            raise ValueError(
                f"determined_by names columns that are not categorical columns of the record: {stray}"
            )
        stray = sorted(set(self.gaps_follow) - set(self.nullable)) + sorted(
            set(self.gaps_follow.values()) - set(self.categorical)
        )
        if stray or any(column == by for column, by in self.gaps_follow.items()):
            raise ValueError(
                "gaps_follow takes {nullable column: another categorical column}; received "
                f"{self.gaps_follow}" + (f" ({stray} are not such columns)" if stray else "")
            )
        grouped = [column for group in self.missing_together for column in group]
        nullable_numbers = set(self.nullable) & set(self.numeric)
        if any(len(group) < 2 for group in self.missing_together) or len(grouped) != len(set(grouped)):
            raise ValueError(
                "missing_together takes groups of two or more columns, each column in one group; received "
                f"{self.missing_together}"
            )
        stray = sorted(set(grouped) - nullable_numbers)
        if stray:
            raise ValueError(f"missing_together names columns that are not nullable numeric columns: {stray}")
        summed = {part for parts in self.sums.values() for part in parts}
        stray = sorted(({*self.sums} | summed) - (set(self.numeric) - set(self.datetime)))
        if stray:
            raise ValueError(
                f"sums names columns that are not numeric (non-datetime) columns of the record: {stray}"
            )
        if (
            any(len(set(parts)) < 2 or total in parts for total, parts in self.sums.items())
            or set(self.sums) & summed
        ):
            raise ValueError(
                "sums takes each total with two or more other columns, none of them a total itself; received "
                f"{self.sums}"
            )
        if any(
            len(pair) != 2 or pair[0] == pair[1] or [pair[1], pair[0]] in self.orders for pair in self.orders
        ):
            raise ValueError(
                f"orders takes pairs [low, high] of two different columns; received {self.orders}"
            )
        stray = sorted({column for pair in self.orders for column in pair} - set(self.numeric))
        if stray:
            raise ValueError(f"orders names columns that are not numeric columns of the record: {stray}")
        mixed = [pair for pair in self.orders if self._mixes_dates(pair)]
        if mixed:
            raise ValueError(
                f"orders pairs a datetime column with a plain number in {mixed}: each pair is two datetime "
                "columns (a start before its end) or two plain numeric ones"
            )
        self._check_differences()
        chained = sorted(set(self.determined_by) & set(self.determined_by.values()))
        if chained or any(column == by for column, by in self.determined_by.items()):
            raise ValueError(
                f"determined_by: a determined column cannot determine another or itself; received "
                f"{self.determined_by} ({chained or 'a column determined by itself'}). Name each one's "
                "determining column directly."
            )
        return self

    def _mixes_dates(self, pair) -> bool:
        return len({column in self.datetime for column in pair}) > 1

    def _check_differences(self) -> None:
        numbers = set(self.numeric)
        summed = set(self.sums) | {part for parts in self.sums.values() for part in parts}
        pairs = list(self.differences.values())
        firsts = [pair[0] for pair in pairs if len(pair) == 2]
        if (
            any(
                name not in numbers
                or name in summed
                or len(pair) != 2
                or pair[0] == pair[1]
                or not set(pair) <= numbers - set(self.differences)
                or set(pair) & summed
                or name in self.datetime
                or self._mixes_dates(pair)
                for name, pair in self.differences.items()
            )
            or len(firsts) != len(set(firsts))
            or set(firsts) & {pair[1] for pair in pairs}
        ):
            raise ValueError(
                "differences takes {name: [first, second]}: a numeric (non-datetime) column of the record "
                "computed as first - second, two other numeric columns (both plain numbers, or both "
                "datetimes, whose difference is in seconds), none of them in output.sums or another "
                "difference's name, each first column in one difference and never a second; "
                f"received {self.differences}"
            )

    def data_numeric(self) -> list[str]:
        """The numeric columns the data holds: all but the differences computed from them."""
        return [column for column in self.numeric if column not in self.differences]

    def data_columns(self) -> list[str]:
        """The record's columns as the data holds them and sampling returns them."""
        return self.data_numeric() + list(self.categorical)

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


# A part registered later (one file of its own) rebuilds these fields with its config.
HEAD_SLOTS["image"].attach(ImageOutput, "head")
HEAD_SLOTS["sequence"].attach(SequenceOutput, "head")
HEAD_SLOTS["record"].attach(RecordOutput, "head")
HEAD_SLOTS["vector"].attach(VectorOutput, "head")
