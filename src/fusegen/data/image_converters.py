"""Images, for inputs and outputs alike: reading a column of them, and their converters.

A column holds pixel arrays (N, H, W, C), or image file paths or encoded
bytes that `fusegen.data.images.ImageDecoder` decodes with tf.io.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fusegen.data.checks import as_float, check_finite, check_shape
from fusegen.data.images import ImageColumn, ImageDecoder, convert_pixels, fits_in_memory, resize_pixels
from fusegen.data.sources import Table
from fusegen.data.tensors import GraphCache
from fusegen.errors import DataError
from fusegen.spec import GeneratorSpec


def read_images(
    table: Table, column: str, spec, where: str, keep_pixels: bool = True
) -> tuple[np.ndarray | None, np.ndarray | None, ImageDecoder]:
    """The images of a column as ``(pixels, sources, decoder)``.

    A column of file paths or encoded bytes is decoded (and checked) with
    tf.io; ``pixels`` is uint8, or None when ``keep_pixels`` is false, in which
    case ``sources`` holds what to decode each epoch. A column of arrays
    (N, H, W, C) keeps its dtype, converted and resized as the spec allows.
    """
    values = table.column(column, where)
    decoder = _decoder(spec, where)
    if values.dtype == object or values.dtype.kind in "SU":
        if values.ndim != 1:
            raise DataError(f"{where}: expected pixel arrays, file paths or bytes, received {values.dtype}.")
        sources = decoder.sources(table, column)
        return decoder.decode_all(sources, table, keep_pixels), sources, decoder
    if values.ndim == 3 and spec.channels == 1:
        values = values[..., None]
    expected = (spec.height, spec.width, spec.channels)
    if values.ndim != 4:
        check_shape(values, expected, where)
    if values.dtype.kind not in "iuf":
        values = as_float(values, where, table)
    if values.shape[-1] != spec.channels and spec.convert_channels and values.shape[-1] in (1, 2, 3, 4):
        values = convert_pixels(values, spec.channels)
    if values.shape[1:3] != expected[:2] and spec.resize and values.shape[-1] == spec.channels:
        values = resize_pixels(values, spec.height, spec.width)
    check_shape(values, expected, where)
    return values, None, decoder


def image_sources(table: Table, column: str, spec, where: str) -> tuple[np.ndarray, ImageDecoder]:
    """A column of image file paths or encoded bytes as its sources, resolved but not decoded, and their decoder.

    Streamed data (``data.stream``) reads images so, a block of rows at a
    time; a column of pixel arrays is a `DataError` there.
    """
    values = table.column(column, where)
    if values.ndim != 1 or not (values.dtype == object or values.dtype.kind in "SU"):
        raise DataError(
            f"{where}: streamed data (data.stream) reads images from file paths or encoded bytes, a row at a "
            f"time; received {values.dtype} values of shape {list(values.shape[1:])} a row.",
            hint="store the images as files (paths in the column) or PNG/JPEG bytes, or set data.stream: false.",
        )
    decoder = _decoder(spec, where)
    return decoder.sources(table, column), decoder


def _decoder(spec, where: str) -> ImageDecoder:
    return ImageDecoder(spec.height, spec.width, spec.channels, spec.resize, spec.convert_channels, where)


def decode_image_files(table: Table, spec: GeneratorSpec) -> Table:
    """Decode each column of image files or bytes once, for every row, when the pixels fit in memory.

    The training and validation splits then take their rows from the decoded
    uint8 pixels, so each image is read, decoded and checked exactly once
    (with the file and row of any bad one). A column that two parts read with
    different sizes, or whose pixels would not fit, is left to the converters.
    """
    parts = [
        (f"Input '{name}' (image)", part, spec.input_column(name))
        for name, part in spec.inputs.items()
        if part.kind == "image"
    ]
    if spec.output.kind == "image":
        parts.append((f"Output '{spec.output.name}' (image)", spec.output, spec.output_column()))
    cache = spec.data.pixel_cache if spec.data else "auto"
    decoded = {}
    for column in dict.fromkeys(column for _, _, column in parts):
        readers = [(where, part) for where, part, read in parts if read == column]
        values = table.columns.get(column)
        if values is None or not (values.dtype == object or values.dtype.kind in "SU"):
            continue
        settings = {
            (part.height, part.width, part.channels, part.resize, part.convert_channels)
            for _, part in readers
        }
        where, part = readers[0]
        if len(settings) > 1 or not fits_in_memory(
            len(table) * part.height * part.width * part.channels, cache
        ):
            continue
        decoded[column], _, _ = read_images(table, column, part, where)
    return table.with_columns(decoded) if decoded else table


def _image_column(pixels, sources, decoder, low, high, clip, spec) -> ImageColumn:
    shape = (len(pixels if pixels is not None else sources), spec.height, spec.width, spec.channels)
    return ImageColumn(shape, low, high, clip, pixels=pixels, sources=sources, decoder=decoder)


class ImageConverter:
    """Images (N, H, W, C) as floats in [0, 1]; uint8 data and image files are divided by 255.

    Images come as arrays, or as a column of PNG/JPEG/BMP file paths (relative
    to the data file's folder) or encoded bytes, decoded with tf.io, resized
    to the spec's height and width unless ``resize: false``, and converted to
    its channel count when ``convert_channels: true``.
    """

    def __init__(self, name, spec, scale: float | None = None):
        self.name, self.spec, self.scale = name, spec, scale
        self.where = f"Input '{name}' (image)"

    @staticmethod
    def example_values(spec, rows: int, rng: np.random.Generator) -> np.ndarray:
        """Random raw values of ``spec``'s kind, in the user's form (the conformance tests feed them)."""
        return rng.integers(0, 256, (rows, spec.height, spec.width, spec.channels), dtype=np.uint8)

    def fit(self, table: Table, column: str):
        values = table.column(column, self.where)
        if values.dtype == object or values.dtype.kind in "SU":
            # Files decode to uint8; they are decoded (and checked) once, in transform.
            self.scale = 255.0
            return self
        values, _, _ = read_images(table, column, self.spec, self.where)
        if values.dtype == np.uint8:
            self.scale = 255.0
            return self
        values = as_float(values, self.where, table)
        check_finite(values, self.where, table)
        self.scale = 255.0 if float(np.max(values)) > 1.0 else 1.0
        return self

    def transform(self, table: Table, column: str, compact: bool = False, cache: Any = "auto"):
        """Float images; with ``compact``, uint8 images stay uint8 in an `ImageColumn`."""
        keep = not compact or fits_in_memory(self._decoded_bytes(table), cache)
        pixels, sources, decoder = read_images(table, column, self.spec, self.where, keep_pixels=keep)
        if pixels is None or pixels.dtype == np.uint8:
            # Files decode to uint8, and uint8 pixels are 0..255 whatever the training images were: a
            # model fitted on floats in [0, 1] read PNGs 255 times too bright.
            if compact:
                return _image_column(pixels, sources, decoder, 0.0, 255.0, False, self.spec)
            return pixels.astype("float32") * np.float32(1.0 / 255.0)
        values = as_float(pixels, self.where, table)
        check_finite(values, self.where, table)
        self._check_float_range(values)
        # One float32 multiply, as training batches (`ImageColumn.to_float`) and `tf_transform` do.
        return values * np.float32(1.0 / self.scale)

    def _check_float_range(self, values: np.ndarray) -> None:
        """Float pixels are read in the training images' range, 0..1 or 0..255: refuse the other one,
        which would be read 255 times too dark or too bright."""
        if not values.size:
            return
        peak = float(np.max(values))
        trained = "0..255" if self.scale == 255.0 else "0..1"
        if (self.scale == 255.0 and 0.0 < peak <= 1.0) or (self.scale == 1.0 and peak > 2.0):
            received = "0..1" if peak <= 1.0 else "0..255"
            raise DataError(
                f"{self.where}: float pixels in {received} (the largest {peak:.4g}), but the generator was "
                f"trained on images in {trained}; it would read them 255 times too "
                f"{'dark' if received == '0..1' else 'bright'}.",
                hint=f"pass float pixels in {trained}, or uint8 pixels (0..255) or image files, which are "
                "read in either case.",
            )

    def undecoded(self, table: Table, column: str) -> ImageColumn:
        """The images as an `ImageColumn` of their sources, neither decoded nor checked.

        Streamed data decodes them batch by batch (`fusegen.data.streamed_images`);
        its fitting pass checked every one.
        """
        sources, decoder = image_sources(table, column, self.spec, self.where)
        return _image_column(None, sources, decoder, 0.0, 255.0, False, self.spec)  # files decode to uint8

    def tf_input_spec(self):
        import tensorflow as tf

        shape = (None, self.spec.height, self.spec.width, self.spec.channels)
        return tf.TensorSpec(shape, tf.float32, name=self.name)

    def tf_transform(self, values):
        """Images in the data's value range -> the model's floats: `transform`'s arithmetic."""
        import tensorflow as tf

        return tf.cast(values, tf.float32) * (1.0 / self.scale)

    tf_resources: tuple = ()

    def _decoded_bytes(self, table: Table) -> int:
        return len(table) * self.spec.height * self.spec.width * self.spec.channels

    def get_state(self) -> dict:
        return {"scale": self.scale}


class ImageOutputConverter:
    """Target images mapped from ``value_range`` to [0, 1] and back; arrays or image files."""

    def __init__(self, spec):
        self.spec = spec
        self.where = f"Output '{spec.name}' (image)"
        self._inverse_graph = GraphCache(self.tf_inverse)

    def fit(self, table: Table, column: str):
        return self

    def transform(self, table: Table, column: str, compact: bool = False, cache: Any = "auto"):
        spec = self.spec
        keep = not compact or fits_in_memory(len(table) * spec.height * spec.width * spec.channels, cache)
        pixels, sources, decoder = read_images(table, column, spec, self.where, keep_pixels=keep)
        low, high = spec.value_range
        if compact and (pixels is None or pixels.dtype == np.uint8):
            return _image_column(pixels, sources, decoder, low, high, True, spec)
        values = as_float(pixels, self.where, table)
        check_finite(values, self.where, table)
        # The arithmetic of compact training batches (`ImageColumn.to_float`).
        if low:
            values = values - np.float32(low)
        return np.clip(values * np.float32(1.0 / (high - low)), 0.0, 1.0).astype("float32")

    def undecoded(self, table: Table, column: str) -> ImageColumn:
        """As `ImageConverter.undecoded`: the target images as their sources, to decode batch by batch."""
        sources, decoder = image_sources(table, column, self.spec, self.where)
        low, high = self.spec.value_range
        return _image_column(None, sources, decoder, low, high, True, self.spec)

    def tf_inverse(self, values):
        """[0, 1] -> ``value_range``, rounded to uint8 when the output's dtype is uint8."""
        import tensorflow as tf

        low, high = self.spec.value_range
        images = tf.clip_by_value(tf.cast(values, tf.float32), 0.0, 1.0) * (high - low) + low
        if self.spec.dtype == "uint8":
            return tf.cast(tf.clip_by_value(tf.round(images), 0.0, 255.0), tf.uint8)
        return images

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return self._inverse_graph(values)

    def get_state(self) -> dict:
        return {}
