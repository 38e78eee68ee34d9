"""Writing generated outputs in the user's terms: records to CSV/Parquet, arrays to NPZ, images to PNGs.

Every file is complete under its name or absent: written to a temporary
name and renamed, and a stream interrupted by an error or a signal removes
its partial file.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from fusegen.errors import DataError
from fusegen.fileio import atomic_write_bytes, atomic_write_text, temporary_beside


def write_outputs(
    outputs, path: str | Path, name: str = "output", datetime_formats: dict[str, str] | None = None
) -> list[Path]:
    """Write predictions: records to CSV/Parquet, arrays to NPZ, images also as PNGs in a folder.

    ``datetime_formats`` (the record output's, strftime codes by column) writes
    those datetime columns to CSV in the layout the data used (`dated_text`).
    """
    path = Path(path)
    if hasattr(outputs, "to_csv"):
        if path.suffix.lower() in TABLE_SUFFIXES[1:]:
            buffer = io.BytesIO()
            outputs.to_parquet(buffer, index=False)
            atomic_write_bytes(path, buffer.getvalue())
        else:
            atomic_write_text(path, plain_floats(dated_text(outputs, datetime_formats)).to_csv(index=False))
        return [path]
    outputs = np.asarray(outputs)
    if path.suffix.lower() == ".npz":
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{name: outputs})
        atomic_write_bytes(path, buffer.getvalue())
        return [path]
    if outputs.ndim == 4 and outputs.dtype == np.uint8 and not path.suffix:
        return [_write_png(image, path / f"{name}_{index:05d}.png") for index, image in enumerate(outputs)]
    raise DataError(
        f"cannot write {name} outputs of shape {list(outputs.shape)} to '{path}'; "
        "use a .npz file (or a folder for uint8 images)."
    )


def add_npz_arrays(path: str | Path, frame, len_of: str) -> list[str]:
    """Add ``frame``'s columns to the NPZ at ``path`` as arrays beside its ``len_of`` array, where they
    have as many rows. Text becomes a fixed-width unicode array, so ``np.load`` reads it without
    ``allow_pickle``. A column named as an array already in the file is left out. Returns the names
    added."""
    path = Path(path)
    with np.load(path) as stored:
        arrays = {name: stored[name] for name in stored.files}
    if len(arrays[len_of]) != len(frame):
        return []
    added = [column for column in frame.columns if column not in arrays]
    for column in added:
        values = np.asarray(frame[column])
        arrays[column] = values.astype(str) if values.dtype == object else values
    if added:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(path, buffer.getvalue())
    return added


def write_output_stream(
    chunks: Iterable, path: str | Path, name: str = "output", datetime_formats: dict[str, str] | None = None
) -> tuple[list[Path], int]:
    """Write chunks of outputs as they come, so memory holds one chunk at a time.

    Records stream to CSV or Parquet, and uint8 images to PNGs in a folder.
    Files appear under their name only when complete (written to a temporary
    name, then renamed). Arrays for ``.npz`` are gathered first, since NPZ
    cannot be appended to. ``datetime_formats`` is as for `write_outputs`.
    Returns the paths written and the number of samples.
    """
    path = Path(path)
    iterator = iter(chunks)
    first = next(iterator)
    if hasattr(first, "to_csv"):
        return [path], _stream_records(first, iterator, path, datetime_formats)
    first = np.asarray(first)
    if first.ndim == 4 and first.dtype == np.uint8 and not path.suffix:
        written: list[Path] = []
        for chunk in _chain(first, iterator):
            for image in np.asarray(chunk):
                written.append(_write_png(image, path / f"{name}_{len(written):05d}.png"))
        return written, len(written)
    outputs = concatenate_chunks([first, *map(np.asarray, iterator)])
    return write_outputs(outputs, path, name), len(outputs)


def dated_text(frame, datetime_formats: dict[str, str] | None):
    """``frame`` with each datetime column of ``datetime_formats`` as text in its strftime format.

    A column read as ``2016/01/01 00:47:36`` is written back so, not as pandas'
    ISO 8601 ``2016-01-01 00:47:36``; a missing time stays an empty cell. A
    column without a format, or with ``ISO8601``, is left a datetime.

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"when": pd.to_datetime(["2020-01-02", None])})
    >>> dated_text(frame, {"when": "%d/%m/%Y"})["when"].tolist()
    ['02/01/2020', nan]
    >>> dated_text(frame, {"when": "%-d/%-m/%Y"})["when"].tolist()
    ['2/1/2020', nan]
    """
    import pandas as pd

    formats = {
        column: text
        for column, text in (datetime_formats or {}).items()
        if text != "ISO8601"
        and column in frame.columns
        and pd.api.types.is_datetime64_any_dtype(frame[column])
    }
    if not formats:
        return frame
    from fusegen.data.records import format_datetimes

    frame = frame.copy()
    for column, text in formats.items():
        frame[column] = format_datetimes(frame[column], text)
    return frame


def plain_floats(frame):
    """``frame`` with each float32 column as text of its shortest decimals, in positional notation.

    pandas writes a float32 of 1342799.75 as ``1.3427998e+06`` and a count of 4269 as ``4269.0``
    (stevedata's pwt_sample forecast); here they are ``1342799.8`` and ``4269``, each the shortest
    text that reads back as the same float32. A gap stays an empty cell.

    >>> import pandas as pd
    >>> plain_floats(pd.DataFrame({"v": np.array([1342799.75, 4269.0, np.nan], "float32")}))["v"].tolist()
    ['1342799.8', '4269', '']
    """
    columns = [column for column in frame.columns if frame[column].dtype == np.float32]
    if not columns:
        return frame
    frame = frame.copy()
    for column in columns:
        frame[column] = [
            np.format_float_positional(value, trim="-")
            if np.isfinite(value)
            else ("" if np.isnan(value) else str(value))
            for value in frame[column].to_numpy()
        ]
    return frame


#: Suffixes of the files that sequence samples are written to as a long table (`sequence_frame`).
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")

#: What each output kind can be written as: a table, arrays (.npz), or PNGs in a folder (no suffix).
_DESTINATIONS = {
    "record": TABLE_SUFFIXES,
    "sequence": (*TABLE_SUFFIXES, ".npz"),
    "vector": (".npz",),
    "image": (".npz", ""),
}


def check_destination(path: str | Path, kind: str, option: str = "--out") -> None:
    """Refuse, before any sampling, a destination that outputs of ``kind`` cannot be written to
    (records written as CSV under the name ``samples.txt`` would mislead whoever reads them)."""
    path = Path(path)
    allowed = _DESTINATIONS.get(kind)
    if kind == "image" and not path.suffix and path.is_dir():
        earlier = sorted(path.glob("*_[0-9][0-9][0-9][0-9][0-9].png"))
        if earlier:
            # A second, smaller sample into the same folder left the first one's later images beside
            # its own, as if they were one sample.
            raise DataError(
                f"{option} '{path}' already holds {len(earlier)} image(s) of an earlier sample "
                f"({earlier[0].name}, ...); the new ones would be mixed with them.",
                hint="pass a new or empty folder, or remove those images first.",
            )
    if allowed is None or path.suffix.lower() in allowed:
        return
    named = [suffix or "a folder (no suffix)" for suffix in allowed]
    raise DataError(
        f"{option} '{path}': {kind} outputs are written as one of {named}; received "
        f"'{path.suffix or 'no suffix'}'.",
        hint=f"pass {option} {path.with_suffix(allowed[0] or '')}.",
    )


def quantile_summary_path(path: str | Path) -> Path:
    """Where the quantile summary of the samples in ``path`` goes: beside it, ``NAME.quantiles.npz``
    (``NAME.quantiles.csv`` or ``.parquet`` beside a table)."""
    path = Path(path)
    suffix = path.suffix if path.suffix.lower() in TABLE_SUFFIXES else ".npz"
    return path.with_name(f"{path.stem}.quantiles{suffix}")


def write_quantile_summary(
    samples: np.ndarray, quantiles, num_samples: int, path: str | Path, name: str = "output"
) -> Path:
    """Per-step quantiles of each condition row's sequence samples, written to an NPZ file.

    ``samples`` are (rows * num_samples, steps, channels), grouped by row as
    `fusegen.Generator.sample` returns them. The file holds ``name``: an array
    (rows, len(quantiles), steps, channels), where ``[r, k]`` is the
    ``quantiles[k]`` quantile of row ``r``'s samples at every step and channel
    (`fusegen.metrics.forecast.quantile_summary`), and ``quantile_levels``.
    """
    from fusegen.metrics.forecast import quantile_summary

    samples = np.asarray(samples)
    paths = samples.reshape(len(samples) // num_samples, num_samples, *samples.shape[1:])
    summary = quantile_summary(paths, quantiles)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name: summary, "quantile_levels": np.asarray(quantiles, "float64")})
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def sequence_frame(samples: np.ndarray, num_samples: int, output, steps=None, quantiles=None):
    """Sequence samples (or their per-step quantiles) as a long table a forecaster can read.

    Args:
        samples: (rows * num_samples, steps, channels), grouped by condition
            row as `fusegen.Generator.sample` returns them.
        num_samples: samples per condition row.
        output: the spec's sequence output (its channels name the value columns).
        steps: a `fusegen.data.windows.WindowSteps` for the windows of a long
            table: adds each window's group and the time each step forecasts.
        quantiles: levels in (0, 1): one row per condition row and step, with
            a column per channel and level (``demand_q0.1``; GluonTS's sample
            quantile, `fusegen.metrics.forecast.quantile_summary`), instead
            of one row per sample and step.

    Returns:
        A DataFrame: ``window`` (``row`` without windows), the group column,
        ``sample`` (paths only), ``step`` (1 = the first step ahead), the time
        column (or ``file_row``), then the values.
    """
    import pandas as pd

    from fusegen.metrics.forecast import quantile_summary

    samples = np.asarray(samples)
    rows, length = len(samples) // num_samples, samples.shape[1]
    if steps is not None and len(steps.times) != rows:
        raise DataError(
            f"{len(samples)} samples of {num_samples} per window make {rows} window(s), but the conditions cut "
            f"{len(steps.times)}."
        )
    channels = [
        column if output.columns else (column if output.channels == 1 else f"{column}_{index}")
        for column, index in output.channel_sources(output.name)
    ]
    paths = samples.reshape(rows, num_samples, length, -1)
    if quantiles is not None:
        # (rows, levels, steps, channels); each quantile is one of the paths, written as the paths are
        # (float32's 3860.72, not float64's 3860.719970703125).
        summary = quantile_summary(paths, quantiles).astype(paths.dtype)
        values = {
            f"{channel}_q{level:g}": summary[:, k, :, c].reshape(-1)
            for c, channel in enumerate(channels)
            for k, level in enumerate(quantiles)
        }
        repeats = 1
    else:
        values = {channel: paths[..., c].reshape(-1) for c, channel in enumerate(channels)}
        repeats = num_samples
    row_index = np.repeat(np.arange(rows), repeats * length)
    columns = [("window" if steps is not None else "row", row_index)]
    if steps is not None and steps.groups is not None:
        columns.append((steps.group_label, steps.groups[row_index]))
    if quantiles is None:
        columns.append(("sample", np.tile(np.repeat(np.arange(num_samples), length), rows)))
    columns.append(("step", np.tile(np.arange(1, length + 1), rows * repeats)))
    if steps is not None:
        columns.append((steps.time_label, np.repeat(steps.times, repeats, axis=0).reshape(-1)))
    columns.extend(values.items())
    names = [name for name, _ in columns]
    clashing = sorted({name for name in names if names.count(name) > 1})
    if clashing:
        raise DataError(
            f"the table of samples would have two columns named {clashing}: {names}.",
            hint="rename the long table's time or group column (and in the spec), or write a .npz file.",
        )
    return pd.DataFrame(dict(columns))


def _write_png(image: np.ndarray, target: Path) -> Path:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(buffer, format="PNG")
    atomic_write_bytes(target, buffer.getvalue())
    return target


def _chain(first, rest):
    yield first
    yield from rest


def _stream_records(first, rest, path: Path, datetime_formats: dict[str, str] | None = None) -> int:
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = temporary_beside(path)
    os.close(handle)
    count = 0
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            writer = None
            for chunk in _chain(first, rest):
                batch = pa.Table.from_pandas(chunk, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(temporary, batch.schema)
                writer.write_table(batch.cast(writer.schema))
                count += len(chunk)
            writer.close()
        else:
            with open(temporary, "w", encoding="utf-8", newline="") as stream:
                for index, chunk in enumerate(_chain(first, rest)):
                    plain_floats(dated_text(chunk, datetime_formats)).to_csv(
                        stream, index=False, header=index == 0
                    )
                    count += len(chunk)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count


def concatenate_chunks(chunks):
    """Join chunks of outputs (DataFrames, arrays, or dicts of arrays) along the first axis."""
    if hasattr(chunks[0], "iloc"):
        import pandas as pd

        return pd.concat(chunks, ignore_index=True)
    if isinstance(chunks[0], dict):
        return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}
    return np.concatenate(chunks)


def keeping(chunks: Iterable, kept: list) -> Iterator:
    """Pass ``chunks`` on, keeping each in ``kept``."""
    for chunk in chunks:
        kept.append(chunk)
        yield chunk
