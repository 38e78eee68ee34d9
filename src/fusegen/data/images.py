"""Image files and encoded bytes: decoded with tf.io in a parallel map, checked, kept compact.

Every image is decoded once before training, in a `tf.data` map with
``num_parallel_calls=AUTOTUNE``, so that an unreadable file, a corrupt one, or
one with the wrong channel count or size is reported with its file and row
before any work is lost. When the decoded pixels fit in memory they are kept
as uint8 (a quarter of float32) and mapped to floats batch by batch in the
training pipeline; otherwise the files are decoded again every epoch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from fusegen.data.memory import aligned_empty
from fusegen.data.sources import Table, confine_path
from fusegen.errors import DataError

#: Images decoded per step of the checking pass.
DECODE_BATCH = 256
#: Share of the machine's memory that decoded pixels may take under ``data.cache: auto``.
CACHE_SHARE = 0.25


class ImageColumn:
    """Images kept compact until batched: uint8 pixels, or encoded files decoded per epoch.

    To the model the column looks like float32 images (N, H, W, C) equal to
    ``(pixels - low) / (high - low)``, clipped to [0, 1] when ``clip``. The
    training pipeline (`fusegen.data.pipeline.make_dataset`) gathers and maps
    whole batches; ``np.asarray(column)`` gives every image as floats.

    Args:
        shape: (N, height, width, channels).
        low, high: the pixel values that map to 0 and 1.
        clip: clip the floats to [0, 1].
        pixels: uint8 pixels (N, H, W, C), when kept in memory.
        sources: otherwise the encoded bytes or resolved file paths, one per row.
        decoder: the `ImageDecoder` that decodes ``sources``.
    """

    dtype = np.dtype("float32")

    def __init__(self, shape, low=0.0, high=255.0, clip=False, pixels=None, sources=None, decoder=None):
        self.shape = tuple(shape)
        self.low, self.high, self.clip = float(low), float(high), bool(clip)
        self.pixels, self.sources, self.decoder = pixels, sources, decoder

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def to_float(self, pixels):
        """Pixels (NumPy or a tensor) -> model floats; the same arithmetic either way."""
        import tensorflow as tf

        values = tf.cast(pixels, "float32")
        if self.low:
            values = values - self.low
        # One multiply, not a division: this runs on every batch of every epoch.
        values = values * (1.0 / (self.high - self.low))
        return tf.clip_by_value(values, 0.0, 1.0) if self.clip else values

    def __array__(self, dtype=None, copy=None):
        pixels = self.pixels if self.pixels is not None else self.decoder.decode_all(self.sources)
        values = (pixels.astype("float32") - self.low) / (self.high - self.low)
        if self.clip:
            values = np.clip(values, 0.0, 1.0)
        return values if dtype is None else values.astype(dtype)


class ImageDecoder:
    """Decode PNG, JPEG or BMP files or bytes to uint8 images of one size and channel count.

    Args:
        height, width, channels: the size the spec asks for.
        resize: resize other sizes (bilinear, antialiased); otherwise they are errors.
        convert_channels: convert other channel counts; otherwise they are errors.
        where: the input or output, for error messages.
    """

    def __init__(self, height, width, channels, resize, convert_channels, where):
        self.height, self.width, self.channels = height, width, channels
        self.resize, self.convert_channels, self.where = resize, convert_channels, where

    # ------------------------------------------------------------------
    # Reading the column
    # ------------------------------------------------------------------

    def sources(self, table: Table, column: str) -> np.ndarray:
        """The column as encoded bytes or resolved file paths; missing files are a `DataError`."""
        values = table.columns[column]
        sources = np.empty(len(values), dtype=object)
        missing = []
        for position, value in enumerate(values):
            if isinstance(value, (bytes, bytearray, np.bytes_)):
                sources[position] = bytes(value)
                continue
            if not isinstance(value, str) or not value:
                raise DataError(
                    f"{self.where}: expected a file path or encoded image bytes, received "
                    f"{value!r} in {table.row_label(position)}.",
                    hint="give PNG/JPEG paths (relative to the data file) or bytes, or arrays of pixels.",
                )
            path = Path(value)
            if not path.is_absolute():
                folder = table.folder_of(position)
                path = (folder / path) if folder is not None else path
            if table.confined_to is not None:
                confine_path(
                    path, table.confined_to, f"{self.where}: the image path in {table.row_label(position)}"
                )
            if not path.is_file():
                missing.append((position, path))
            sources[position] = str(path)
        if missing:
            first = ", ".join(f"'{path}' ({table.row_label(position)})" for position, path in missing[:3])
            raise DataError(
                f"{self.where}: {len(missing)} image file(s) do not exist or cannot be read: {first}.",
                hint="paths in a data file resolve against that file's folder.",
            )
        return sources

    # ------------------------------------------------------------------
    # Decoding
    # ------------------------------------------------------------------

    def decode_one(self, source, is_path, kinds: str = "mixed"):
        """Graph function: one encoded image (or path) -> (uint8 image, its native (h, w, c)).

        ``kinds`` is ``paths``, ``bytes`` or ``mixed``: what the whole column
        holds, so a column of one kind skips the per-image branch.
        """
        import tensorflow as tf

        image = tf.io.decode_image(self._read(source, is_path, kinds), expand_animations=False)
        native = tf.shape(image)
        same_size = tf.logical_and(tf.equal(native[0], self.height), tf.equal(native[1], self.width))
        as_expected = tf.logical_and(same_size, tf.equal(native[2], self.channels))
        # One branch for the common case keeps the per-image cost near the decode's own.
        image = tf.cond(as_expected, lambda: image, lambda: self._adjust(image, native, same_size))
        return tf.ensure_shape(image, (self.height, self.width, self.channels)), native

    @staticmethod
    def _read(source, is_path, kinds: str):
        """Graph function: the encoded bytes of one source (the bytes themselves, or a file's contents)."""
        import tensorflow as tf

        if kinds == "paths":
            return tf.io.read_file(source)
        if kinds == "bytes":
            return source
        return tf.cond(is_path, lambda: tf.io.read_file(source), lambda: source)

    def _adjust(self, image, native, same_size):
        """Another channel count or size: converted and resized, or a blank reported after the pass."""
        import tensorflow as tf

        image = self._to_channels(image, native[2])
        target = (self.height, self.width, self.channels)
        if not self.resize:
            # A wrong size is reported after the pass; a blank keeps the batch stackable until then.
            return tf.cond(same_size, lambda: image, lambda: tf.zeros(target, tf.uint8))

        def resized():
            values = tf.image.resize(image, (self.height, self.width), antialias=True)
            return tf.cast(tf.clip_by_value(tf.round(values), 0, 255), tf.uint8)

        return tf.cond(same_size, lambda: image, resized)

    def _to_channels(self, image, native_channels):
        """Grey (1), grey + alpha (2), RGB (3) or RGBA (4) -> ``channels``. Where the alpha channel is
        dropped, the image is laid on white first (`on_white`)."""
        import tensorflow as tf

        if self.channels != 4:
            has_alpha = tf.logical_or(tf.equal(native_channels, 2), tf.equal(native_channels, 4))
            image = tf.cond(has_alpha, lambda: _on_white_tensor(image), lambda: image)
            native_channels = tf.shape(image)[-1]
        colour = tf.cond(
            native_channels < 3,
            lambda: tf.image.grayscale_to_rgb(image[..., :1]),
            lambda: image[..., :3],
        )
        if self.channels == 3:
            return colour
        if self.channels == 1:
            return tf.cond(
                native_channels < 3,
                lambda: image[..., :1],
                lambda: tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(colour, "float32"))), tf.uint8),
            )
        alpha = tf.cond(
            tf.logical_or(tf.equal(native_channels, 2), tf.equal(native_channels, 4)),
            lambda: image[..., -1:],
            lambda: tf.fill(tf.concat([tf.shape(image)[:2], [1]], 0), tf.constant(255, tf.uint8)),
        )
        return tf.concat([colour, alpha], axis=-1)

    def decode_all(self, sources: np.ndarray, table: Table | None = None, keep_pixels: bool = True):
        """Decode every image in parallel tf.data maps; report every bad one at once.

        Two passes: the first decodes each image and keeps those already of
        the spec's size and channel count, with nothing else per image (most
        columns are all such images, and a per-image branch cost about as much
        as the decode itself). The second takes only the rest through
        `decode_one`, which converts, resizes or marks them for the report.

        Returns uint8 pixels (N, H, W, C), or None when ``keep_pixels`` is false
        (the images were only checked).
        """
        import tensorflow as tf

        count = len(sources)
        is_path = np.array([isinstance(source, str) for source in sources])
        encoded = tf.constant([source.encode() if isinstance(source, str) else source for source in sources])
        kinds = source_kinds(is_path)
        expected = (self.height, self.width, self.channels)
        # Every row is written below, or reported (and raised) as undecodable.
        pixels = aligned_empty((count, *expected), "uint8") if keep_pixels else None
        native = np.full((count, 3), -1, "int64")

        def as_expected(index, source, path):
            image = tf.io.decode_image(self._read(source, path, kinds), expand_animations=False)
            return index, tf.ensure_shape(image, expected)

        for indices, images in _decoded(as_expected, np.arange(count), encoded, is_path):
            native[indices] = expected
            if keep_pixels:
                pixels[indices] = images
        rest = np.flatnonzero(native[:, 0] < 0)
        if len(rest):
            convert = lambda index, source, path: (index, *self.decode_one(source, path, kinds))  # noqa: E731
            for indices, images, shapes in _decoded(convert, rest, tf.gather(encoded, rest), is_path[rest]):
                native[indices] = shapes
                if keep_pixels:
                    pixels[indices] = images
        self._report(sources, native, table)
        return pixels

    def _report(self, sources: np.ndarray, native: np.ndarray, table: Table | None):
        def name(position):
            source = sources[position]
            label = f"'{source}'" if isinstance(source, str) else "encoded bytes"
            return f"{label} ({table.row_label(position)})" if table is not None else label

        problems = []
        broken = np.flatnonzero(native[:, 0] < 0)
        if len(broken):
            problems.append(
                f"{len(broken)} image(s) cannot be decoded as PNG, JPEG or BMP (corrupt, truncated or "
                f"another format): " + ", ".join(name(position) for position in broken[:3])
            )
        decoded = native[:, 0] >= 0
        channels = native[:, 2]
        wrong_channels = np.flatnonzero(decoded & (channels != self.channels))
        if len(wrong_channels) and not self.convert_channels:
            problems.append(
                f"{len(wrong_channels)} image(s) have another channel count: expected {self.channels}, "
                + ", ".join(
                    f"received {channels[position]} in {name(position)}" for position in wrong_channels[:3]
                )
                + " (set convert_channels: true on this image to convert grey, RGB and RGBA)"
            )
        sizes = native[:, :2]
        wrong_size = np.flatnonzero(decoded & ((sizes[:, 0] != self.height) | (sizes[:, 1] != self.width)))
        if len(wrong_size) and not self.resize:
            problems.append(
                f"{len(wrong_size)} image(s) have another size: expected {self.height}x{self.width}, "
                + ", ".join(
                    f"received {sizes[position][0]}x{sizes[position][1]} in {name(position)}"
                    for position in wrong_size[:3]
                )
                + " (set resize: true on this image to resize them)"
            )
        if problems:
            raise DataError(f"{self.where}: " + "; ".join(problems) + ".")


