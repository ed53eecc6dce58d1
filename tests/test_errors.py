"""Every failure raises an exception carrying the library's message, and the process goes on."""

import pytest

import simple_torch as st
from simple_torch._native import lib


def test_matmul_names_both_shapes():
    with pytest.raises(st.SimpleTorchError) as error:
        st.tensor_zeros([2, 3]) @ st.tensor_zeros([4, 5])
    assert str(error.value) == (
        "Tensor.matmul: float32[2, 3] on cpu with float32[4, 5] on cpu: "
        "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"
    )


def test_broadcast_mismatch_names_both_shapes():
    with pytest.raises(st.SimpleTorchError, match=r"add: float32\[2, 3\] on cpu with float32\[4\] on cpu: The size of tensor a \(3\) must match"):
        st.tensor_zeros([2, 3]) + st.tensor_zeros([4])


def test_dtype_mismatch_in_matmul_names_both_dtypes():
    with pytest.raises(st.SimpleTorchError, match=r"float32\[2, 2\] on cpu with float64\[2, 2\] on cpu"):
        st.tensor_ones([2, 2]).matmul(st.tensor_ones([2, 2], dtype="float64"))


@pytest.mark.parametrize(
    "dims, message",
    [
        ([2, -3], "negative dimension in shape \\[2, -3\\]"),
        ([2**62, 4], "shape \\[4611686018427387904, 4\\] of float32 is too large to address"),
        ([1] * 65, "ndim must be between 0 and 64, got 65"),
    ],
)
def test_bad_dims(dims, message):
    with pytest.raises(st.SimpleTorchError, match=message):
        st.tensor_zeros(dims)


def test_dims_beyond_int64_and_non_integers():
    with pytest.raises(ValueError, match="do not fit in 64-bit integers"):
        st.tensor_zeros([2**64])
    with pytest.raises(TypeError, match="dims must be an integer or a sequence of integers"):
        st.tensor_zeros([2.5])


def test_huge_allocation_fails_and_the_process_goes_on():
    with pytest.raises(st.OutOfMemoryError, match="cannot create zeros float32\\[1099511627776\\] on cpu: .*can.t allocate memory"):
        st.tensor_zeros([2**40])  # 4 TiB
    assert "frame #" not in str(pytest.raises(st.SimpleTorchError, st.tensor_ones, [2**40]).value)
    assert st.tensor_ones([2]).tolist() == [1.0, 1.0]


def test_bad_dtype_and_device_values():
    with pytest.raises(ValueError, match="unknown dtype 'float8'; accepted: "):
        st.tensor_zeros([1], dtype="float8")
    with pytest.raises(ValueError, match="invalid device 'gpu'; accepted: 'cpu', 'cuda', 'cuda:N'"):
        st.tensor_zeros([1], device="gpu")
    with pytest.raises(ValueError, match="invalid CUDA device index -2: it must be an integer >= 0"):
        st.Device.cuda(-2)


def test_softmax_dim_out_of_range():
    with pytest.raises(st.TensorIndexError, match="aten::softmax.int\\(float32\\[2, 3\\] on cpu, 5, None\\): Dimension out of range"):
        st.tensor_zeros([2, 3]).softmax(5)


def test_cuda_beyond_the_last_gpu_says_so():
    count = st.cuda_device_count()
    x = st.tensor_zeros([2])
    expected = "CUDA is not available" if count == 0 else f"this machine has {count} CUDA device\\(s\\)"
    with pytest.raises(st.SimpleTorchError, match=f"Tensor.cuda: cannot use cuda:{count}: {expected}"):
        x.cuda(count)
    with pytest.raises(st.SimpleTorchError, match=f"tensor_ones: cannot use cuda:{count}"):
        st.tensor_ones([1], device=f"cuda:{count}")
    with pytest.raises(ValueError, match="invalid CUDA device index -1"):
        x.cuda(-1)
    assert x.device() == st.Device.cpu()


@pytest.mark.skipif(st.torch_cuda_available(), reason="checks the message on a machine without CUDA")
def test_without_cuda_every_cuda_path_says_cuda_is_not_available():
    x = st.tensor_zeros([2])
    for attempt in (lambda: x.cuda(), lambda: x.to("cuda"), lambda: st.tensor_randn([2], device="cuda:0")):
        with pytest.raises(st.SimpleTorchError, match="CUDA is not available"):
            attempt()


