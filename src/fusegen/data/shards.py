"""Many table files read as one source, batch by batch: which files, whose they are, which rows validate.

A streamed source is a glob of CSV or Parquet files (``data/part-*.parquet``),
or one such file. Nothing here holds more than one batch of one file:
`read_batches` yields each batch as a small `Table` that remembers its file
and its rows' numbers in that file, so a converter's error names them as it
would for a table read whole.

Here too are the pure functions that decide what streams (`stream_decision`),
which files a worker of a cluster reads (`files_for_worker`) and which rows
validate without seeing the whole table (`validation_by_key`,
`validation_by_position`), so that the in-memory path can split the same way.
"""

from __future__ import annotations

import dataclasses
import glob
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fusegen.data.files import EXTRA_MISSING_MARKERS, TABLE_EXTENSIONS, detect_csv_delimiter, table_from_frame
from fusegen.data.table import Table
from fusegen.errors import DataError
from fusegen.spec import DataSpec

#: ``data.stream: auto`` streams a source whose files hold more than this many bytes on disk.
STREAM_ABOVE_BYTES = 1 << 30
#: Rows read from a file at a time.
BATCH_ROWS = 65536


@dataclasses.dataclass(frozen=True)
class ShardSet:
    """The files of a streamed source, in name order, and how to read them.

    Args:
        origin: the source as the spec names it, for messages.
        paths: every file, sorted by name.
        delimiter: CSV files' delimiter (``data.delimiter``); detected per file when None.
        encoding: CSV files' encoding (``data.encoding``).
        confined_to: with ``data.untrusted``, the folder that file paths in
            the data (image columns) must stay inside.
    """

    origin: str
    paths: tuple[Path, ...]
    delimiter: str | None = None
    encoding: str = "utf-8"
    confined_to: Path | None = None

    @property
    def num_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.paths)

    def num_rows(self) -> int | None:
        """Rows in all files from the Parquet footers alone; None when a file is CSV (it must be read)."""
        import pyarrow.parquet as parquet

        if any(path.suffix.lower() == ".csv" for path in self.paths):
            return None
        return sum(parquet.ParquetFile(path).metadata.num_rows for path in self.paths)


def shard_set(data: DataSpec, base_dir: str | Path | None = None) -> ShardSet | None:
    """The files of ``data.source`` when it is a CSV or Parquet file or a glob of them; else None.

    Raises a `DataError` when a glob matches nothing, or matches other files.
    Paths are confined to ``base_dir`` as `fusegen.data.sources.load_table` confines them.
    """
    from fusegen.data.sources import confine_path

    source = data.source
    if source is None or source.startswith(("bundled:", "python:")):
        return None
    path = Path(source)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    root = Path(base_dir or Path.cwd()).resolve() if data.untrusted else None
    if not glob.has_magic(str(path)):
        if path.suffix.lower() not in TABLE_EXTENSIONS or not path.is_file():
            return None
        confine_path(path, root, "data.source")
        return ShardSet(str(path), (path,), data.delimiter, data.encoding, root)
    confine_path(path.parent, root, "data.source")
    paths = sorted(Path(match) for match in glob.glob(str(path)) if Path(match).is_file())
    if not paths:
        raise DataError(f"no files match '{path}'.", hint="check the folder and the pattern in data.source.")
    unsupported = [str(match) for match in paths if match.suffix.lower() not in TABLE_EXTENSIONS]
    if unsupported:
        raise DataError(
            f"'{path}' matches files that are not CSV or Parquet: {unsupported[:5]}.",
            hint="narrow the pattern, e.g. 'parts/*.parquet'.",
        )
    return ShardSet(f"'{path}' ({len(paths)} files)", tuple(paths), data.delimiter, data.encoding, root)


