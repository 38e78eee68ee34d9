"""The top-level spec of a generator: data, inputs, fusion, output, objective, training."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from fusegen.spec.components import FUSION_SLOT, ConcatFusion, FusionSpec
from fusegen.spec.inputs import INPUT_SLOT
from fusegen.spec.modalities import InputSpec, MissingPolicy, OutputSpec
from fusegen.spec.objectives import OBJECTIVE_SLOT, RegressionObjective

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

#: The cycles ``data.windows.calendar`` can add as channels, and each one's length in days
#: (`fusegen init` adds those a forecast's context is too short to see).
CALENDAR_CYCLES = {"hour_of_day": 1.0, "day_of_week": 7.0, "day_of_month": 30.44, "day_of_year": 365.25}
CalendarCycle = Literal["hour_of_day", "day_of_week", "day_of_month", "day_of_year"]


def calendar_column_names(cycles) -> list[str]:
    """The columns the calendar ``cycles`` add: each one's sine, then its cosine."""
    return [f"{cycle}_{part}" for cycle in cycles for part in ("sin", "cos")]


def label_column_names(column: str, labels) -> list[str]:
    """The 0/1 columns ``data.windows.one_hot`` adds for ``column``'s ``labels``: ``column=label``."""
    return [f"{column}={label}" for label in labels]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowSpec(_Section):
    """Cut a long table (one row per time step) into windows of ``length`` rows.

    Rows are ordered by ``time_column`` (file order when omitted) within each
    group of ``group_column`` (one group when omitted); a window never spans
    two groups. Sequence inputs and outputs read their ``columns`` as
    channels of each window; every other column takes the value of the
    window's first row.
    """

    length: PositiveInt = Field(description="Rows (time steps) per window.")
    stride: PositiveInt | None = Field(
        default=None,
        description="Rows between the starts of two windows; 'length' (no overlap) when omitted.",
    )
    training_stride: PositiveInt | None = Field(
        default=None,
        description="Rows between the starts of two training (and validation) windows; 'stride' when "
        "omitted. Smaller than 'stride', the model learns from more, overlapping windows, as forecasters "
        "train on every split point, while sampling and evaluation still take one window per 'stride'.",
    )
    group_column: str | None = Field(
        default=None, description="Column naming each recording, e.g. a subject."
    )
    time_column: str | None = Field(default=None, description="Column to order the rows of a group by.")
    calendar: list[CalendarCycle] = Field(
        default_factory=list,
        description="Cycles to add as channels, computed from time_column's dates: hour_of_day, day_of_week, "
        "day_of_month, day_of_year. Each adds two columns, '<cycle>_sin' and '<cycle>_cos' (its phase as an "
        "angle), that inputs read like any other; a forecast's known_future input can read them too, "
        "since every row's time is known ahead. For cycles longer than the context, which it cannot show "
        "(the season, for 28 days of daily rows). `fusegen init` adds those.",
    )

    one_hot: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Text columns to read as 0/1 channels, one per label, {weather: [rain, sun, snow]}: "
        "each label adds a column 'weather=rain' (1 where the row has it) that inputs read like any "
        "other, a known_future input too (a promotion planned, the weather forecast). A row whose label "
        "is not listed is an error naming it. `fusegen init` writes it for a --known-future column of "
        "labels.",
    )

    @model_validator(mode="after")
    def _calendar_has_times(self) -> WindowSpec:
        if self.calendar and not self.time_column:
            raise ValueError(
                f"calendar {list(self.calendar)} is computed from the rows' times, and time_column is not set; "
                "name the column of dates as time_column, or remove calendar"
            )
        repeated = sorted({cycle for cycle in self.calendar if self.calendar.count(cycle) > 1})
        if repeated:
            raise ValueError(f"calendar names {repeated} more than once; name each cycle once")
        for column, labels in self.one_hot.items():
            if not labels or len(set(labels)) != len(labels):
                raise ValueError(f"one_hot.{column} takes a list of distinct labels; received {labels}")
            if column in (self.time_column, self.group_column):
                raise ValueError(
                    f"one_hot names '{column}', the windows' time or group column, which cuts the windows "
                    "and is no channel"
                )
        return self

    def derived_columns(self) -> list[str]:
        """The columns ``calendar`` and ``one_hot`` add to the table."""
        labels = [
            name for column, values in self.one_hot.items() for name in label_column_names(column, values)
        ]
        return calendar_column_names(self.calendar) + labels


