"""``fusegen init``: infer a spec that generates images like a folder's (per class subfolder), or
like those a table's column of image paths names (from the row's other columns)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fusegen.data.sources import read_image_folder
from fusegen.errors import DataError


def infer_image_folder_spec(
    folder: str | Path, objective: str = "cvae", epochs: int | None = None, max_size: int = 64
) -> tuple[dict, list[str]]:
    """A spec that generates images like those in ``folder``, conditioned on the class subfolder.

    Images are resized to the first image's size, capped at ``max_size`` on the
    longer side; the channel count is the images' (1, 3 or 4; 3 where they mix).
    """
    folder = Path(folder)
    table = read_image_folder(folder)
    if "label" not in table.columns:
        raise DataError(
            f"folder '{folder}' has its images at the top level; `fusegen init` generates images per class.",
            hint="put the images in one subfolder per class (folder/cat/1.png, folder/dog/2.png).",
        )
    shape, shape_notes = _image_shape(folder, table.columns["image"], max_size)
    rows = len(table)
    inputs: dict[str, Any] = {"label": {"kind": "categorical"}}
    spec = {
        "name": "".join(c if c.isalnum() else "_" for c in folder.name).strip("_") or "images",
        "description": f"Images like those in {folder.name}/ ({rows} images), per class.",
        # Relative, as a table's is: `init --out` makes it relative to the spec's folder.
        "data": {"source": folder.name, "validation_split": 0.1},
        "inputs": inputs,
        "conditioning": {"modality_dropout": 0.2},
        "output": {"name": "image", "kind": "image", **shape, "column": "image"},
        # A cvae's standard normal prior lets the latent carry the class, which the image's shape
        # shows, and draws a random one back when sampling: on scikit-learn's digits its samples
        # showed the class asked for 22% of the time, 91% with the prior computed from the class.
        "objective": {"type": objective, **({"prior": "conditional"} if objective == "cvae" else {})},
        # A classifier trained on the real images judges whether each sample shows its class; without
        # it, evaluate compares each sample with one held-out image of its class, which says little.
        "evaluation": {"label_column": "label"},
        "training": _image_training(rows, epochs),
    }
    notes = shape_notes
    return spec, notes


def _image_training(rows: int, epochs: int | None) -> dict[str, Any]:
    """The training keys of an inferred image spec: about 60,000 images' worth of epochs (20-300)."""
    epochs = epochs or max(20, min(300, 60_000 // max(rows, 1)))
    return {"batch_size": 32, "epochs": epochs, "learning_rate": 0.001, "seed": 0}


#: Images whose headers are read for their channel counts (the first ones, spread over the folder).
CHANNEL_SCAN = 500


def _image_shape(folder: Path, paths, max_size: int) -> tuple[dict[str, Any], list[str]]:
    """The output image's ``height``, ``width``, ``channels`` (and ``convert_channels``) for the
    images at ``paths`` (relative to ``folder``): the first image's size capped at ``max_size`` a
    side, and their channel count, or colour where they mix. With the notes that say so."""
    from PIL import Image

    with Image.open(folder / str(paths[0])) as image:
        width, height = image.size
    channels = _channel_counts(folder, paths)
    mixed = len(channels) > 1
    # Grey beside colour: every image in colour (a grey one gains three equal channels) rather than
    # the first image's count, which validate refused for the others.
    channels = 3 if mixed else channels.pop()
    scale = min(1.0, max_size / max(width, height))
    height, width = max(1, round(height * scale)), max(1, round(width * scale))
    notes = [
        f"images resized to {height}x{width}x{channels} (the first image's shape, at most {max_size} a side)"
    ]
    if mixed:
        notes.append(
            "the images mix grey, colour or transparency, so every one is converted to colour "
            "(output.convert_channels; transparent pixels are laid on white)"
        )
    shape = {"height": height, "width": width, "channels": channels}
    return {**shape, **({"convert_channels": True} if mixed else {})}, notes


def _channel_counts(folder: Path, paths) -> set[int]:
    """The channel counts (1 grey, 3 colour, 4 with transparency) among up to `CHANNEL_SCAN` of the
    folder's images, read from their headers alone."""
    from PIL import Image

    step = max(1, len(paths) // CHANNEL_SCAN)
    counts = set()
    for path in paths[::step]:
        with Image.open(folder / str(path)) as image:
            counts.add({"L": 1, "1": 1, "I": 1, "I;16": 1, "F": 1, "RGB": 3, "RGBA": 4}.get(image.mode, 3))
    return counts


#: Words in a string column's cells, on average, from which it is read as text (a caption) rather
#: than as labels; and the distinct values beyond which it is text whatever their length.
TEXT_WORDS = 2.5
TEXT_DISTINCT = 100


def image_path_columns(table) -> list[str]:
    """The columns of ``table`` (a `fusegen.data.table.Table`) whose every cell present names an image
    file (`fusegen.data.files.IMAGE_EXTENSIONS`), in table order."""
    import numpy as np

    from fusegen.data.checks import is_missing
    from fusegen.data.files import IMAGE_EXTENSIONS

    found = []
    for name, values in table.columns.items():
        values = np.asarray(values, dtype=object)
        if values.ndim != 1:
            continue
        present = values[~is_missing(values)]
        if len(present) and all(isinstance(value, str) and value.lower().endswith(IMAGE_EXTENSIONS)
                                for value in present):  # fmt: skip
            found.append(name)
    return found


def infer_image_table_spec(
    path: str | Path, image_columns: list[str], objective: str = "cvae", epochs: int | None = None,
    max_size: int = 64,
) -> tuple[dict, list[str]]:  # fmt: skip
    """A spec that generates the images named in a table's column from the row's other columns.

    The output is the last column of image paths (an edit's result follows its source); any other
    is an image input. Of the rest, strings of several words or many distinct values are text
    inputs (a caption), other strings and whole numbers of few values are categorical, and numbers
    numeric. Paths are relative to the table's folder, as the pipeline reads them.
    """
    import numpy as np
    import pandas as pd

    from fusegen.data.checks import is_missing
    from fusegen.data.inference import csv_keys, input_name, is_exported_index, is_numeric_identifier
    from fusegen.data.sources import read_file

    path = Path(path)
    data, notes = csv_keys(path)
    table = read_file(path, delimiter=data.get("delimiter"), encoding=data.get("encoding", "utf-8"))
    output_column, image_inputs = image_columns[-1], image_columns[:-1]
    paths = {}
    for column in image_columns:
        values = np.asarray(table.columns[column], dtype=object)
        paths[column] = values[~is_missing(values)]
        absent = [value for value in paths[column][:20] if not (path.parent / value).is_file()]
        if absent:
            raise DataError(
                f"'{path.name}': column '{column}' names image files, but '{absent[0]}' is not found "
                f"beside the table ({path.parent.resolve()}); paths are read relative to the table's folder.",
                hint="write the paths relative to the table's folder, or move the table beside the images.",
            )
    shape, shape_notes = _image_shape(path.parent, paths[output_column], max_size)
    notes += shape_notes
    if len(image_columns) > 1:
        notes.append(
            f"the output is '{output_column}', the last column of image paths; {image_inputs} are inputs "
            "(swap output.column and the input's column if it is the other way round)"
        )
    inputs: dict[str, Any] = {}
    for column in image_inputs:
        inputs[input_name(column)] = {"kind": "image", **shape, "convert_channels": True, "column": column}
    label_column = None
    missing = []
    for column, values in table.columns.items():
        values = np.asarray(values)
        if column in image_columns or values.ndim != 1:
            continue
        series = pd.Series(values)
        absent = is_missing(values.astype(object))
        present = series[~absent]
        if present.nunique() <= 1:
            notes.append(f"left out '{column}': {'no value' if present.empty else 'one value'} in every row")
            continue
        if absent.any():
            missing.append(column)
        name = input_name(column)
        config: dict[str, Any] = {"column": column} if name != column else {}
        if series.dtype.kind in "iuf":
            if is_exported_index(series) or is_numeric_identifier(column, series, present):
                notes.append(f"left out '{column}': a row index or an identifier, not a field")
                continue
            if (present == present.round()).all() and present.nunique() <= 20:
                inputs[name] = {"kind": "categorical", **config}
                label_column = label_column or column
            else:
                inputs[name] = {"kind": "numeric", "columns": [column]}
            continue
        text = present.astype(str)
        words = text.str.split().str.len()
        if words.mean() >= TEXT_WORDS or text.nunique() > TEXT_DISTINCT:
            vocabulary = len(set(" ".join(text.str.lower()).split()))
            length = int(np.clip(np.ceil(words.quantile(0.95)), 4, 64))
            inputs[name] = {"kind": "text", **config, "max_tokens": max(3, min(5000, vocabulary + 2)),
                            "sequence_length": length}  # fmt: skip
            notes.append(f"'{column}' is read as text ({vocabulary} distinct words, up to {length} a row)")
        else:
            inputs[name] = {"kind": "categorical", **config}
            label_column = label_column or column
    if missing:
        for column in missing:
            inputs[input_name(column)]["missing"] = "impute"
        notes.append(f"{missing} have missing cells, filled from the training rows (missing: impute)")
    rows = len(paths[output_column])
    if rows < len(table):
        notes.append(f"{len(table) - rows} row(s) without an image in '{output_column}' are dropped")
    spec = {
        "name": input_name(path.stem),
        "description": f"Images like those in {path.name}'s '{output_column}' ({rows} images), from "
        f"{', '.join(inputs) or 'nothing'}.",
        "data": {
            "source": path.name,
            **data,
            "validation_split": 0.1,
            **({"missing": "drop_rows"} if rows < len(table) else {}),
        },  # fmt: skip
        "inputs": inputs,
        # Sampling with some inputs left out works too, as training hid each from a fifth of the rows.
        **({"conditioning": {"modality_dropout": 0.2}} if inputs else {}),
        "output": {"name": input_name(output_column), "kind": "image", **shape, "column": output_column},
        "objective": {"type": objective, **({"prior": "conditional"} if objective == "cvae" else {})},
        **({"evaluation": {"label_column": label_column}} if label_column else {}),
        "training": _image_training(rows, epochs),
    }
    return spec, notes
