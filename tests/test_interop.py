"""NumPy and PyTorch interop: the same memory on both sides (proved by addresses and by writes
through one side read on the other), every dtype both ways, and the layouts that need a copy."""

import gc
import weakref

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies
from hypothesis.extra import numpy as numpy_strategies

import simple_torch as st
from helpers import run_python

# Every dtype of the ABI (the twelve the typed exports take); NumPy has all of them but bfloat16.
# The others (uint16, complex32, float8, ...) are tested in test_surface.py.
DTYPES = [d.name for d in st.DType if d.typed]
NUMPY_DTYPES = [d for d in DTYPES if d != "bfloat16"]


def sample(dtype: str, shape=(2, 3)) -> torch.Tensor:
    """Distinct values that every dtype holds exactly (bool: alternating)."""
    values = torch.arange(int(np.prod(shape)), dtype=torch.float64).reshape(shape) - 2
    return values.remainder(2).bool() if dtype == "bool" else values.to(getattr(torch, dtype))


# -- NumPy ----------------------------------------------------------------------------------------


def test_from_numpy_shares_memory_both_ways():
    values = np.arange(6.0).reshape(2, 3)
    t = st.from_numpy(values)
    assert t.data_ptr == values.ctypes.data
    values[0, 0] = 9.0  # NumPy writes, we read
    assert t.tolist() == [[9.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    ours = t.numpy()  # the same memory again, seen through our export
    assert ours.ctypes.data == values.ctypes.data
    ours[1, 2] = -1.0
    assert values[1, 2] == -1.0


def test_numpy_of_our_tensor_shares_memory_and_outlives_it():
    t = st.tensor_ones([3])
    array = t.numpy()
    assert array.ctypes.data == t.data_ptr
    array[1] = 5.0
    assert t.tolist() == [1.0, 5.0, 1.0]
    t.free()
    assert array.tolist() == [1.0, 5.0, 1.0]
    assert st.live_dlpack_exports() == 1
    del array
    gc.collect()
    assert st.live_dlpack_exports() == 0


def test_the_array_lives_as_long_as_the_tensor():
    values = np.arange(4.0)
    alive = weakref.ref(values)
    t = st.from_numpy(values)
    del values
    gc.collect()
    assert alive() is not None
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0]
    t.free()
    gc.collect()
    assert alive() is None


@pytest.mark.parametrize(
    "make, strides",
    [
        (lambda: np.arange(24.0).reshape(4, 6)[:, ::2], [6, 2]),
        (lambda: np.asfortranarray(np.arange(6.0).reshape(2, 3)), [1, 2]),
        (lambda: np.arange(24.0).reshape(2, 3, 4).transpose(2, 0, 1), [1, 12, 4]),
        (lambda: np.array(7.5), []),
        (lambda: np.lib.stride_tricks.as_strided(np.arange(3.0), (2, 3), (0, 8)), [0, 1]),  # writable
    ],
    ids=["sliced", "fortran", "transposed", "0-d", "broadcast"],
)
def test_layouts_that_are_shared(make, strides):
    values = make()
    t = st.from_numpy(values, copy=False)
    assert t.data_ptr == values.ctypes.data
    assert t.strides() == strides == [s // values.itemsize for s in values.strides]
    np.testing.assert_array_equal(t.numpy(), values)
    np.testing.assert_array_equal(t.to_torch().numpy(), values)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda: np.arange(5.0)[::-1], "negative strides"),
        (lambda: np.arange(5, dtype=">i4"), "byte order"),
        (lambda: np.frombuffer(bytearray(17), dtype=np.uint8)[1:].view(np.float64)[::1], None),
        (lambda: np.ndarray((3,), dtype=np.float32, buffer=bytearray(16), strides=(5,)), "whole number of elements"),
        (lambda: np.broadcast_to(np.arange(3.0), (2, 3)), "read-only, and a tensor can be written in place"),
        (lambda: np.frombuffer(b"\0" * 16, dtype=np.float32), "read-only"),
    ],
    ids=["reversed", "big-endian", "unaligned", "odd-strides", "broadcast read-only", "bytes"],
)
def test_layouts_that_are_copied(make, reason):
    values = make()
    if reason is None:  # an unaligned buffer is still shared: DLPack does not ask for alignment
        assert st.from_numpy(values, copy=False).data_ptr == values.ctypes.data
        return
    with pytest.raises(ValueError, match=reason):
        st.from_numpy(values, copy=False)
    t = st.from_numpy(values)
    assert t.data_ptr != values.ctypes.data
    np.testing.assert_array_equal(t.numpy(), values)


