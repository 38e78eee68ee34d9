"""Reading data files into a `Table`: CSV, Parquet and NPZ files, globs of them, and image folders.

A CSV file's delimiter is detected (or taken from ``data.delimiter``) and its
encoding checked before pandas reads it; a repeated column name in a CSV
header or a Parquet schema is an error, not a silent rename. Image files stay
as paths in the table; preprocessing decodes them. `fusegen.data.sources`
re-exports these readers and picks one for the spec's ``data.source``.
"""

from __future__ import annotations

import codecs
import csv
import glob
import io
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from fusegen.data.table import Table
from fusegen.errors import DataError, FusegenWarning

#: File extensions read as images, in a folder source or a column of paths.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
TABLE_EXTENSIONS = (".csv", ".parquet", ".pq")


def read_file(path: str | Path, delimiter: str | None = None, encoding: str = "utf-8") -> Table:
    """Read a CSV, Parquet or NPZ file into a table.

    Args:
        path: the file.
        delimiter: a CSV file's field delimiter (``data.delimiter``); None detects
            it among ``,`` ``;`` tab and ``|`` (see `detect_delimiter`).
        encoding: a CSV file's text encoding (``data.encoding``).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file '{path}' does not exist.", hint="check the path in data.source.")
    suffix = path.suffix.lower()
    if suffix == ".csv" and _blank(path):
        raise DataError(
            f"data file '{path}' is empty: expected a header row of column names, then one row per record.",
            hint="check that the file was written completely, or point to the right file.",
        )
    if suffix == ".csv":
        _require_text(path, encoding)
    try:
        if suffix == ".csv":
            return table_from_frame(_read_csv(path, delimiter, encoding), origin=str(path), files=[path])
        if suffix in (".parquet", ".pq"):
            return table_from_frame(_read_parquet(path), origin=str(path), files=[path])
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


#: The first bytes of files that are no text, and what they are.
BINARY_SIGNATURES = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"PAR1": "a Parquet file (name it .parquet)",
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook is one: save it as CSV)",
    b"\xd0\xcf\x11\xe0": "an old Excel .xls workbook (save it as CSV)",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive (decompress it first)",
}


def _require_text(path: Path, encoding: str) -> None:
    """Refuse a .csv file that holds no text: read as cp1252 a PNG became a table of one column, 'PNG'."""
    with path.open("rb") as handle:
        start = handle.read(4096)
    kind = next((name for magic, name in BINARY_SIGNATURES.items() if start.startswith(magic)), None)
    # UTF-16 and UTF-32 text holds NUL bytes; every other encoding a CSV comes in does not.
    wide = encoding.lower().replace("-", "").replace("_", "").startswith(("utf16", "utf32"))
    if kind is None and b"\x00" in start and not wide:
        kind = "binary data (NUL bytes), not text"
    if kind is not None:
        raise DataError(
            f"data file '{path}' is named .csv but holds {kind}; expected text, a header row of column names "
            "then one row per record.",
            hint="point to the CSV file itself, or give the file the extension of what it holds.",
        )


def _blank(path: Path) -> bool:
    """Whether a file holds nothing but white space (read from its start only: data files can be large)."""
    with path.open("rb") as handle:
        start = handle.read(4096)
    return not start.strip() and path.stat().st_size <= len(start)


def read_files(pattern: str | Path, delimiter: str | None = None, encoding: str = "utf-8") -> Table:
    """Read every CSV or Parquet file a glob matches, in name order, as one table.

    Every file must have the same columns; a row keeps its file and row number
    for error messages. ``delimiter`` and ``encoding`` are as for `read_file`.
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
        frame = read_file(path, delimiter=delimiter, encoding=encoding)
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


# --------------------------------------------------------------------------
# CSV and Parquet: delimiter, encoding and header checked before pandas reads
# --------------------------------------------------------------------------

#: The delimiters `detect_delimiter` chooses from, the first preferred on a tie.
CSV_DELIMITERS = (",", ";", "\t", "|")
#: How much of a CSV file the delimiter and the header are read from.
_CSV_SAMPLE_BYTES = 1 << 16
#: Read as missing besides pandas' own markers (empty, NA, NaN, NULL, N/A, ...): ``\N``, how MySQL and
#: PostgreSQL exports write NULL (Ecdat's HHSCyberSecurityBreaches has them). Without it a NULL was a
#: label of its own in a text column, generated as if it meant something.
EXTRA_MISSING_MARKERS = ("\\N",)


