"""Palmer penguins: 344 penguins, numeric measurements and categories (MIT, palmerpenguins)."""

from __future__ import annotations

import pandas as pd


def load_penguins() -> pd.DataFrame:
    """The penguins table from the ``palmerpenguins`` package, unchanged.

    Columns: species, island, bill_length_mm, bill_depth_mm,
    flipper_length_mm, body_mass_g, sex, year. Some rows have missing values;
    a spec chooses what happens to them through ``data.missing``.
    """
    from palmerpenguins import load_penguins as _load

    return _load()