def test_empty_and_large_arrays():
    empty = np.zeros((0, 4), dtype=np.float32)
    t = st.from_numpy(empty)
    assert (t.shape(), t.numel(), t.numpy().shape) == ([0, 4], 0, (0, 4))
    large = np.ones(64 * 2**20, dtype=np.float32)  # 256 MiB, shared, not copied
    big = st.from_numpy(large)
    assert big.data_ptr == large.ctypes.data
    large[-1] = 3.0
    assert big.to_torch()[-1].item() == 3.0


def test_copies_on_request():
    values = np.arange(3.0)
    t = st.from_numpy(values, copy=True)
    assert t.data_ptr != values.ctypes.data
    array = t.numpy(copy=True)
    assert array.ctypes.data != t.data_ptr
    array[0] = 5.0
    values[0] = 7.0
    assert t.tolist() == [0.0, 1.0, 2.0]


def test_numpy_asarray():
    t = st.from_list([[1.0, 2.0], [3.0, 4.0]])
    shared = np.asarray(t)
    assert shared.ctypes.data == t.data_ptr and shared.dtype == np.float32
    converted = np.asarray(t, dtype=np.float64)
    assert converted.dtype == np.float64 and converted.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert np.array(t, copy=True).ctypes.data != t.data_ptr
    with pytest.raises(ValueError, match="needs a copy"):
        np.asarray(t, dtype=np.float64, copy=False)
    assert (np.asarray(t) + 1).tolist() == [[2.0, 3.0], [4.0, 5.0]]


def test_bfloat16_has_no_numpy_type():
    with pytest.raises(TypeError, match="NumPy has no bfloat16"):
        st.tensor_ones([2], dtype="bfloat16").numpy()


def test_unsupported_numpy_dtypes_say_so():
    with pytest.raises(TypeError, match="cannot interpret"):
        st.from_numpy(np.arange(3, dtype=np.float128))
    with pytest.raises(TypeError, match="cannot interpret"):
        st.from_numpy(np.array(["a", "b"]))


