"""``fusegen init`` from Python: infer an editable spec from a table or a folder of images."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fusegen.data.image_inference import image_path_columns, infer_image_folder_spec, infer_image_table_spec
from fusegen.data.inference import infer_record_spec
from fusegen.data.series_inference import infer_series_spec
from fusegen.errors import FusegenError
from fusegen.fileio import atomic_write_text
from fusegen.spec import load_spec


def init_spec(
    data: str | Path,
    out: str | Path | None = None,
    objective: str = "cvae",
    epochs: int | None = None,
    series: dict[str, Any] | None = None,
    conditions: list[str] | None = None,
) -> tuple[dict[str, Any], str]:
    """Infer a spec for ``data``: records like a CSV or Parquet table, images like a folder's, or a forecast.

    Args:
        data: a CSV or Parquet table (one with a column of image paths generates those images from
            the other columns), or a folder of images (a subfolder per class).
        out: where to write the spec; its ``data.source`` is then relative to
            this file's folder. Nothing is written when None.
        objective: the objective's type.
        epochs: training epochs (default: from the table's size; a forecast's from the data at training).
        series: for a long table of readings, `infer_series_spec`'s keywords
            (``targets``, ``time_column``, ``known_future``, ``group_column``,
            ``horizon``, ``context``): the spec forecasts the targets.
        conditions: a table's columns to designate as conditions, before those chosen automatically.

    Returns:
        The spec as a dict, and as YAML text headed by comments on what was inferred.
    """
    import yaml

    data = Path(data)
    if conditions and (series or data.is_dir()):
        raise FusegenError("--condition designates a table's columns as conditions of its records; "
                           "a forecast (--target) or an image folder takes none.")  # fmt: skip
    if series:
        spec, notes = infer_series_spec(data, objective=objective, **series)
        if epochs:
            spec["training"] = {"epochs": epochs}
    elif data.is_dir():
        spec, notes = infer_image_folder_spec(data, objective=objective, epochs=epochs)
    elif images := _image_columns(data):
        if conditions:
            raise FusegenError(
                f"--condition designates a table's columns as conditions of its records; '{data.name}' "
                f"names images in {images}, and every other column is already an input of the images."
            )
        spec, notes = infer_image_table_spec(data, images, objective=objective, epochs=epochs)
    else:
        spec, notes = infer_record_spec(data, objective=objective, epochs=epochs, conditions=conditions)
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


def _image_columns(data: Path) -> list[str]:
    """The columns of image paths in the table at ``data`` (none where it is no table, or unreadable
    as one: record inference then says why)."""
    from fusegen.data.inference import csv_keys
    from fusegen.data.sources import read_file

    if data.suffix.lower() not in (".csv", ".parquet", ".pq") or not data.is_file():
        return []
    try:
        keys, _ = csv_keys(data)
        return image_path_columns(
            read_file(data, delimiter=keys.get("delimiter"), encoding=keys.get("encoding", "utf-8"))
        )
    except FusegenError:
        return []


def describe_inferred(spec: dict[str, Any]) -> str:
    """What an inferred spec generates, in a few words (``fusegen init``'s last line)."""
    output = spec["output"]
    if output["kind"] == "record":
        return f"{len(output['numeric'])} numeric and {len(output['categorical'])} categorical columns"
    if output["kind"] == "image":
        return f"{output['height']}x{output['width']}x{output['channels']} images"
    steps = output["steps"]
    return f"forecasting {output['columns']} {steps} step{'' if steps == 1 else 's'} ahead"
