"""The CLI's shared options, and option values that are small languages of their own
(``--range``, ``--quantiles``, ``--rebalance``), parsed.

Each parser returns Python values or raises a `FusegenError` whose one line
names the option, what it expects and what it received.
"""

from __future__ import annotations

import typer

from fusegen.errors import FusegenError

EXTRAPOLATION_OPTION = typer.Option(
    False,
    "--allow-extrapolation",
    help="Accept numeric conditions outside the training range (beyond a 10% margin), with a warning.",
)

CONDITION_OPTION = typer.Option(
    [],
    "--condition",
    help="Records: designate this column as a condition, before those chosen automatically (repeatable).",
)

REBALANCE_OPTION = typer.Option(
    None,
    "--rebalance",
    help="COLUMN, or COLUMN=LABEL:SHARE,...: condition the samples on a categorical column's labels in "
    "these shares (equal shares when none are given), e.g. --rebalance label=yes:0.5,no:0.5.",
)


def parse_ranges(items: list[str]) -> dict[str, tuple]:
    """``["col=35:40"]`` -> ``{"col": (35.0, 40.0)}``; dates and times with ``..`` (their own text
    holds colons): ``["sold=2020-01-01..2020-03-31 18:00"]`` -> ``{"sold": ("2020-01-01", ...)}``."""
    ranges = {}
    for item in items:
        column, _, bounds = item.partition("=")
        if column in ranges:
            raise FusegenError(
                f"--range is given twice for '{column}' (the second: '{item}'); a column takes one range.",
                hint="keep one --range per column.",
            )
        if ".." in bounds:
            low, _, high = (bound.strip() for bound in bounds.partition(".."))
            if low and high:
                ranges[column] = (low, high)  # read as the column's dates when sampling
                continue
        low, _, high = bounds.partition(":")
        try:
            ranges[column] = (float(low), float(high))
        except ValueError:
            raise FusegenError(
                f"--range expects COLUMN=LOW:HIGH with numbers, or COLUMN=FIRST..LAST with dates, received "
                f"'{item}'.",
                hint="for example --range bill_length_mm=35:40 or --range sold=2020-01-01..2020-03-31",
            ) from None
    return ranges


def parse_quantiles(text: str) -> list[float]:
    """``0.1,0.5,0.9`` -> [0.1, 0.5, 0.9]: numbers strictly between 0 and 1."""
    items = [item.strip() for item in text.split(",")]
    levels, problem = [], None
    for item in items:
        try:
            level = float(item)
        except ValueError:
            problem = f"'{item}' is not a number"
            break
        if not 0 < level < 1:
            problem = f"{item} is not strictly between 0 and 1"
            break
        levels.append(level)
    if problem is None and not levels:
        problem = "no number"
    if problem is not None:
        raise FusegenError(
            f"--quantiles expects numbers strictly between 0 and 1, separated by commas, such as "
            f"0.1,0.5,0.9; received '{text}' ({problem}).",
        )
    return levels


def parse_rebalance(text: str | None) -> dict[str, dict[str, float] | None] | None:
    """``label`` -> ``{"label": None}`` (equal shares); ``label=yes:0.7,no:0.3`` -> ``{"label": {"yes": 0.7, "no": 0.3}}``."""
    if text is None:
        return None
    column, _, items = text.partition("=")
    if not column.strip():
        raise FusegenError(
            f"--rebalance expects COLUMN or COLUMN=LABEL:SHARE,..., received '{text}' (no column).",
            hint="for example --rebalance label or --rebalance label=yes:0.5,no:0.5",
        )
    if not items.strip():
        return {column.strip(): None}
    shares = {}
    for item in items.split(","):
        label, _, share = item.rpartition(":")
        try:
            shares[label.strip()] = float(share)
        except ValueError:
            label = ""
        if not label.strip():
            raise FusegenError(
                f"--rebalance expects COLUMN=LABEL:SHARE,... with a number for each share, received '{text}' "
                f"(at '{item}').",
                hint="for example --rebalance label=yes:0.5,no:0.5",
            )
    return {column.strip(): shares}