def test_numpy_interop_never_imports_torch():
    code = (
        "import sys, numpy as np, simple_torch as st\n"
        "t = st.from_numpy(np.arange(4.0)); a = t.numpy(); b = np.asarray(t); c = t.to('float16').numpy()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    numpy_strategies.arrays(
        dtype=strategies.sampled_from([np.dtype(d) for d in NUMPY_DTYPES]),
        shape=numpy_strategies.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
    ).flatmap(lambda a: strategies.tuples(strategies.just(a), numpy_strategies.basic_indices(a.shape))),
)
def test_any_numpy_view_round_trips(array_and_index):
    array, index = array_and_index
    view = array[index]
    if not isinstance(view, np.ndarray):  # a single element: NumPy gives a scalar
        view = np.asarray(view)
    t = st.from_numpy(view)
    np.testing.assert_array_equal(t.numpy(), view)
    np.testing.assert_array_equal(t.to_torch().numpy(), view)
    shareable = all(s >= 0 for s in view.strides)
    if view.size and shareable:
        assert t.data_ptr == view.ctypes.data
        assert t.strides() == [s // view.itemsize for s in view.strides]


# -- PyTorch --------------------------------------------------------------------------------------


def test_from_torch_shares_memory_both_ways():
    theirs = torch.arange(6.0).reshape(2, 3)
    t = st.from_torch(theirs)
    assert t.data_ptr == theirs.data_ptr()
    theirs.mul_(2)  # torch writes in place, we read
    assert t.tolist() == [[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]
    back = t.to_torch()
    assert back.data_ptr() == theirs.data_ptr()
    back[0, 0] = -1.0
    assert theirs[0, 0].item() == -1.0


def test_to_torch_outlives_the_wrapper():
    t = st.from_list([1.0, 2.0])
    theirs = t.to_torch()
    t.free()
    assert theirs.tolist() == [1.0, 2.0]


def test_from_torch_drops_autograd_and_keeps_strides():
    weights = torch.randn(3, 4, requires_grad=True)
    t = st.from_torch(weights)
    assert t.data_ptr == weights.data_ptr()
    columns = torch.arange(12.0).reshape(3, 4).t()
    c = st.from_torch(columns)
    assert (c.data_ptr, c.strides(), c.shape()) == (columns.data_ptr(), [1, 4], [4, 3])
    np.testing.assert_array_equal(c.numpy(), columns.numpy())


def test_from_torch_materializes_lazy_conjugates():
    z = torch.tensor([1 + 2j, 3 - 1j], dtype=torch.complex64)
    t = st.from_torch(z.conj())
    assert t.tolist() == [1 - 2j, 3 + 1j]


def test_from_torch_needs_a_tensor():
    with pytest.raises(TypeError, match="needs a torch.Tensor, got list"):
        st.from_torch([1, 2])


def test_torch_capsules_from_the_old_api():
    theirs = torch.arange(3)
    t = st.from_dlpack(torch.utils.dlpack.to_dlpack(theirs))
    assert t.data_ptr == theirs.data_ptr() and t.tolist() == [0, 1, 2]


# -- dtypes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_round_trips_through_torch(dtype):
    theirs = sample(dtype)
    t = st.from_torch(theirs)
    assert t.dtype == st.DType.from_any(theirs.dtype) and t.dtype.to_torch() == theirs.dtype
    assert t.data_ptr == theirs.data_ptr()
    back = t.to_torch()
    assert back.dtype == theirs.dtype and torch.equal(back, theirs)


@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
def test_every_dtype_round_trips_through_numpy(dtype):
    values = sample(dtype).numpy()
    t = st.from_numpy(values)
    assert t.dtype.to_numpy() == values.dtype and t.data_ptr == values.ctypes.data
    back = t.numpy()
    assert back.dtype == values.dtype
    np.testing.assert_array_equal(back, values)


@pytest.mark.parametrize("dtype", DTYPES)
def test_creation_and_conversion_in_every_dtype_match_torch(dtype):
    torch_dtype = getattr(torch, dtype)
    for ours, theirs in [
        (st.tensor_ones([2, 2], dtype=dtype), torch.ones(2, 2, dtype=torch_dtype)),
        (st.tensor_zeros([3], dtype=st.DType[dtype]), torch.zeros(3, dtype=torch_dtype)),
        (st.from_torch(sample("float32")).to(dtype), sample("float32").to(torch_dtype)),
        (st.from_torch(sample(dtype)).to(torch.float64), sample(dtype).to(torch.float64)),
        (st.from_torch(sample(dtype)).to(np.dtype("int64")), sample(dtype).to(torch.int64)),
    ]:
        assert ours.dtype.name == dtype or ours.dtype.to_torch() == theirs.dtype
        assert torch.equal(ours.to_torch(), theirs)


def test_to_the_same_dtype_shares_memory_like_torch():
    t = st.tensor_ones([3])
    assert t.to("float32").data_ptr == t.data_ptr
    assert t.to("float64").data_ptr != t.data_ptr


def test_to_refuses_what_is_neither_a_device_nor_a_dtype():
    t = st.tensor_ones([1])
    with pytest.raises(ValueError, match=r"to\(\) needs a device .* or a dtype .* got 'gpu'"):
        t.to("gpu")


def test_dtype_maps_to_and_from_numpy_and_torch():
    for dtype in st.DType:
        assert st.DType.from_any(dtype.to_torch()) is dtype
        if dtype.numpy_stand_in is dtype:
            assert st.DType.from_any(dtype.to_numpy()) is dtype
        else:
            with pytest.raises(TypeError, match=f"NumPy has no {dtype.name} type"):
                dtype.to_numpy()


# -- views ----------------------------------------------------------------------------------------


def test_views_share_memory_like_torch():
    theirs = torch.arange(12.0).reshape(3, 4)
    t = st.from_torch(theirs)
    for ours, expected in [(t.transpose(0, 1), theirs.transpose(0, 1)), (t.reshape([2, -1]), theirs.reshape(2, -1))]:
        assert ours.data_ptr == expected.data_ptr()
        assert (ours.shape(), ours.strides()) == (list(expected.shape), list(expected.stride()))
        assert torch.equal(ours.to_torch(), expected)
    copied = t.transpose(0, 1).reshape([12])  # not viewable: torch copies too
    assert copied.data_ptr != theirs.data_ptr()
    assert copied.tolist() == theirs.t().reshape(12).tolist()
    with pytest.raises(st.ArgumentError, match=r"aten::reshape\(float32\[3, 4\] on cpu, \[5, -1\]\): shape '\[5, -1\]' is invalid"):
        t.reshape([5, -1])


# -- CUDA -----------------------------------------------------------------------------------------


@pytest.mark.cuda
def test_cuda_tensors_cross_to_torch_without_copies():
    theirs = torch.arange(8.0, device="cuda").reshape(2, 4)
    t = st.from_torch(theirs)
    assert t.is_cuda() and t.data_ptr == theirs.data_ptr()
    theirs.add_(1)
    back = t.to_torch()
    assert back.device == theirs.device and back.data_ptr() == theirs.data_ptr()
    assert t.numpy().tolist() == theirs.cpu().tolist()  # copied to the CPU
    with pytest.raises(ValueError, match="without a copy"):
        t.numpy(copy=False)
    ours = (st.tensor_ones([3], device="cuda") * 2).relu()
    assert torch.from_dlpack(ours).tolist() == [2.0, 2.0, 2.0]


@pytest.mark.cuda
def test_cuda_tensors_cross_to_cupy():
    cupy = pytest.importorskip("cupy")
    theirs = cupy.arange(6, dtype=cupy.float32)
    t = st.from_dlpack(theirs)
    assert t.is_cuda() and t.data_ptr == theirs.data.ptr
    back = cupy.from_dlpack(t)
    assert back.data.ptr == theirs.data.ptr