class DataSpec(_Section):
    """Where the training data comes from.

    ``source`` is a CSV, Parquet or NPZ file, a glob of CSV or Parquet files
    (``parts/*.csv``), a folder of images (one subfolder per class, or flat),
    ``python:MODULE:FUNCTION`` (or ``python:FILE.py:FUNCTION``) for a
    generator or ``keras.utils.PyDataset`` of your own, or ``bundled:NAME``
    for a dataset shipped with fusegen (``penguins``, ``basic_motions``,
    ``emoji_edits``, ``animal_shapes``). Relative paths resolve against the spec's folder.
    """

    source: str | None = Field(
        default=None,
        min_length=1,
        description="Where the data comes from; may be left out when the data is passed to fit() in Python.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of a bundled dataset (e.g. its size), or keyword arguments of a python: source.",
    )
    validation_split: float = Field(default=0.1, ge=0.0, lt=1.0)
    validation_from: Literal["random", "end"] = Field(
        default="random",
        description="Which rows validation_split holds out: a seeded random share, or with data.windows "
        "'end', the last windows in time (of each group): a forecast is then validated, and evaluated, on "
        "a later period than it learned from, as it will be used.",
    )
    split_column: str | None = Field(
        default=None,
        description="A column of 'train' and 'validation' that fixes which rows are held out, instead of a "
        "random validation_split: for a fixed test set, or to keep rows (say, unseen phrasings) out of training.",
    )
    missing: MissingPolicy = Field(
        default="error",
        description="'error' stops on the first NaN/empty value with its row and column; "
        "'drop_rows' drops those rows and reports how many. An input's own 'missing' overrides it, "
        "and can also fill them ('impute') or fill and mark them for the model ('mask').",
    )
    max_rows: PositiveInt | None = Field(default=None, description="Use only the first N rows.")
    trusted: bool = Field(
        default=True,
        description="false for a spec from someone else: no python: source is imported or called, and "
        "every file path must resolve inside the spec's folder (as with confine_paths). "
        "`fusegen validate/inspect/train --untrusted` sets it from the command line.",
    )
    confine_paths: bool = Field(
        default=False,
        description="Refuse any file path (data.source, image paths in the data) that resolves outside "
        "the spec's folder, symlinks followed, and every python: source (its code could read any file): "
        "for specs from others. trusted: false implies it.",
    )
    delimiter: str | None = Field(
        default=None,
        min_length=1,
        max_length=1,
        description="The field delimiter of CSV files (',', ';', a tab, '|'); detected when omitted.",
    )
    encoding: str = Field(
        default="utf-8",
        min_length=1,
        description="The text encoding of CSV files, e.g. 'latin-1' or 'cp1252' for files that are not UTF-8.",
    )
    strict: bool = Field(
        default=False,
        description="Reject columns that no input or output uses (often a misspelt column name).",
    )
    windows: WindowSpec | None = Field(
        default=None, description="Cut a long table of sensor readings into windows."
    )
    cache: Literal["auto"] | bool = Field(
        default="auto",
        description="Keep decoded images in memory after the first decode: 'auto' when they fit in a "
        "quarter of the machine's memory. Otherwise image files are decoded again every epoch.",
    )
    stream: Literal["auto"] | bool = Field(
        default="auto",
        description="Train from CSV or Parquet files batch by batch, never holding the table in memory "
        "(numeric, categorical, text and image inputs; record, vector and image outputs; images as file "
        "paths or bytes, decoded per batch; an image folder's images are decoded per batch too, its list of "
        "paths held in memory): preprocessing is fitted in one "
        "bounded pass, and each epoch reads the files in a new order through a shuffle buffer. 'auto' "
        "streams when the source's files hold more than 1 GB on disk (and data.max_rows is not set); "
        "false always reads the table into memory. See docs/distributed.md.",
    )
    split_key: str | None = Field(
        default=None,
        description="A column whose value (hashed as text) decides which rows validate: a row is held out "
        "when its key's hash falls in the first validation_split of the hash range. The split is then "
        "reproducible without the whole table, and the same in memory and streamed; rows with the same key "
        "land on the same side.",
    )
    validation_files: PositiveInt | None = Field(
        default=None,
        description="Hold out the last N files of a glob source (in name order) for validation, instead of "
        "a share of the rows; validation_split is then ignored.",
    )
    shuffle_buffer: PositiveInt = Field(
        default=65536,
        description="Streamed data only: rows held in the buffer that shuffles them; each batch is drawn "
        "from at least this many rows, read from the files in an order reshuffled every epoch.",
    )

    @property
    def untrusted(self) -> bool:
        """True when this spec may name no code and no path outside its folder."""
        return not self.trusted or self.confine_paths

    @model_validator(mode="after")
    def _one_way_to_split(self) -> DataSpec:
        given = [key for key in ("split_column", "split_key", "validation_files") if getattr(self, key)]
        if len(given) > 1:
            raise ValueError(
                f"give one of data.split_column, data.split_key and data.validation_files, received {given}"
            )
        if self.stream is True and self.cache is True:
            raise ValueError("data.stream: true never holds decoded images in memory; data.cache: true would")
        return self

    @property
    def pixel_cache(self) -> Literal["auto"] | bool:
        """``cache`` as training applies it: a stream (``stream: true``) never keeps decoded pixels."""
        return False if self.stream is True else self.cache