def test_raw_handles_null_made_up_and_freed():
    with pytest.raises(st.SimpleTorchError, match="Tensor.relu: the tensor handle is NULL"):
        lib.rt_torch_torchtensor_relu(None)
    with pytest.raises(st.SimpleTorchError, match="0xdeadbeef is not a tensor handle returned by simple_torch"):
        lib.rt_torch_torchtensor_numel(0xDEADBEEF)
    t = st.tensor_zeros([2])
    handle = t.handle
    t.free()
    with pytest.raises(st.SimpleTorchError, match=f"Tensor.ndim: tensor handle {handle:#x} was already freed"):
        lib.rt_torch_torchtensor_ndim(handle)
    with pytest.raises(st.SimpleTorchError, match=f"Tensor.free: tensor handle {handle:#x} was already freed"):
        lib.rt_torch_torchtensor_free(handle)
    lib.rt_torch_torchtensor_free(None)  # NULL: a no-op


def test_the_error_slot_clears_on_success():
    with pytest.raises(st.SimpleTorchError):
        lib.rt_torch_torchtensor_relu(None)
    assert lib.rt_torch_last_error() is not None
    st.tensor_zeros([1]).free()
    assert lib.rt_torch_last_error() is None
    with pytest.raises(st.SimpleTorchError):
        lib.rt_torch_torchtensor_relu(None)
    lib.rt_torch_clear_error()
    assert lib.rt_torch_last_error() is None


def test_unsupported_operands():
    x = st.tensor_zeros([2])
    with pytest.raises(TypeError, match="unsupported operand: str"):
        x + "1"
    with pytest.raises(TypeError, match="matmul needs a TorchTensorWrapper, got int"):
        x.matmul(2)
    with pytest.raises(TypeError, match="cannot interpret"):
        st.from_numpy(__import__("numpy").zeros(2, dtype="float128"))


def test_each_kind_of_failure_has_its_exception_class():
    with pytest.raises(st.ArgumentError) as error:
        st.tensor_zeros([2, 3]) @ st.tensor_zeros([4, 5])
    assert isinstance(error.value, ValueError) and isinstance(error.value, st.SimpleTorchError)
    with pytest.raises(st.ArgumentError, match="negative dimension"):
        st.tensor_zeros([-1])
    with pytest.raises(st.DeviceError, match=f"cannot use cuda:{st.cuda_device_count()}"):
        st.tensor_zeros([1]).cuda(st.cuda_device_count())
    with pytest.raises(st.HandleError, match="not a tensor handle") as error:
        lib.rt_torch_torchtensor_numel(0xDEADBEEF)
    assert isinstance(error.value, ValueError)
    with pytest.raises(MemoryError, match="can't allocate memory") as error:
        st.tensor_ones([2**40])  # 4 TiB
    assert isinstance(error.value, st.OutOfMemoryError)
    assert issubclass(st.FreedTensorError, st.HandleError)


def test_a_stream_is_not_a_tensor_nor_the_other_way_round():
    stream = lib.rt_torch_stream_create(-1)
    t = st.tensor_ones([2])
    try:
        with pytest.raises(st.HandleError, match=f"Tensor.relu: {stream:#x} is a stream handle, not a tensor handle"):
            lib.rt_torch_torchtensor_relu(stream)
        with pytest.raises(st.HandleError, match="is a tensor handle, not a stream handle"):
            lib.rt_torch_torchstream_free(t.handle)
        assert t.tolist() == [1.0, 1.0]  # nothing was freed
    finally:
        lib.rt_torch_torchstream_free(stream)


def test_cpu_streams_run_work_at_once():
    stream = lib.rt_torch_stream_create(-1)
    try:
        assert lib.rt_torch_torchstream_query(stream)
        lib.rt_torch_torchstream_sync(stream)
        x = st.from_list([1.5, -2.0])
        copy = st.TorchTensorWrapper(lib.rt_torch_torchtensor_to_stream(x.handle, -1, stream))
        assert copy.tolist() == [1.5, -2.0]
    finally:
        lib.rt_torch_torchstream_free(stream)
    with pytest.raises(st.HandleError, match="stream handle .* was already freed"):
        lib.rt_torch_torchstream_sync(stream)
