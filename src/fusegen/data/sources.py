"""Reading training data into a `Table`: named columns of equal length.

A table column is a NumPy array whose first axis is the row: a numeric or
string column of a CSV, or an array field of an NPZ file or bundled dataset
(images (N, H, W, C), sensor windows (N, T, C)). Image files stay as paths or
encoded bytes in the table; preprocessing decodes them.

Sources: a pandas DataFrame, a dict of arrays, CSV / Parquet files (one, or
many by glob), NPZ files, a folder of images, a ``python:`` generator of your
own (see `fusegen.data.adapters`) and the bundled datasets.
"""

from __future__ import annotations

import glob
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fusegen.data.memory import take_rows
from fusegen.errors import DataError
from fusegen.spec import DataSpec

#: File extensions read as images, in a folder source or a column of paths.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
TABLE_EXTENSIONS = (".csv", ".parquet", ".pq")
_PLURALS = {"row": "rows", "window starting at row": "windows starting at rows"}


class Table:
    """Named columns with one row count; the unit every source produces.

    Besides the columns, a table remembers where each row came from, so an
    error can name the file and the row of the user's own data even after the
    rows were split or shuffled.

    Args:
        columns: column name -> array with the rows on the first axis.
        origin: where the data came from, for error messages.
        files: the data files the rows were read from, if any.
        row_files: index into ``files`` for each row; all 0 when omitted.
        row_ids: each row's number in its file (0-based, not counting the
            header); ``0..N-1`` when omitted.
        row_noun: what a row is called in messages, e.g. ``window starting at row``.
        windowed: whether the rows are windows cut from a long table already.
    """

    def __init__(
        self,
        columns: dict[str, Any],
        origin: str,
        files: list[Path] | None = None,
        row_files: np.ndarray | None = None,
        row_ids: np.ndarray | None = None,
        row_noun: str = "row",
        windowed: bool = False,
        confined_to: Path | None = None,
    ):
        self.origin = origin
        #: With data.confine_paths: the folder every file path in the data must stay inside.
        self.confined_to = confined_to
        self.columns = {str(name): _as_column(str(name), values, origin) for name, values in columns.items()}
        if not self.columns:
            raise DataError(f"{origin}: the data has no columns.")
        lengths = {name: len(values) for name, values in self.columns.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(
                f"{origin}: columns have different row counts, received {lengths}.",
                hint="every column or array field needs one entry per example.",
            )
        self.num_rows = next(iter(lengths.values()))
        if self.num_rows == 0:
            raise DataError(
                f"{origin}: the data has no rows.", hint="check the file, the glob or data.max_rows."
            )
        self.files = list(files or [])
        self.row_files = np.zeros(self.num_rows, "int32") if row_files is None else np.asarray(row_files)
        self.row_ids = np.arange(self.num_rows) if row_ids is None else np.asarray(row_ids)
        self.row_noun = row_noun
        self.windowed = windowed

    def __len__(self) -> int:
        return self.num_rows

    def column(self, name: str, used_by: str) -> np.ndarray:
        """Column ``name``, or a `DataError` naming who wanted it and what exists."""
        if name not in self.columns:
            available = ", ".join(sorted(self.columns))
            raise DataError(
                f"{used_by}: column '{name}' is not in {self.origin}; available columns: {available}.",
                hint="set the input's 'column' (or 'columns') to one of those.",
            )
        return self.columns[name]

    def take(self, rows: np.ndarray) -> Table:
        """The rows at ``rows`` (positions), in that order."""
        rows = np.asarray(rows)
        if len(rows) == self.num_rows and np.array_equal(rows, np.arange(self.num_rows)):
            # Every row in order (no validation split): the columns as they are, not a copy of
            # each, which for decoded images is as large as the data set.
            return self
        return Table(
            {name: take_rows(values, rows) for name, values in self.columns.items()},
            self.origin,
            files=self.files,
            row_files=self.row_files[rows],
            row_ids=self.row_ids[rows],
            row_noun=self.row_noun,
            windowed=self.windowed,
            confined_to=self.confined_to,
        )

    def with_columns(self, columns: dict[str, Any]) -> Table:
        """The same rows with some columns replaced, e.g. image paths by their decoded pixels."""
        return Table(
            {**self.columns, **columns},
            self.origin,
            files=self.files,
            row_files=self.row_files,
            row_ids=self.row_ids,
            row_noun=self.row_noun,
            windowed=self.windowed,
            confined_to=self.confined_to,
        )

    # ------------------------------------------------------------------
    # Where rows came from, for error messages and relative image paths
    # ------------------------------------------------------------------

    def row_label(self, position: int) -> str:
        """``row 7 of 'data.csv'``: the row at ``position`` as the user numbers it."""
        where = self._file_label(int(self.row_files[position]))
        return f"{self.row_noun} {int(self.row_ids[position])}{where}"

    def rows_label(self, positions, limit: int = 5) -> str:
        """``first rows [2, 5] of 'data.csv'``: up to ``limit`` rows, grouped by file."""
        positions = np.asarray(positions)[:limit]
        by_file: dict[int, list[int]] = {}
        for position in positions:
            by_file.setdefault(int(self.row_files[position]), []).append(int(self.row_ids[position]))
        parts = [f"{ids}{self._file_label(index)}" for index, ids in by_file.items()]
        return f"first {_PLURALS.get(self.row_noun, self.row_noun)} " + ", ".join(parts)

    def folder_of(self, position: int) -> Path | None:
        """The folder relative paths in row ``position`` resolve against: its file's folder."""
        if not self.files:
            return None
        path = self.files[int(self.row_files[position])]
        return path if path.is_dir() else path.parent

    def _file_label(self, index: int) -> str:
        if not self.files:
            return ""
        return f" of '{self.files[index]}'"


def _as_column(name: str, values: Any, origin: str) -> np.ndarray:
    """One column as an array; ragged entries (windows of unequal length) are a `DataError`."""
    if isinstance(values, np.ndarray) and values.dtype != object:
        return values
    if not isinstance(values, np.ndarray):
        values = list(values)
        if values and isinstance(values[0], (bytes, bytearray)):
            # np.asarray would make fixed-width bytes, which drop trailing zero bytes.
            column = np.empty(len(values), dtype=object)
            column[:] = values
            return column
        try:
            array = np.asarray(values)
        except ValueError:
            _raise_ragged(name, values, origin)
        if array.dtype != object:
            return array
        values = array
    first = next((entry for entry in values if entry is not None), None)
    if isinstance(first, (np.ndarray, list, tuple)):
        # A column of arrays (a DataFrame or Parquet list column): stack it if the shapes agree.
        try:
            return np.stack([np.asarray(entry) for entry in values])
        except (ValueError, TypeError):
            _raise_ragged(name, values, origin)
    return values


def _raise_ragged(name: str, values, origin: str):
    shapes = [np.shape(entry) if entry is not None else None for entry in values]
    first = shapes[0]
    other = next(row for row, shape in enumerate(shapes) if shape != first)
    raise DataError(
        f"{origin}: column '{name}' has entries of different shapes: row 0 has shape "
        f"{list(first) if first is not None else None}, row {other} has shape "
        f"{list(shapes[other]) if shapes[other] is not None else None}.",
        hint="pad or cut every sequence to one length, or give a long table with data.windows.",
    ) from None


# --------------------------------------------------------------------------
# Bundled datasets
# --------------------------------------------------------------------------

#: Bundled datasets by name; each loader takes the spec's ``data.options``.
BUNDLED: dict[str, Callable[..., Any]] = {}


def register_bundled(name: str):
    def register(loader):
        BUNDLED[name] = loader
        return loader

    return register


@register_bundled("penguins")
def _penguins(**options):
    from fusegen.data.bundled.penguins import load_penguins

    return load_penguins(**options)


@register_bundled("basic_motions")
def _basic_motions(**options):
    from fusegen.data.bundled.basic_motions import load_basic_motions

    return load_basic_motions(**options)


@register_bundled("animal_shapes")
def _animal_shapes(**options):
    from fusegen.data.bundled.animal_shapes import load_animal_shapes

    return load_animal_shapes(**options)


@register_bundled("emoji_edits")
def _emoji_edits(**options):
    from fusegen.data.bundled.emoji_edits import load_emoji_edits

    return load_emoji_edits(**options)


# --------------------------------------------------------------------------
# Loading what a spec names
# --------------------------------------------------------------------------


def load_table(data: DataSpec, base_dir: str | Path | None = None) -> Table:
    """Read the data a spec names. Relative paths resolve against ``base_dir``.

    With ``data.confine_paths``, every path (the source, a python: file,
    image paths in the data) must resolve inside ``base_dir``.
    """
    table = _load_table(data, base_dir)
    if data.confine_paths:
        table.confined_to = Path(base_dir or Path.cwd()).resolve()
    return table


def confine_path(path: str | Path, root: Path | None, what: str) -> Path:
    """``path``, or a `DataError` when ``root`` is set and ``path`` resolves outside it (symlinks followed)."""
    path = Path(path)
    if root is not None and not path.resolve().is_relative_to(root):
        raise DataError(
            f"{what} '{path}' resolves to '{path.resolve()}', outside the spec's folder '{root}', and "
            "data.confine_paths is on.",
            hint="move the file into the spec's folder, or turn data.confine_paths off if you trust the spec.",
        )
    return path


def _load_table(data: DataSpec, base_dir: str | Path | None) -> Table:
    source = data.source
    root = Path(base_dir or Path.cwd()).resolve() if data.confine_paths else None
    if source.startswith("bundled:"):
        return _load_bundled(source.removeprefix("bundled:"), data.options)
    if source.startswith("python:"):
        target = source.removeprefix("python:")
        module = target.rsplit(":", 1)[0]
        if root is not None and module.endswith(".py"):
            confine_path(Path(base_dir or ".") / module if not Path(module).is_absolute() else module, root,
                         "python source file")  # fmt: skip
        return load_python_source(target, data.options, base_dir, data.max_rows)
    if data.options:
        raise DataError(
            f"data.options are for bundled datasets and python: sources, received {sorted(data.options)} "
            f"with source '{source}'."
        )
    path = Path(source)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    confine_path(path.parent if glob.has_magic(str(path)) else path, root, "data.source")
    if glob.has_magic(str(path)):
        return read_files(path)
    if path.is_dir():
        return read_image_folder(path)
    return read_file(path)


def read_file(path: str | Path) -> Table:
    """Read a CSV, Parquet or NPZ file into a table."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file '{path}' does not exist.", hint="check the path in data.source.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            import pandas as pd

            return table_from_frame(pd.read_csv(path), origin=str(path), files=[path])
        if suffix in (".parquet", ".pq"):
            import pandas as pd

            return table_from_frame(pd.read_parquet(path), origin=str(path), files=[path])
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as arrays:
                return Table({name: arrays[name] for name in arrays.files}, origin=str(path), files=[path])
    except DataError:
        raise
    except Exception as error:  # pandas and NumPy raise many types for a bad file
        raise DataError(f"cannot read data file '{path}': {error}") from None
    raise DataError(
        f"data file '{path}' has an unsupported extension '{suffix}'; expected .csv, .parquet or .npz."
    )


def read_files(pattern: str | Path) -> Table:
    """Read every CSV or Parquet file a glob matches, in name order, as one table.

    Every file must have the same columns; a row keeps its file and row number
    for error messages.
    """

    paths = sorted(Path(match) for match in glob.glob(str(pattern)) if Path(match).is_file())
    if not paths:
        raise DataError(
            f"no files match '{pattern}'.", hint="check the folder and the pattern in data.source."
        )
    unsupported = [str(path) for path in paths if path.suffix.lower() not in TABLE_EXTENSIONS]
    if unsupported:
        raise DataError(
            f"'{pattern}' matches files that are not CSV or Parquet: {unsupported[:5]}.",
            hint="narrow the pattern, e.g. 'parts/*.csv'.",
        )
    frames, row_files, row_ids = [], [], []
    for index, path in enumerate(paths):
        frame = read_file(path)
        if frames and list(frame.columns) != list(frames[0].columns):
            expected, received = list(frames[0].columns), list(frame.columns)
            missing = [name for name in expected if name not in received]
            extra = [name for name in received if name not in expected]
            raise DataError(
                f"'{path}' has other columns than '{paths[0]}': expected {expected}, received {received}"
                + (f" (missing {missing})" if missing else "")
                + (f" (extra {extra})" if extra else "")
                + ".",
                hint="every file of a glob needs the same columns in the same order.",
            )
        frames.append(frame)
        row_files.append(np.full(len(frame), index, "int32"))
        row_ids.append(np.arange(len(frame)))
    columns = {name: np.concatenate([frame.columns[name] for frame in frames]) for name in frames[0].columns}
    return Table(
        columns,
        origin=f"'{pattern}' ({len(paths)} files)",
        files=paths,
        row_files=np.concatenate(row_files),
        row_ids=np.concatenate(row_ids),
    )


def read_image_folder(folder: str | Path) -> Table:
    """A folder of images as a table: ``image`` (file paths) and, with subfolders, ``label``.

    With one subfolder per class (``photos/cat/1.png``, ``photos/dog/7.jpg``)
    the subfolder's name is the ``label`` of every image below it; a flat
    folder gives ``image`` alone. Files with other extensions are skipped.
    """
    folder = Path(folder)
    images = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")
    )
    if not images:
        raise DataError(
            f"folder '{folder}' has no images ({', '.join(IMAGE_EXTENSIONS)}).",
            hint="put the images in it, one subfolder per class or all at its top level.",
        )
    top_level = [path for path in images if path.parent == folder]
    nested = [path for path in images if path.parent != folder]
    if top_level and nested:
        raise DataError(
            f"folder '{folder}' has images both at its top level (e.g. '{top_level[0].name}') and in "
            f"subfolders (e.g. '{nested[0].relative_to(folder)}'); the labels would be ambiguous.",
            hint="use one subfolder per class, or a flat folder of images.",
        )
    columns: dict[str, Any] = {"image": np.array([str(path) for path in images], dtype=object)}
    if nested:
        columns["label"] = np.array([path.relative_to(folder).parts[0] for path in images], dtype=object)
    return Table(columns, origin=f"image folder '{folder}'", files=[folder])


def table_from_frame(frame, origin: str = "the DataFrame", files: list[Path] | None = None) -> Table:
    """A pandas DataFrame as a table; string columns become object arrays."""
    if frame.shape[1] == 0:
        raise DataError(f"{origin}: the data has no columns.")
    duplicated = sorted({str(name) for name in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise DataError(f"{origin}: columns {duplicated} appear more than once; rename them.")
    columns = {}
    for name in frame.columns:
        series = frame[name]
        if series.dtype.kind in "biuf":
            columns[str(name)] = series.to_numpy()
        else:
            columns[str(name)] = series.astype(object).where(series.notna(), None).to_numpy()
    return Table(columns, origin=origin, files=files)


def load_python_source(
    target: str, options: dict, base_dir: str | Path | None = None, max_rows: int | None = None
) -> Table:
    """Call ``MODULE:FUNCTION`` (or ``FILE.py:FUNCTION``) and collect what it yields into a table.

    The function is called with ``data.options`` as keyword arguments and
    returns a generator, an iterable or a ``keras.utils.PyDataset`` of
    batches; see `fusegen.data.adapters.table_from_batches`. A spec that
    names a ``python:`` source runs that code, as a Python script would.
    """
    from fusegen.data.adapters import table_from_batches

    if ":" not in target:
        raise DataError(
            f"data.source 'python:{target}' does not name a function.",
            hint="write python:MODULE:FUNCTION or python:FILE.py:FUNCTION.",
        )
    module_name, function_name = target.rsplit(":", 1)
    function = getattr(_import_module(module_name, base_dir), function_name, None)
    if not callable(function):
        raise DataError(f"data.source 'python:{target}': '{module_name}' has no function '{function_name}'.")
    try:
        batches = function(**options)
    except Exception as error:
        raise DataError(
            f"data.source 'python:{target}' raised {type(error).__name__}: {error}",
            hint="run with --verbose for its traceback.",
        ) from error
    return table_from_batches(batches, origin=f"python:{target}", max_rows=max_rows)


def _import_module(name: str, base_dir: str | Path | None):
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    try:
        if name.endswith(".py"):
            path = Path(name) if Path(name).is_absolute() else base / name
            if not path.is_file():
                raise DataError(f"python source file '{path}' does not exist.")
            module_spec = importlib.util.spec_from_file_location(f"fusegen_source_{path.stem}", path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            return module
        # Modules beside the spec import as they would from a script in that folder.
        sys.path.insert(0, str(base))
        try:
            return importlib.import_module(name)
        finally:
            sys.path.remove(str(base))
    except DataError:
        raise
    except Exception as error:
        raise DataError(f"cannot import python source '{name}': {type(error).__name__}: {error}") from error


def _load_bundled(name: str, options: dict) -> Table:
    if name not in BUNDLED:
        raise DataError(f"unknown bundled dataset '{name}'; available: {', '.join(sorted(BUNDLED))}.")
    try:
        data = BUNDLED[name](**options)
    except (TypeError, ValueError) as error:
        raise DataError(f"bundled dataset '{name}': bad data.options ({error}).") from None
    origin = f"bundled dataset '{name}'"
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        return table_from_frame(data, origin=origin)
    return Table(data, origin=origin)
