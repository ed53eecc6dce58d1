"""Creating tensors: factories, dtypes, devices, and copies of NumPy and Python data."""

import numpy as np
import pytest
import torch

import simple_torch as st
from helpers import assert_same

NUMPY_DTYPES = ["uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64", "complex64", "complex128", "bool"]


@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
@pytest.mark.parametrize("name", ["zeros", "ones"])
def test_filled_tensors_match_torch(name, dtype):
    ours = getattr(st, f"tensor_{name}")([2, 3], dtype=dtype)
    assert_same(ours, getattr(torch, name)([2, 3], dtype=getattr(torch, dtype)))


def test_defaults_are_float32_on_the_cpu():
    for t in (st.tensor_zeros([2]), st.tensor_ones([2]), st.tensor_randn([2])):
        assert t.dtype is st.DType.float32 and t.device() == st.Device.cpu()


@pytest.mark.parametrize(
    "dims, shape", [([2, 3], [2, 3]), ((2, 3), [2, 3]), (5, [5]), ([], []), ([0, 3], [0, 3]), ([np.int64(4)], [4])], ids=str
)
def test_dims_forms(dims, shape):
    assert st.tensor_zeros(dims).shape() == shape == list(torch.zeros(shape).shape)


def test_bfloat16_tensors_are_made_but_numpy_cannot_hold_them():
    t = st.tensor_ones([3], dtype="bf16")
    assert (t.dtype, t.numel()) == (st.DType.bfloat16, 3)
    with pytest.raises(TypeError, match="NumPy has no bfloat16"):
        t.numpy()


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_randn_is_standard_normal(dtype):
    samples = st.tensor_randn([200_000], dtype=dtype).numpy().astype(np.float64)
    assert abs(samples.mean()) < 0.02 and abs(samples.std() - 1) < 0.02
    assert st.tensor_randn([2, 3], dtype=dtype).dtype.name == dtype


def test_randn_of_integers_is_refused_with_libtorch_reason():
    with pytest.raises(st.SimpleTorchError, match="tensor_randn: cannot create randn int64\\[3\\] on cpu:.*'Long'"):
        st.tensor_randn([3], dtype="int64")


@pytest.mark.parametrize("device", ["cpu", "CPU", -1, st.Device.cpu()], ids=str)
def test_device_forms_for_the_cpu(device):
    assert st.tensor_zeros([1], device=device).device() == st.Device.cpu()


@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
def test_from_numpy_round_trips_every_dtype(dtype):
    values = (np.arange(12).reshape(3, 4) - 4).astype(dtype)
    ours = st.from_numpy(values)
    assert ours.dtype.name == dtype
    assert_same(ours, torch.from_numpy(values.copy()))
    np.testing.assert_array_equal(ours.numpy(), values)


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.arange(24.0).reshape(4, 6)[:, ::2],  # strided
        lambda: np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        lambda: np.arange(5, dtype=">f4"),  # big-endian
        lambda: np.array(7.5),  # 0-d
        lambda: np.zeros((0, 4)),  # empty
    ],
    ids=["strided", "fortran", "big-endian", "0-d", "empty"],
)
def test_from_numpy_takes_any_layout(make):
    values = make()
    ours = st.from_numpy(values)
    assert ours.shape() == list(values.shape)
    np.testing.assert_array_equal(ours.numpy(), values)


def test_from_numpy_with_copy_is_a_copy():
    values = np.ones(3, dtype=np.float32)
    ours = st.from_numpy(values, copy=True)
    values[:] = 5
    assert ours.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    "values", [[1.0, 2.5], [[1, 2], [3, 4]], [True, False], [1 + 2j], 3, 2.5, [], [[1, 2.5]]], ids=str
)
def test_from_list_infers_dtype_like_torch(values):
    ours, theirs = st.from_list(values), torch.tensor(values)
    assert_same(ours, theirs)
    assert ours.tolist() == theirs.tolist()


def test_from_list_with_dtype():
    assert_same(st.from_list([1, 2, 3], dtype="float64"), torch.tensor([1, 2, 3], dtype=torch.float64))


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")  # torch.empty(complex32) warns so
def test_dtype_names():
    assert st.DType.from_any("f32") is st.DType.float32
    assert str(st.DType.float32) == "float32"
    assert st.DType.from_any(np.dtype("int16")) is st.DType.int16
    assert st.DType.from_any(np.float64) is st.DType.float64
    assert st.DType.from_any(float) is st.DType.float64
    assert [d.itemsize for d in st.DType] == [torch.empty(0, dtype=getattr(torch, d.name)).element_size() for d in st.DType]


@pytest.mark.parametrize("name", ["zeros", "ones", "randn"])
@pytest.mark.parametrize("sizes", [(2, 3), ((2, 3),), ([2, 3],), (st.Size([2, 3]),), (np.int64(2), 3), ([],), ([0, 3],)], ids=str)
def test_torch_shaped_factories_take_every_form_of_sizes(name, sizes):
    # every form here takes the packed fast path (_factory_call); the bad sizes below, the general one
    made, theirs = getattr(st, name)(*sizes), getattr(torch, name)(*sizes)
    assert (made.shape, made.dtype) == (theirs.shape, st.float32)
    assert getattr(st, f"tensor_{name}")(*sizes).shape() == list(theirs.shape)


@pytest.mark.parametrize(
    "sizes, error, message",
    [
        ((2.5,), TypeError, "dims must be an integer or a sequence of integers, got 2.5"),
        (([2, "a"],), TypeError, r"dims must be an integer or a sequence of integers, got \[2, 'a'\]"),
        ((2**63,), ValueError, r"dims \[9223372036854775808\] do not fit in 64-bit integers"),
        ((2, -1), st.ArgumentError, r"negative dimension in shape \[2, -1\]"),
        ((1,) * 65, st.ArgumentError, "ndim must be between 0 and 64, got 65"),
    ],
    ids=["float", "str", "2**63", "negative", "65 dims"],
)
def test_factories_refuse_bad_sizes_by_message(sizes, error, message):
    for factory in (st.zeros, st.ones, st.randn, st.tensor_zeros):
        with pytest.raises(error, match=message):
            factory(*sizes)