def _read_csv(path: Path, delimiter: str | None, encoding: str):
    import pandas as pd

    sample, complete = _csv_sample(path, encoding)
    how = "data.delimiter"
    if delimiter is None:
        delimiter = detect_delimiter(sample, complete)
        how = "detected: no other splits every line into as many fields as the header"
    header = next((record for record in csv.reader(io.StringIO(sample), delimiter=delimiter) if record), [])
    if len(header) == 1:
        others = [other for other in CSV_DELIMITERS if other != delimiter and other in header[0]]
        if others:
            raise DataError(
                f"data file '{path}' reads as one column with the delimiter {delimiter!r} ({how}); "
                f"expected several columns, received the header {header[0][:80]!r}, which holds {others[0]!r}.",
                hint=f"set data.delimiter: {_yaml_character(others[0])} in the spec (the character between "
                "the fields).",
            )
    # pandas renames a repeated name ('x', 'x.1'), so the header is checked as written.
    _check_unique_names(
        path, header, "header", "rename the repeated columns in the file's first line; pandas would silently "
        "read the second as '{name}.1'.",
    )  # fmt: skip
    try:
        return pd.read_csv(path, sep=delimiter, encoding=encoding, na_values=list(EXTRA_MISSING_MARKERS))
    except UnicodeDecodeError:
        # Past the sample: find the line for the message.
        _csv_sample(path, encoding, limit=None)
        raise


def _read_parquet(path: Path):
    import pandas as pd

    try:
        import pyarrow.parquet as parquet
    except ImportError:  # another pandas engine; it reports duplicates its own way
        parquet = None
    if parquet is not None:
        try:
            names = parquet.read_schema(path).names
        except Exception:  # not Parquet after all: pandas below gives its own message
            names = []
        _check_unique_names(
            path, names, "schema", "rename the repeated columns where the file is written, e.g. with "
            "DataFrame.rename before to_parquet.",
        )  # fmt: skip
    return pd.read_parquet(path)


def detect_csv_delimiter(path: str | Path, encoding: str = "utf-8") -> str:
    """The delimiter `read_file` reads the CSV file at ``path`` with when none is given."""
    _require_text(Path(path), encoding)
    return detect_delimiter(*_csv_sample(Path(path), encoding))


def detect_delimiter(sample: str, complete: bool = True) -> str:
    """The field delimiter of CSV text: the first of ``,`` ``;`` tab and ``|`` that fits, else ``,``.

    A delimiter fits when it splits the header into two or more fields and
    every other record of ``sample`` into as many (quotes respected).
    ``complete`` says whether ``sample`` is the whole file; if not, its last
    record may be cut off and is not counted.

    >>> detect_delimiter("a;b;c\\n1,5;2;x\\n")
    ';'
    """
    for candidate in CSV_DELIMITERS:
        try:
            records = [record for record in csv.reader(io.StringIO(sample), delimiter=candidate) if record]
        except csv.Error:  # a stray carriage return: pandas reads what it can, and names what it cannot
            continue
        if not complete:
            records = records[:-1] or records
        if records and len(records[0]) > 1 and all(len(record) == len(records[0]) for record in records):
            return candidate
    return ","


def _csv_sample(path: Path, encoding: str, limit: int | None = _CSV_SAMPLE_BYTES) -> tuple[str, bool]:
    """The first ``limit`` bytes of ``path`` decoded (all with None), and whether that is the whole file.

    Raises a `DataError` naming the line and the byte when ``encoding`` cannot
    decode them, or when ``encoding`` is not an encoding at all.
    """
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
    except LookupError:
        raise DataError(
            f"data.encoding '{encoding}' is not a text encoding Python knows; expected e.g. 'utf-8', "
            "'latin-1' or 'cp1252'.",
            hint="set data.encoding to the encoding the file was saved in.",
        ) from None
    text, line = [], 1
    with open(path, "rb") as file:
        raw = file.read(limit) if limit is not None else None
        complete = limit is None or len(raw) < limit or not file.read(1)
        lines = io.BytesIO(raw).readlines() if raw is not None else file
        for data in lines:
            try:
                decoded = decoder.decode(data)
            except UnicodeDecodeError as error:
                raise _encoding_error(path, encoding, line, data[error.start : error.end]) from None
            line += data.count(b"\n")
            if raw is not None:  # the whole file is only read for the line of an error
                text.append(decoded)
        if complete:
            try:
                text.append(decoder.decode(b"", final=True))
            except UnicodeDecodeError as error:
                raise _encoding_error(path, encoding, line, error.object[error.start : error.end]) from None
    return "".join(text).removeprefix("\ufeff"), complete