def stream_decision(data: DataSpec | None, base_dir: str | Path | None = None) -> tuple[ShardSet | None, str]:
    """Whether to stream ``data``: its `ShardSet` (None: read it into memory), and why, in words."""
    if data is None or data.source is None:
        return None, "in memory: the data is passed in Python"
    if data.stream is False:
        return None, "in memory (data.stream: false)"
    shards = shard_set(data, base_dir)
    if data.stream is True:
        if shards is None and _is_folder(data, base_dir):
            # A folder's rows are its file paths, a few bytes each; the pixels are what would not fit.
            return (
                None,
                "streamed (data.stream: true): the image folder's paths in memory, each batch's images decoded",
            )
        if shards is None:
            raise DataError(
                f"data.stream: true streams CSV or Parquet files or an image folder, received data.source "
                f"'{data.source}'.",
                hint="point data.source at a CSV or Parquet file, a glob of them or a folder of images, or set "
                "data.stream: auto.",
            )
        if data.max_rows is not None:
            raise DataError(
                f"data.stream: true reads every row of {shards.origin}, received data.max_rows {data.max_rows}.",
                hint="narrow the glob to fewer files instead, or leave out data.stream to read the first "
                "rows into memory.",
            )
        return shards, f"streamed (data.stream: true): {len(shards.paths)} file(s), {_size(shards.num_bytes)}"
    if shards is None:
        return None, "in memory (data.stream: auto streams only CSV or Parquet files)"
    size = shards.num_bytes
    if data.max_rows is not None:
        return None, f"in memory (data.stream: auto, data.max_rows {data.max_rows})"
    if size <= STREAM_ABOVE_BYTES:
        return (
            None,
            f"in memory (data.stream: auto; {_size(size)} on disk, streamed above {_size(STREAM_ABOVE_BYTES)})",
        )
    return shards, f"streamed (data.stream: auto): {len(shards.paths)} file(s), {_size(size)} on disk"


def _is_folder(data: DataSpec, base_dir: str | Path | None) -> bool:
    if data.source.startswith(("bundled:", "python:")):
        return False
    path = Path(data.source)
    return (path if path.is_absolute() or base_dir is None else Path(base_dir) / path).is_dir()


def _size(num_bytes: int) -> str:
    return f"{num_bytes / 1e9:.2f} GB" if num_bytes >= 1e8 else f"{num_bytes / 1e6:.1f} MB"


# --------------------------------------------------------------------------
# Which files a worker reads, and which validate
# --------------------------------------------------------------------------


def files_for_worker(paths, num_workers: int, worker_index: int) -> list:
    """The files worker ``worker_index`` of ``num_workers`` reads: every ``num_workers``-th, from its index.

    Each file goes to exactly one worker, so the workers together read every
    row once. The files must share out evenly: a worker with fewer files would
    run out of batches first, and a collective step waits for every worker.

    >>> files_for_worker(["a", "b", "c", "d"], num_workers=2, worker_index=1)
    ['b', 'd']
    """
    paths = list(paths)
    if not 0 <= worker_index < num_workers:
        raise ValueError(f"worker_index must be in [0, {num_workers}), received {worker_index}")
    if len(paths) % num_workers:
        raise DataError(
            f"{len(paths)} training files cannot be shared out evenly among {num_workers} workers, so one "
            "worker would run out of data before the others, and every step waits for all of them.",
            hint=f"write the data as a multiple of {num_workers} files (e.g. {num_workers * max(1, len(paths) // num_workers)}), "
            "or change the number of workers.",
        )
    return paths[worker_index::num_workers]


def split_files(shards: ShardSet, validation_files: int | None) -> tuple[list[Path], list[Path]]:
    """Training and validation files: the last ``validation_files`` files (by name) validate."""
    paths = list(shards.paths)
    if not validation_files:
        return paths, []
    if validation_files >= len(paths):
        raise DataError(
            f"data.validation_files {validation_files} holds out every file of {shards.origin}, "
            f"which has {len(paths)}; none is left to train on.",
            hint=f"set data.validation_files below {len(paths)}, or split the data into more files.",
        )
    return paths[: len(paths) - validation_files], paths[len(paths) - validation_files :]


def validation_by_key(keys: np.ndarray, validation_split: float) -> np.ndarray:
    """Which rows validate: those whose key, hashed as text, falls in the first ``validation_split`` of the range.

    The hash (pandas' `hash_array`, a SipHash with a fixed key) depends on the
    key alone, so the split is the same on every run, every machine, every
    file order, and in memory or streamed.

    >>> validation_by_key(np.array(["alice", "bob", "alice", "carol"], dtype=object), 0.5).tolist()
    [True, False, True, False]
    """
    from pandas.util import hash_array

    keys = np.asarray(keys)
    if keys.dtype.kind in "iu":  # the same text as str(key), converted by NumPy rather than key by key
        text = keys.astype(str).astype(object)
    else:
        text = np.array([str(key) for key in keys], dtype=object)
    # The same hashes as categorize=True, which first looks for repeated keys: 10x slower when few repeat.
    return _below(hash_array(text, categorize=False), validation_split)


