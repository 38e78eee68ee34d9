"""Arrays that fusegen allocates so that TensorFlow can read them in place.

`tf.convert_to_tensor` copies every NumPy array it is given, so a column of
decoded images would be held twice while training: once by fusegen, once by
TensorFlow. For 20,000 images of 64x64x3 the copy alone took 0.7 s, a fifth
of the pipeline's first epoch, and 245 MB. TensorFlow reads a buffer in place
through DLPack only when it is aligned to 64 bytes (it aborts the process on
a misaligned one), so fusegen allocates its large arrays aligned, registers
them, and shares only those; a user's own arrays are always copied, so that
changing them later cannot change what trains.
"""

from __future__ import annotations

import weakref

import numpy as np

#: TensorFlow's largest alignment requirement (Eigen's, with AVX-512).
ALIGNMENT = 64

#: The buffers behind `aligned_empty` arrays, by id (ndarrays are not hashable).
_OWNED: weakref.WeakValueDictionary[int, np.ndarray] = weakref.WeakValueDictionary()

#: dtypes TensorFlow imports through DLPack.
_SHAREABLE_KINDS = {"u", "i", "f"}


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-ordered array whose data starts on a 64-byte boundary, registered as fusegen's."""
    dtype = np.dtype(dtype)
    shape = tuple(int(size) for size in shape)
    num_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buffer = np.empty(num_bytes + ALIGNMENT, np.uint8)
    offset = -buffer.ctypes.data % ALIGNMENT
    _OWNED[id(buffer)] = buffer
    return buffer[offset : offset + num_bytes].view(dtype).reshape(shape)


def is_owned(array) -> bool:
    """Whether ``array`` is an `aligned_empty` array, whole and unchanged in layout."""
    if not isinstance(array, np.ndarray):
        return False
    root = array
    while isinstance(root.base, np.ndarray):
        root = root.base
    return (
        _OWNED.get(id(root)) is root
        and array.flags.c_contiguous
        and array.flags.writeable
        and array.ctypes.data % ALIGNMENT == 0
        and array.dtype.kind in _SHAREABLE_KINDS
        and array.size > 0
    )


def take_rows(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``values[rows]``; for fusegen's own arrays into another aligned one, so it can still be shared."""
    if not is_owned(values):
        return values[rows]
    taken = aligned_empty((len(rows), *values.shape[1:]), values.dtype)
    np.take(values, rows, axis=0, out=taken)
    return taken


def as_tensor(array):
    """A tensor of ``array``: TensorFlow reads fusegen's own arrays in place and copies any other."""
    import tensorflow as tf

    # DLPack imports eagerly only; inside a traced function the array becomes a constant as usual.
    if is_owned(array) and tf.executing_eagerly():
        return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    return tf.convert_to_tensor(array)
