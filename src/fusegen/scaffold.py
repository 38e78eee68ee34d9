"""``fusegen init`` from Python: infer an editable spec from a table or a folder of images."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fusegen.data.image_inference import infer_image_folder_spec
from fusegen.data.inference import infer_record_spec
from fusegen.data.series_inference import infer_series_spec
from fusegen.fileio import atomic_write_text
from fusegen.spec import load_spec


def init_spec(
    data: str | Path,
    out: str | Path | None = None,
    objective: str = "cvae",
    epochs: int | None = None,
    series: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], str]:
    """Infer a spec for ``data``: records like a CSV or Parquet table, images like a folder's, or a forecast.

    Args:
        data: a CSV or Parquet table, or a folder of images (a subfolder per class).
        out: where to write the spec; its ``data.source`` is then relative to
            this file's folder. Nothing is written when None.
        objective: the objective's type.
        epochs: training epochs (default: from the table's size; a forecast's from the data at training).
        series: for a long table of readings, `infer_series_spec`'s keywords
            (``targets``, ``time_column``, ``known_future``, ``group_column``,
            ``horizon``, ``context``): the spec forecasts the targets.

    Returns:
        The spec as a dict, and as YAML text headed by comments on what was inferred.
    """
    import yaml

    data = Path(data)
    if series:
        spec, notes = infer_series_spec(data, objective=objective, **series)
        if epochs:
            spec["training"] = {"epochs": epochs}
    else:
        infer = infer_image_folder_spec if data.is_dir() else infer_record_spec
        spec, notes = infer(data, objective=objective, epochs=epochs)
    load_spec(spec)  # the inferred spec must itself be valid
    header = "".join(f"# {note}\n" for note in notes)
    text = f"# Inferred by `fusegen init {data.name}`; edit freely, then `fusegen train`.\n{header}"
    if out is not None:
        out = Path(out)
        if data.resolve().parent != out.resolve().parent:
            # data.source is relative to the spec's folder; kept relative, so that neither the
            # spec nor a run trained from it holds a path of this machine.
            spec["data"]["source"] = Path(os.path.relpath(data.resolve(), out.resolve().parent)).as_posix()
    text += yaml.safe_dump(spec, sort_keys=False)
    if out is not None:
        atomic_write_text(out, text)
    return spec, text