def _decoded(decode, indices: np.ndarray, encoded, is_path: np.ndarray):
    """``decode(index, source, is_path)`` over the rows in a parallel map, in batches of NumPy arrays.

    A source that fails (a corrupt file, or in the first pass an image of
    another shape) is dropped; the caller finds it by its missing index.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((indices, encoded, is_path))
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    dataset = dataset.ignore_errors().batch(DECODE_BATCH).prefetch(tf.data.AUTOTUNE)
    return dataset.as_numpy_iterator()


def source_kinds(is_path: np.ndarray) -> str:
    """``paths``, ``bytes`` or ``mixed``: what a column of image sources holds."""
    if is_path.all():
        return "paths"
    return "mixed" if is_path.any() else "bytes"


def fits_in_memory(num_bytes: int, cache: Any) -> bool:
    """Whether decoded pixels are kept in memory under ``data.cache``."""
    if cache is True or cache is False:
        return cache
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not every platform reports it
        memory = 8 * 1024**3
    return num_bytes <= CACHE_SHARE * memory


def convert_pixels(values: np.ndarray, channels: int) -> np.ndarray:
    """Pixel arrays (N, H, W, C) from grey, grey + alpha, RGB or RGBA to ``channels``."""
    native = values.shape[-1]
    if native == channels:
        return values
    if native in (2, 4) and channels != 4:
        values, native = on_white(values), native - 1
        if native == channels:
            return values
    colour = np.repeat(values[..., :1], 3, axis=-1) if native < 3 else values[..., :3]
    if channels == 3:
        return colour
    if channels == 1:
        if native < 3:
            return values[..., :1]
        grey = colour.astype("float32") @ np.array([0.2989, 0.587, 0.114], "float32")
        return np.round(grey)[..., None].astype(values.dtype)
    opaque = 255 if values.dtype == np.uint8 else 1.0
    alpha = values[..., -1:] if native in (2, 4) else np.full(values.shape[:-1] + (1,), opaque, values.dtype)
    return np.concatenate([colour, alpha], axis=-1)


def on_white(values: np.ndarray) -> np.ndarray:
    """Pixel arrays (N, H, W, C) with alpha last, laid on a white background, alpha dropped. Dropping
    alpha alone shows what transparent pixels happen to hold, most often black: an emoji on a black
    square. Viewers and browsers show transparency on white, and so does this."""
    full = 255.0 if values.dtype == np.uint8 else 1.0
    alpha = values[..., -1:].astype("float32") / full
    laid = values[..., :-1].astype("float32") * alpha + full * (1.0 - alpha)
    return (np.round(laid) if values.dtype == np.uint8 else laid).astype(values.dtype)


def _on_white_tensor(image):
    """Graph function: one uint8 image (H, W, C) with alpha last, laid on white (as `on_white`)."""
    import tensorflow as tf

    values = tf.cast(image, "float32")
    alpha = values[..., -1:] / 255.0
    laid = values[..., :-1] * alpha + 255.0 * (1.0 - alpha)
    return tf.cast(tf.clip_by_value(tf.round(laid), 0, 255), tf.uint8)


def resize_pixels(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pixel arrays (N, H, W, C) resized (bilinear, antialiased), keeping their dtype."""
    import tensorflow as tf

    resized = tf.image.resize(values, (height, width), antialias=True).numpy()
    if values.dtype == np.uint8:
        return np.clip(np.round(resized), 0, 255).astype("uint8")
    return resized.astype(values.dtype)