class ConditioningSpec(_Section):
    """How conditions may be left out at sampling time, and which columns may condition.

    With ``modality_dropout`` p > 0, each input is hidden from the model with
    probability p during training (replaced by a learned "absent" embedding),
    so ``sample()`` can later be given any subset of the inputs, or none.
    """

    modality_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    any_column: bool | Literal["auto"] = Field(
        default="auto",
        description="Record outputs: let sample() (and impute) condition on any subset of the record's own "
        "columns, not only on the inputs. Each training example then also sees a random subset of its own "
        "cells (a masked copy of the record), so one model learns every column's distribution given any "
        "others. 'auto': on for a record output with an objective that supports it (cvae), as `fusegen "
        "init` writes; false trains on the inputs alone, as runs from before it did.",
    )


class PrivacySpec(_Section):
    """How close a sampled record may come to a training record.

    The similarity filter keeps the encoded training rows in the run
    directory and redraws any sampled record that lies closer to one of them
    than most training rows lie to each other (`fusegen.privacy`).
    """

    similarity_filter: bool | Literal["auto"] = Field(
        default="auto",
        description="Record outputs: redraw every sampled record closer to a training record than the "
        "training records' own nearest-neighbour distance at `similarity_quantile` (numbers scaled by "
        "their training range, a category mismatch counting 1). The run directory then holds the training "
        "rows in that encoding, which sampling needs. 'auto': on for a record output with a generative "
        "objective trained from a table in memory; false keeps the run directory free of training rows.",
    )
    similarity_quantile: float = Field(
        default=0.05,
        gt=0.0,
        lt=0.5,
        description="The quantile of the training records' nearest-neighbour distances below which a "
        "sampled record is redrawn: 0.05 redraws what is closer to a training row than 95% of training "
        "rows are to their own nearest neighbour.",
    )


