"""Images in streamed data: their sources go through the stream, and each batch is decoded as it leaves.

A streamed block of rows holds an image column as its file paths or encoded
bytes (`fusegen.data.image_converters.ImageConverter.undecoded`), a few
bytes a row, so the shuffle buffer and the batches read ahead hold no
pixels. Each batch's images are then decoded with tf.io in a parallel map,
by the same `ImageDecoder` (size, channels, resizing) and the same
arithmetic to floats (`ImageColumn.to_float`) as in memory. The fitting
pass decodes and checks every image first (`ImageCheck`), so a bad file is
named with its row before training starts.
"""

from __future__ import annotations

import numpy as np

from fusegen.data.image_converters import ImageConverter, ImageOutputConverter, image_sources
from fusegen.data.images import ImageColumn, source_kinds
from fusegen.data.table import Table
from fusegen.errors import DataError


class ImageCheck:
    """The fitting pass's statistic of an image input or output: every image decoded and checked, none kept.

    Nothing is fitted from the pixels (an image file's scale is 255); the
    check finds a missing, corrupt or wrongly sized image, naming its file
    and row, before training starts, as the in-memory path does.
    """

    def __init__(self, converter: ImageConverter | ImageOutputConverter, column: str):
        self.converter, self.column = converter, column
        self.rows = 0

    def add(self, table: Table, train: np.ndarray) -> None:
        spec, where = self.converter.spec, self.converter.where
        sources, decoder = image_sources(table, self.column, spec, where)
        decoder.decode_all(sources, table, keep_pixels=False)
        self.rows += len(table)

    def update(self, state: dict) -> None:
        """Nothing to replace: the state fitted on the sample holds."""

    def describe(self, sample_rows: int) -> list[str]:
        return [
            f"every image decoded and checked: {self.rows:,} rows, both splits; decoded per batch in training"
        ]


class StreamedImages:
    """The image columns among a stream's flattened columns: encoded into the stream, decoded out of it.

    Args:
        leaves: the flattened ``(inputs, targets)`` of the stream's first
            rows; its `ImageColumn` entries are the image columns.
    """

    def __init__(self, leaves: list):
        self.columns = {index: leaf for index, leaf in enumerate(leaves) if isinstance(leaf, ImageColumn)}
        self.kinds = {index: _kinds(column) for index, column in self.columns.items()}

    def encode(self, leaves: list) -> list[np.ndarray]:
        """A block's flattened columns, each image column as its sources in bytes (paths UTF-8 encoded)."""
        return [
            self._encoded(index, leaf) if index in self.columns else leaf for index, leaf in enumerate(leaves)
        ]

    def decode(self, values: list) -> list:
        """Graph function: a batch's flattened columns, each image column decoded to the model's floats."""
        return [
            self._decoded(index, value) if index in self.columns else value
            for index, value in enumerate(values)
        ]

    def _encoded(self, index: int, column: ImageColumn) -> np.ndarray:
        kinds = _kinds(column)
        if kinds != self.kinds[index]:
            raise DataError(
                f"{column.decoder.where}: the first rows hold image {self.kinds[index]}, a later block {kinds}; "
                "a streamed image column holds file paths or encoded bytes throughout.",
                hint="write the column as paths (text) in every file, or as bytes in every file.",
            )
        return np.array([_as_bytes(source) for source in column.sources], dtype=object)

    def _decoded(self, index: int, sources):
        import tensorflow as tf

        column, kinds = self.columns[index], self.kinds[index]
        decoder = column.decoder
        shape = (decoder.height, decoder.width, decoder.channels)
        pixels = tf.map_fn(
            lambda source: decoder.decode_one(source, None, kinds)[0],
            sources,
            fn_output_signature=tf.TensorSpec(shape, tf.uint8),
        )
        return column.to_float(pixels)


def _kinds(column: ImageColumn) -> str:
    kinds = source_kinds(np.array([isinstance(source, str) for source in column.sources]))
    if kinds == "mixed":
        raise DataError(
            f"{column.decoder.where}: streamed image columns hold file paths or encoded bytes, received both.",
            hint="write the column as paths (text) or as bytes throughout.",
        )
    return kinds


def _as_bytes(source) -> bytes:
    return source.encode() if isinstance(source, str) else bytes(source)