def _encoding_error(path: Path, encoding: str, line: int, received: bytes) -> DataError:
    if codecs.lookup(encoding).name == "utf-8":
        suggestion = "latin-1 (or cp1252, common for files saved on Windows)"
    else:
        suggestion = "utf-8"
    return DataError(
        f"data file '{path}' is not {encoding} text: expected bytes that {encoding} can decode, received "
        f"{' '.join(f'0x{byte:02x}' for byte in received)} in line {line}.",
        hint=f"set data.encoding in the spec to the encoding the file was saved in, e.g. data.encoding: "
        f"{suggestion}; or save the file as UTF-8.",
    )


def _check_unique_names(path: Path, names: list[str], where: str, hint: str) -> None:
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(names, start=1):
        if name:  # pandas names unnamed columns apart itself ('Unnamed: 3')
            positions.setdefault(name, []).append(position)
    repeated = {name: places for name, places in positions.items() if len(places) > 1}
    if repeated:
        received = "; ".join(
            f"{name!r} as columns {', '.join(map(str, places[:-1]))} and {places[-1]}"
            for name, places in repeated.items()
        )
        raise DataError(
            f"data file '{path}' has a column name more than once in its {where}: expected each name once, "
            f"received {received}.",
            hint=hint.format(name=next(iter(repeated))),
        )


def _yaml_character(character: str) -> str:
    return '"\\t"' if character == "\t" else f"'{character}'"


def read_image_folder(folder: str | Path) -> Table:
    """A folder of images as a table: ``image`` (file paths) and, with subfolders, ``label``.

    With one subfolder per class (``photos/cat/1.png``, ``photos/dog/7.jpg``)
    the subfolder's name is the ``label`` of every image below it; a flat
    folder gives ``image`` alone. Files with other extensions are skipped.
    """
    folder = Path(folder)
    files = [path for path in folder.rglob("*") if path.is_file() and not path.name.startswith(".")]
    images = sorted(path for path in files if path.suffix.lower() in IMAGE_EXTENSIONS)
    _warn_of_unread_images(folder, files)
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
    # Paths relative to the folder, which the table records as its file: images resolve against it
    # (`Table.folder_of`) as a CSV's relative paths resolve against its folder. Joined to it here, a
    # relative `data.source` was joined twice (digits/digits/0/1.png).
    columns: dict[str, Any] = {
        "image": np.array([str(path.relative_to(folder)) for path in images], dtype=object)
    }
    if nested:
        columns["label"] = np.array([path.relative_to(folder).parts[0] for path in images], dtype=object)
    return Table(columns, origin=f"image folder '{folder}'", files=[folder])


#: Image files an image folder may hold that TensorFlow's decoders do not read.
UNREAD_IMAGE_EXTENSIONS = (".gif", ".webp", ".tif", ".tiff", ".svg", ".heic", ".avif")


def _warn_of_unread_images(folder: Path, files: list[Path]) -> None:
    """Say which image files a folder holds that are skipped: a class of WebP images vanished."""
    unread = [path for path in files if path.suffix.lower() in UNREAD_IMAGE_EXTENSIONS]
    if not unread:
        return
    counts = Counter(path.suffix.lower() for path in unread)
    read_classes = {
        path.relative_to(folder).parts[0] for path in files if path.suffix.lower() in IMAGE_EXTENSIONS
    }
    lost = sorted(
        {path.relative_to(folder).parts[0] for path in unread if path.parent != folder} - read_classes
    )
    warnings.warn(
        f"folder '{folder}': {len(unread)} image file(s) skipped ("
        + ", ".join(f"{count} {suffix}" for suffix, count in sorted(counts.items()))
        + f"): fusegen reads {', '.join(IMAGE_EXTENSIONS)}"
        + (f"; the class folder(s) {lost[:5]} have no image left" if lost else "")
        + ". Convert them (for example with Pillow) to PNG to use them.",
        FusegenWarning,
        stacklevel=3,
    )


def table_from_frame(frame, origin: str = "the DataFrame", files: list[Path] | None = None) -> Table:
    """A pandas DataFrame as a table; string columns become object arrays."""
    if frame.shape[1] == 0:
        raise DataError(f"{origin}: the data has no columns.")
    duplicated = sorted({str(name) for name in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise DataError(
            f"{origin}: expected each column name once, received {duplicated} more than once.",
            hint="rename the repeated columns.",
        )
    columns = {}
    for name in frame.columns:
        series = frame[name]
        if series.dtype.kind in "biuf":
            columns[str(name)] = series.to_numpy()
        else:
            columns[str(name)] = series.astype(object).where(series.notna(), None).to_numpy()
    return Table(columns, origin=origin, files=files)