class TrainingSpec(_Section):
    """Optimisation settings."""

    batch_size: PositiveInt = 32
    epochs: PositiveInt | Literal["auto"] = Field(
        default="auto",
        description="Passes over the training rows. 'auto' chooses the length from the data: about "
        "10,000 optimiser steps, at least one pass and at most 200, in epochs of at least 50 steps; and "
        "where the objective's validation loss follows sample quality (regression, cvae) and there is "
        "a validation split, training stops once that loss stops improving and keeps the best weights.",
    )
    steps: PositiveInt | None = Field(
        default=None,
        description="Optimiser steps in all, instead of epochs: grouped into whole epochs of at least "
        "50 steps (or one pass), rounded up. 'epochs' must then be left at 'auto'.",
    )
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    learning_rate: PositiveFloat = 1e-3
    seed: int = Field(default=0, ge=0)
    steps_per_epoch: PositiveInt | None = Field(
        default=None, description="Cap on batches per epoch; a full pass when omitted."
    )
    ema_momentum: Annotated[float, Field(gt=0.0, lt=1.0)] | Literal["auto"] | None = Field(
        default="auto",
        description="Keep an exponential moving average of the weights with this momentum (e.g. 0.999) "
        "and generate from it after training; it smooths the last steps' noise, as diffusion models "
        "need. It averages over about 1 / (1 - momentum) steps, so train for many times that. 'auto' "
        "averages the last tenth or so of the steps that run for objectives that gain from it "
        "(diffusion) and none for the others; null turns it off. The run records the value used. With "
        "early stopping on the validation loss, that loss is the average's, and training ends on the "
        "average rather than on the best epoch's raw weights.",
    )
    steps_per_execution: PositiveInt = Field(
        default=8,
        description="Batches run per compiled TensorFlow call. Small models spend most of a step in "
        "Python between calls; 8 cuts that ~8-fold. Per-batch callbacks see every Nth batch.",
    )
    checkpoint_every: PositiveInt = Field(
        default=1, description="Write a resumable checkpoint every N epochs."
    )
    early_stopping_patience: PositiveInt | None = Field(
        default=None, description="Stop after N epochs without a better validation loss."
    )
    tensorboard: bool = Field(default=True, description="Write TensorBoard logs to RUN_DIR/logs.")
    distribution: Literal["none", "mirrored", "multi_worker"] = Field(
        default="none",
        description="'mirrored': tf.distribute.MirroredStrategy over this machine's GPUs (or CPUs); "
        "'multi_worker': MultiWorkerMirroredStrategy across the machines in TF_CONFIG. batch_size is "
        "the global batch, split across replicas; the learning rate is not rescaled.",
    )

    ensemble: PositiveInt = Field(
        default=1,
        description="Independent models trained one after another from seeds seed, seed + 1, ..., each "
        "with its own early stopping and calibration; sampling draws each sample from them in turn, so "
        "a row's samples pool them evenly (a deep ensemble). Fit time grows with the count. On the "
        "forecasting benchmark, 2 lowered the mean CRPS over three seeds by 0.3-2% (docs/benchmarks.md); "
        "the run directory holds every model.",
    )

    @model_validator(mode="after")
    def _steps_or_epochs(self) -> TrainingSpec:
        if self.steps is not None and self.epochs != "auto":
            raise ValueError(
                f"give training.steps or training.epochs, not both; received steps={self.steps} and "
                f"epochs={self.epochs}"
            )
        return self


