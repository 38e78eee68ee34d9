"""fusegen's own large arrays reach TensorFlow without a copy; a user's arrays are always copied."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusegen.data.memory import ALIGNMENT, aligned_empty, as_tensor, is_owned, take_rows


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(1, 9), min_size=1, max_size=4),
    st.sampled_from(["uint8", "int32", "int64", "float32", "float64"]),
)
def test_aligned_arrays_start_on_the_boundary_and_round_trip_through_tensorflow(shape, dtype):
    array = aligned_empty(shape, dtype)
    assert array.shape == tuple(shape) and array.dtype == np.dtype(dtype)
    assert array.ctypes.data % ALIGNMENT == 0 and is_owned(array)
    array[...] = np.arange(array.size).reshape(shape) % 100
    np.testing.assert_array_equal(as_tensor(array).numpy(), array)


def test_tensorflow_reads_fusegens_arrays_in_place_and_copies_a_users():
    owned = aligned_empty((4, 3), "float32")
    owned[...] = 1.0
    users = np.ones((4, 3), "float32")
    shared, copied = as_tensor(owned), as_tensor(users)
    owned[0, 0] = users[0, 0] = 7.0
    assert shared.numpy()[0, 0] == 7.0  # the same memory
    assert copied.numpy()[0, 0] == 1.0  # changing a user's array later cannot change what trains


def test_the_tensor_keeps_the_memory_alive_after_the_array_is_gone():
    import gc

    owned = aligned_empty((1000, 8), "int32")
    owned[...] = 5
    tensor = as_tensor(owned)
    del owned
    gc.collect()
    assert int(tensor.numpy().sum()) == 5 * 8000


def test_only_whole_writable_aligned_arrays_count_as_owned():
    owned = aligned_empty((6, 4), "float32")
    assert not is_owned(owned[:, 1:])  # not contiguous
    assert not is_owned(owned[1:])  # starts 16 bytes in: misaligned
    read_only = aligned_empty((6, 4), "float32")
    read_only.flags.writeable = False  # DLPack cannot export it; it is copied instead
    assert not is_owned(read_only)
    np.testing.assert_array_equal(as_tensor(read_only).numpy().shape, (6, 4))
    assert not is_owned(np.zeros((6, 4), "float32"))
    assert not is_owned(np.array(["a", "b"], dtype=object))


@pytest.mark.parametrize("owned", [True, False])
def test_taking_rows_keeps_ownership_and_values(owned):
    values = aligned_empty((10, 2, 2), "uint8") if owned else np.empty((10, 2, 2), "uint8")
    values[...] = np.arange(40, dtype="uint8").reshape(10, 2, 2)
    rows = np.array([3, 0, 9])
    taken = take_rows(values, rows)
    np.testing.assert_array_equal(taken, values[rows])
    assert is_owned(taken) == owned
