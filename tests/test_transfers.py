"""In-place copies and precision conversions, compared with torch doing the same (CPU)."""

import numpy as np
import pytest
import torch

import simple_torch as st
from helpers import assert_same, pair


def test_copy_writes_in_place_and_returns_the_tensor():
    (x, tx), (y, ty) = pair([2, 3], seed=1), pair([2, 3], seed=2)
    before = x.data_ptr
    assert x.copy_(y) is x
    tx.copy_(ty)
    assert_same(x, tx)
    assert x.data_ptr == before  # the same memory, written
    assert_same(y, ty)  # the source is unchanged


@pytest.mark.parametrize("source_dtype", ["float64", "int32", "float16", "bool"])
def test_copy_converts_dtypes_like_torch(source_dtype):
    x, tx = pair([4], "float32", seed=3)
    source = np.array([1.7, -2.2, 0.0, 3.5]).astype(source_dtype)
    x.copy_(st.from_numpy(source))
    tx.copy_(torch.from_numpy(source))
    assert_same(x, tx)


def test_copy_broadcasts_the_source_like_torch():
    x, tx = pair([3, 4], seed=4)
    row, trow = pair([4], seed=5)
    x.copy_(row)
    tx.copy_(trow)
    assert_same(x, tx)
    x.copy_([[1.0], [2.0], [3.0]])  # plain Python values, broadcast over the columns
    assert x.tolist() == torch.tensor([[1.0], [2.0], [3.0]]).expand(3, 4).tolist()


def test_views_and_shared_numpy_memory_see_the_copy():
    values = np.zeros((2, 3), dtype=np.float32)
    x = st.from_numpy(values)
    view = x.transpose(0, 1)
    x.copy_(st.tensor_ones([2, 3]) * 7)
    assert (values == 7).all()
    assert view.tolist() == [[7.0, 7.0]] * 3
    exported = x.numpy()
    view.copy_(st.from_list([[1.0, 2.0]] * 3))
    assert exported.tolist() == [[1.0] * 3, [2.0] * 3]


def test_a_bad_copy_names_both_tensors_and_changes_nothing():
    x = st.tensor_zeros([2, 2])
    with pytest.raises(st.ArgumentError, match=r"cannot copy float32\[3\] on cpu into float32\[2, 2\] on cpu: The size of tensor a \(2\) must match"):
        x.copy_(st.tensor_ones([3]))
    with pytest.raises(st.ArgumentError, match="more than one element of the written-to tensor refers to a single memory location"):
        st.from_numpy(np.lib.stride_tricks.as_strided(np.zeros(2), (2, 2), (0, 8))).copy_(st.tensor_ones([2, 2]))
    assert x.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    with pytest.raises(st.FreedTensorError):
        freed = st.tensor_ones([2])
        freed.free()
        x.copy_(freed)


def test_read_only_memory_is_never_shared_so_never_written():
    values = np.arange(4.0)
    values.flags.writeable = False
    for t in (st.from_numpy(values), st.from_dlpack(values)):
        assert t.data_ptr != values.ctypes.data
        t.copy_(st.tensor_zeros([4]))
    assert values.tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="read-only"):
        st.from_numpy(values, copy=False)


@pytest.mark.parametrize("method, dtype", [("half", torch.float16), ("bfloat16", torch.bfloat16), ("float", torch.float32), ("double", torch.float64)])
def test_precision_conversions_match_torch(method, dtype):
    x, tx = pair([3, 5], "float64", seed=6)
    converted = getattr(x, method)()
    assert converted.dtype.to_torch() == dtype
    assert converted.to_torch().equal(getattr(tx, method)())  # bit for bit: the same rounding
    assert converted.float().to_torch().equal(getattr(tx, method)().float())


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_matmul_on_the_cpu_matches_torch(dtype):
    (a, ta), (b, tb) = pair([8, 16], seed=7), pair([16, 4], seed=8)
    ours = (a.to(dtype) @ b.to(dtype)).float()
    theirs = (ta.to(getattr(torch, dtype)) @ tb.to(getattr(torch, dtype))).float()
    torch.testing.assert_close(ours.to_torch(), theirs)


def test_to_stream_on_a_cpu_stream_copies_at_once():
    x, tx = pair([3], seed=9)
    y = x.to_stream("cpu", st.Stream("cpu"))
    assert_same(y, tx)
    expected = "the stream must be on cuda:0" if st.torch_cuda_available() else "CUDA is not available"
    with pytest.raises(st.SimpleTorchError, match=expected):
        x.to_stream("cuda:0", st.Stream("cpu"))
