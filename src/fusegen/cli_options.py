"""The CLI's option values that are small languages of their own (``--range``, ``--quantiles``), parsed.

Each parser returns Python values or raises a `FusegenError` whose one line
names the option, what it expects and what it received.
"""

from __future__ import annotations

from fusegen.errors import FusegenError


def parse_ranges(items: list[str]) -> dict[str, tuple[float, float]]:
    """``["col=35:40"]`` -> ``{"col": (35.0, 40.0)}``."""
    ranges = {}
    for item in items:
        column, _, bounds = item.partition("=")
        low, _, high = bounds.partition(":")
        try:
            ranges[column] = (float(low), float(high))
        except ValueError:
            raise FusegenError(
                f"--range expects COLUMN=LOW:HIGH with numbers, received '{item}'.",
                hint="for example --range bill_length_mm=35:40",
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