class EvaluationSpec(_Section):
    """What `fusegen evaluate` reports beyond its defaults; the columns need not be model inputs."""

    group_by: list[str] = Field(
        default_factory=list,
        description="Columns to break the paired metrics down by (say, the instruction and whether its "
        "phrasing was seen in training): one table per column, and one for all of them together.",
    )
    label_column: str | None = Field(
        default=None,
        description="Image outputs: a column of class labels. A classifier trained on the real images "
        "judges whether each sample shows its row's class, and gives the features of the Frechet and "
        "kernel distances.",
    )
    seasonality: PositiveInt | None = Field(
        default=None,
        description="Sequence outputs with inputs (forecasts): the season in steps (48 for half-hours in a "
        "day, 7 for days in a week), for MASE's scale and the seasonal-naive baseline; 1 (the last value) "
        "when omitted. `fusegen init --target` sets it from the data's frequency.",
    )
    discriminative_fits: PositiveInt = Field(
        default=5,
        description="Sequence outputs: TimeGAN's discriminative score is the mean of this many post-hoc "
        "classifiers, each on its own 80/20 split of the windows, as TimeGAN's protocol averages several "
        "(10 there). One fit on a few dozen windows moves by 0.1 or more from split to split.",
    )
    discriminative_floor: bool = Field(
        default=True,
        description="Sequence outputs: also score as many classifiers on the real and generated windows "
        "shuffled together (two like mixtures), the score's chance level at this many windows: about 0.1 "
        "on 80 windows, near 0 on thousands. It doubles the discriminators' time.",
    )
    classifier_epochs: PositiveInt = Field(
        default=30,
        description="At most this many training passes of that classifier over the real images; it "
        "stops earlier once its loss on a held-out tenth of them stops improving.",
    )