def file_signature(path: Path) -> tuple[int, int]:
    """A file's size and modification time: whether it changed since the fitting pass read it."""
    stat = Path(path).stat()
    return stat.st_size, stat.st_mtime_ns


def validation_by_position(table: Table, validation_split: float) -> np.ndarray:
    """Which rows validate when no key is given: a hash of each row's file name and row number in it."""
    from pandas.util import hash_array

    names = np.array([Path(path).name for path in table.files] or [""], dtype=object)
    file_hashes = hash_array(names, categorize=False)
    mixed = table.row_ids.astype("uint64") ^ file_hashes[table.row_files.astype("int64")]
    return _below(hash_array(mixed), validation_split)


def _below(hashes: np.ndarray, share: float) -> np.ndarray:
    # A uint64 hash is uniform over [0, 2**64): the first `share` of that range validates.
    return hashes < np.uint64(min(share, 1.0) * float(2**64 - 1))


# --------------------------------------------------------------------------
# Reading, a batch at a time
# --------------------------------------------------------------------------


def read_batches(
    shards: ShardSet, paths, columns: list[str] | None = None, batch_rows: int = BATCH_ROWS
) -> Iterator[Table]:
    """Each file of ``paths`` (members of ``shards``) in turn, ``batch_rows`` rows at a time, as tables.

    A batch's `Table` names its file and its rows' numbers in that file. A
    file whose columns differ from the first file's is a `DataError` naming
    both, raised when it is reached.
    """
    expected = None
    for path in paths:
        file_index = shards.paths.index(path)
        first_row = 0
        for frame in _frames(path, columns, batch_rows, shards):
            names = list(frame.columns)
            if expected is None:
                expected = names
            elif names != expected:
                raise DataError(
                    f"'{path}' has other columns than '{shards.paths[0]}': expected {expected}, received {names}.",
                    hint="every file of a glob needs the same columns in the same order.",
                )
            table = table_from_frame(frame, origin=str(path))
            yield Table(
                table.columns,
                origin=str(path),
                files=list(shards.paths),
                row_files=np.full(len(table), file_index, "int32"),
                row_ids=np.arange(first_row, first_row + len(table)),
                confined_to=shards.confined_to,
            )
            first_row += len(table)


def _frames(path: Path, columns, batch_rows: int, shards: ShardSet):
    """DataFrames of up to ``batch_rows`` rows: Parquet through pyarrow's batches, CSV through pandas' chunks.

    CSV goes through the same pandas reader as a file read whole, so a chunk's
    types and missing values come out as they would in memory.
    """
    import pandas as pd

    try:
        if path.suffix.lower() == ".csv":
            delimiter = shards.delimiter or detect_csv_delimiter(path, shards.encoding)
            reader = pd.read_csv(
                path,
                sep=delimiter,
                encoding=shards.encoding,
                usecols=columns,
                chunksize=batch_rows,
                na_values=list(EXTRA_MISSING_MARKERS),
            )
            with reader:
                for chunk in reader:
                    yield chunk[columns] if columns else chunk
            return
        import pyarrow.dataset as dataset

        source = dataset.dataset(path, format="parquet")
        if columns:
            absent = [column for column in columns if column not in source.schema.names]
            if absent:
                raise DataError(
                    f"'{path}' has no column(s) {absent}; available: {', '.join(source.schema.names)}.",
                    hint="every file of a glob needs the columns the spec reads.",
                )
        for batch in source.to_batches(columns=columns, batch_size=batch_rows):
            if batch.num_rows:
                yield batch.to_pandas()
    except DataError:
        raise
    except (ValueError, OSError) as error:  # pandas and pyarrow (ArrowInvalid is a ValueError)
        raise DataError(f"cannot read data file '{path}': {error}") from None
