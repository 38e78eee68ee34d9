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

import dataclasses
import glob
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fusegen.data.derived_channels import with_derived_channels

# The file readers live in `fusegen.data.files`; they are re-exported (see __all__)
# so that `from fusegen.data.sources import read_file` and the like keep working.
from fusegen.data.files import (
    CSV_DELIMITERS,
    IMAGE_EXTENSIONS,
    TABLE_EXTENSIONS,
    detect_csv_delimiter,
    detect_delimiter,
    read_file,
    read_files,
    read_image_folder,
    table_from_frame,
)
from fusegen.data.table import Table  # also imported from here by the rest of fusegen
from fusegen.errors import DataError
from fusegen.spec import DataSpec

__all__ = [
    "BUNDLED",
    "CSV_DELIMITERS",
    "IMAGE_EXTENSIONS",
    "TABLE_EXTENSIONS",
    "CodePolicy",
    "Table",
    "confine_path",
    "detect_csv_delimiter",
    "detect_delimiter",
    "load_python_source",
    "load_table",
    "read_file",
    "read_files",
    "read_image_folder",
    "register_bundled",
    "table_from_frame",
]


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


def _bundled(module: str, function: str) -> Callable[..., Any]:
    """A loader that imports its module when first called, so listing the datasets stays cheap."""

    def load(**options):
        return getattr(importlib.import_module(f"fusegen.data.bundled.{module}"), function)(**options)

    return load


for _name, _module, _function in (
    ("penguins", "penguins", "load_penguins"),
    ("basic_motions", "basic_motions", "load_basic_motions"),
    ("animal_shapes", "animal_shapes", "load_animal_shapes"),
    ("emoji_edits", "emoji_edits", "load_emoji_edits"),
):
    register_bundled(_name)(_bundled(_module, _function))


# --------------------------------------------------------------------------
# Loading what a spec names
# --------------------------------------------------------------------------


def load_table(data: DataSpec, base_dir: str | Path | None = None, code: CodePolicy | None = None) -> Table:
    """Read the data a spec names. Relative paths resolve against ``base_dir``.

    With ``data.confine_paths`` (or ``data.trusted: false``), every path (the
    source, image paths in the data) must resolve inside ``base_dir``, and a
    ``python:`` source is refused before anything is imported. ``code``, when
    given, is the caller's own word on whether code named in ``data`` may run
    (a run directory's spec may never run code): see `CodePolicy`.
    """
    table = with_derived_channels(
        _load_table(data, base_dir, code or CodePolicy.from_spec(data)), data.windows
    )
    if data.untrusted:
        table.confined_to = Path(base_dir or Path.cwd()).resolve()
    return table


@dataclasses.dataclass(frozen=True)
class CodePolicy:
    """Whether a ``python:`` source named in a spec may be imported and called, and if not, why not.

    ``refusal`` says why the code may not run, and ``hint`` how to go on;
    both are None when it may.
    """

    refusal: str | None = None
    hint: str | None = None

    @classmethod
    def from_spec(cls, data: DataSpec) -> CodePolicy:
        if not data.untrusted:
            return cls()
        switch = "data.trusted is false" if not data.trusted else "data.confine_paths is on"
        return cls(
            refusal=f"{switch}, so the spec may name no code",
            hint="use a file source (CSV, Parquet, NPZ, images) instead, or, if you trust the spec's "
            "author and have read the code, set data.trusted: true.",
        )

    def check(self, source: str) -> None:
        """Raise before ``source`` is imported when this policy refuses code."""
        if self.refusal is not None:
            raise DataError(
                f"data.source '{source}' names Python code, and {self.refusal}; nothing was imported or run.",
                hint=self.hint,
            )


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


def _load_table(data: DataSpec, base_dir: str | Path | None, code: CodePolicy) -> Table:
    source = data.source
    root = Path(base_dir or Path.cwd()).resolve() if data.untrusted else None
    if source.startswith("bundled:"):
        return _load_bundled(source.removeprefix("bundled:"), data.options)
    if source.startswith("python:"):
        # Refused here, before the module is even looked up: importing it runs it.
        CodePolicy.from_spec(data).check(source)
        code.check(source)
        return load_python_source(source.removeprefix("python:"), data.options, base_dir, data.max_rows)
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
        return read_files(path, delimiter=data.delimiter, encoding=data.encoding)
    if path.is_dir():
        return read_image_folder(path)
    return read_file(path, delimiter=data.delimiter, encoding=data.encoding)


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
    return table_from_batches(batches, origin=f"data.source 'python:{target}'", max_rows=max_rows)


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