class GeneratorSpec(_Section):
    """A multi-input generator: named inputs, their fusion, one output.

    Example:

    >>> from fusegen.spec import GeneratorSpec
    >>> spec = GeneratorSpec.model_validate({
    ...     "inputs": {
    ...         "size": {"kind": "numeric", "columns": ["a", "b"]},
    ...         "label": {"kind": "categorical", "vocabulary": ["x", "y"]},
    ...     },
    ...     "output": {"kind": "vector", "size": 4},
    ... })
    >>> spec.output.model_shape()
    (4,)
    """

    name: str = Field(default="generator", pattern=NAME_PATTERN)
    description: str = ""
    data: DataSpec | None = None
    inputs: dict[str, InputSpec] = Field(
        default_factory=dict,
        description="Named inputs (the conditions). None at all makes an unconditional "
        "generator, which needs a stochastic objective (cvae, cgan or diffusion).",
    )
    fusion: FusionSpec = Field(default_factory=ConcatFusion)
    output: OutputSpec
    objective: OBJECTIVE_SLOT.annotation() = Field(default_factory=RegressionObjective)
    conditioning: ConditioningSpec = Field(default_factory=ConditioningSpec)
    privacy: PrivacySpec = Field(default_factory=PrivacySpec)
    loss_weights: dict[str, PositiveFloat] = Field(
        default_factory=dict,
        description="Weight per output part (record: 'numeric' and each categorical "
        "column; other kinds: the output's name). Unlisted parts weigh 1.",
    )
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, inputs):
        import re

        bad = [name for name in inputs if not re.match(NAME_PATTERN, name)]
        if bad:
            raise ValueError(f"input names must be identifiers (letters, digits, _), received {bad}")
        return inputs

    @model_validator(mode="after")
    def _cross_checks(self) -> GeneratorSpec:
        problems = []
        if self.output.name in self.inputs:
            problems.append(f"output name '{self.output.name}' is also an input name; rename one")
        if not self.inputs:
            if not self.objective.is_generative:
                problems.append(
                    f"a spec without inputs is an unconditional generator, and the {self.objective.type} "
                    "objective has nothing to predict from; use objective {type: diffusion}, cvae or cgan, "
                    "or add inputs"
                )
            if self.conditioning.modality_dropout:
                problems.append("conditioning.modality_dropout needs inputs to drop; remove it")
        prior = getattr(self.objective, "prior", None)
        if prior in ("given_cells", "given_cells_fitted") and not self.conditions_on_any_column():
            problems.append(
                f"objective.prior '{prior}' draws the latent from the record cells a sample is given, "
                f"so it needs a record output conditioned on any column (cvae, conditioning.any_column); "
                f"received a {self.output.kind} output with any_column {self.conditioning.any_column!r}; "
                "use prior standard or conditional"
            )
        if self.conditioning.any_column is True and not self._can_condition_on_columns():
            problems.append(
                f"conditioning.any_column needs a record output and an objective that conditions on its "
                f"columns (cvae), received a {self.output.kind} output and objective '{self.objective.type}'; "
                "set it to auto or false"
            )
        numeric_scale = getattr(self.objective, "numeric_scale", "pooled")
        if numeric_scale != "pooled" and self.output.kind != "record":
            # Only a record's columns have scales of their own; a sequence's elements share one.
            problems.append(
                f"objective.numeric_scale '{numeric_scale}' sets the scales of a record output's numeric "
                f"columns, received a {self.output.kind} output, whose elements share one scale; remove the key"
            )
        parts = self.output.part_names()
        unknown = sorted(set(self.loss_weights) - set(parts))
        if unknown:
            problems.append(f"loss_weights has unknown parts {unknown}; the output's parts are {parts}")
        if self.fusion.layout == "grid":
            has_image = any(spec.kind == "image" for spec in self.inputs.values())
            if self.output.kind != "image" or not has_image:
                problems.append(
                    "fusion.layout 'grid' needs an image input and an image output, "
                    f"received output kind '{self.output.kind}'"
                    + ("" if has_image else " and no image input")
                    + "; use layout 'vector'"
                )
        skips_from = getattr(self.output.head, "skips_from", None)
        if skips_from not in (None, "none"):
            source = self.inputs.get(skips_from)
            if source is None or source.kind != "image":
                images = [name for name, spec in self.inputs.items() if spec.kind == "image"]
                problems.append(
                    f"output.head.skips_from '{skips_from}' must name an image input; the image inputs are "
                    f"{images or 'none'} (or write 'none' for no skips)"
                )
            elif source.height > self.output.height or source.width > self.output.width:
                problems.append(
                    f"output.head.skips_from '{skips_from}' is {source.height}x{source.width}, larger than the "
                    f"{self.output.height}x{self.output.width} output; its maps cannot join the decoder"
                )
        if self.training.ensemble > 1 and self.training.distribution != "none":
            problems.append(
                f"training.ensemble {self.training.ensemble} trains its models one after another on this "
                f"machine, and does not combine with training.distribution: {self.training.distribution}; "
                "set ensemble: 1 to train one model under tf.distribute"
            )
        problems += self._window_problems() + self._known_future_problems() + self._window_unit_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _can_condition_on_columns(self) -> bool:
        return self.output.kind == "record" and self.objective.conditions_on_record_columns

    def conditions_on_any_column(self) -> bool:
        """Whether the generator conditions on any subset of its record's columns (``conditioning.any_column``)."""
        return self.conditioning.any_column is not False and self._can_condition_on_columns()

    def filters_similar_records(self) -> bool:
        """Whether sampling redraws records too close to a training record (``privacy.similarity_filter``)."""
        return (
            self.privacy.similarity_filter is not False
            and self.output.kind == "record"
            and self.objective.is_generative
        )

    def known_future_inputs(self) -> list[str]:
        """The sequence inputs whose steps are the output's steps, known ahead."""
        return [name for name, part in self.inputs.items() if getattr(part, "known_future", False)]

    def continued_channels(self) -> list[tuple[int, str, int]]:
        """The output channels that continue an input's channel: ``(output channel, input, its channel)``.

        An output channel continues an input when both read the same column
        and channel and the input's ``select.steps`` end where the output's
        begin (the context of a forecast, say). Only a sequence output
        generated by a head uses this (`fusegen.models.head_inputs`): the head
        sees each such channel's last value and its values one horizon
        earlier, step by step (``output.context_anchors``), and works in the
        units of each window's context (``output.context_scaling``).
        """
        output = self.output
        if output.kind != "sequence" or not self.objective.plans_head:
            return []
        if output.step_range() is None:
            return []
        start = output.step_range()[0]
        contexts = {
            name: part.channel_sources(name)
            for name, part in self.inputs.items()
            if part.kind == "sequence"
            and not getattr(part, "known_future", False)
            and part.step_range() is not None
            and part.step_range()[1] == start
        }
        continued = []
        for channel, source in enumerate(output.channel_sources(output.name)):
            for name, sources in contexts.items():
                if source in sources:
                    continued.append((channel, name, sources.index(source)))
                    break
        return continued

    def _window_unit_problems(self) -> list[str]:
        """A channel both continued (read in its window's units with the output's) and in ``window_units``."""
        continued = self.continued_channels()  # empty for any output but a sequence's
        if not continued or not self.output.context_scaling:
            return []
        problems = []
        for _, name, channel in continued:
            if channel in self.inputs[name].window_unit_channels():
                problems.append(
                    f"inputs.{name}.window_units lists channel {channel} "
                    f"({self.inputs[name].channel_sources(name)[channel][0]}), which the output continues, "
                    "so it is already read in its window's units (output.context_scaling); remove it from "
                    "window_units"
                )
        return problems

    def _known_future_problems(self) -> list[str]:
        problems = []
        for name in self.known_future_inputs():
            steps = self.inputs[name].steps
            if self.output.kind != "sequence" or self.output.steps != steps:
                received = f"{self.output.kind} output" + (
                    f" of {self.output.steps} steps" if self.output.kind == "sequence" else ""
                )
                problems.append(
                    f"inputs.{name}.known_future: a known-future input gives one value per output step, so it "
                    f"needs a sequence output of its {steps} steps, received a {received}; match the steps "
                    "or drop known_future"
                )
            elif not self.objective.plans_head:
                problems.append(
                    f"inputs.{name}.known_future: objective '{self.objective.type}' generates with a network "
                    "of its own, which takes no known-future steps; use an objective with a head "
                    "(regression, cvae or cgan) or drop known_future"
                )
        return problems

    def _window_problems(self) -> list[str]:
        """Sequence parts against ``data.windows``; each problem starts with its key path."""
        windows = self.data.windows if self.data else None
        if windows is None:
            return []
        parts = [(f"inputs.{name}", f"input '{name}'", spec) for name, spec in self.inputs.items()]
        parts.append(("output", f"output '{self.output.name}'", self.output))
        length = windows.length
        problems = []
        for path, label, part in parts:
            if part.kind != "sequence":
                continue
            if part.columns is None:
                problems.append(
                    f"{path}.columns: sequence {label} needs 'columns' (one per channel) to be cut from "
                    "the long table by data.windows, received none"
                )
            if part.select and part.select.steps:
                if part.select.steps[1] > length:
                    problems.append(
                        f"{path}.select.steps: sequence {label} selects steps up to {part.select.steps[1]} "
                        f"but each window has data.windows.length {length} rows, received "
                        f"{list(part.select.steps)}; keep the steps within [0, {length}]"
                    )
            elif part.steps != length:
                fix = (
                    f"raise data.windows.length to {part.steps} or lower {path}.steps to {length}"
                    if part.steps > length
                    else f"make them equal, or read part of each window with select: {{steps: [0, {part.steps}]}}"
                )
                problems.append(
                    f"data.windows.length: windows of {length} rows, but sequence {label} expects "
                    f"{path}.steps {part.steps}; {fix}"
                )
        return problems

    def input_column(self, name: str) -> str:
        """The column or array field that feeds input ``name``."""
        return self.inputs[name].column or name

    def output_column(self) -> str:
        return self.output.column or self.output.name


OBJECTIVE_SLOT.attach(GeneratorSpec, "objective")
FUSION_SLOT.attach(GeneratorSpec, "fusion")
INPUT_SLOT.attach(GeneratorSpec, "inputs", mapping=True)
