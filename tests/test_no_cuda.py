"""Without CUDA, every CUDA-only call raises DeviceError saying that CUDA is not available,
and the process goes on; the CPU stream works. Skipped on a machine with CUDA."""

import pytest

import simple_torch as st

pytestmark = pytest.mark.skipif(st.torch_cuda_available(), reason="checks the messages on a machine without CUDA")

x = None


def cuda_only_calls():
    tensor = st.tensor_ones([2])
    return {
        "Tensor.cuda": lambda: tensor.cuda(),
        "Tensor.cuda non_blocking": lambda: tensor.cuda(0, non_blocking=True),
        "Tensor.to": lambda: tensor.to("cuda"),
        "tensor_zeros": lambda: st.tensor_zeros([2], device="cuda"),
        "from_list": lambda: st.from_list([1], device="cuda:0"),
        "pin_memory": lambda: tensor.pin_memory(),
        "Stream": lambda: st.Stream("cuda:0"),
        "Stream.current": lambda: st.Stream.current("cuda:0"),
        "Event": lambda: st.Event(),
        "Event timing": lambda: st.Event(enable_timing=True),
        "Stream.record_event": lambda: st.Stream("cpu").record_event(),
        "synchronize": lambda: st.synchronize("cuda:0"),
        "memory_allocated": lambda: st.memory_allocated(0),
        "max_memory_allocated": lambda: st.max_memory_allocated("cuda:0"),
        "memory_reserved": lambda: st.memory_reserved(st.Device.cuda(0)),
        "max_memory_reserved": lambda: st.max_memory_reserved(),
        "reset_peak_memory_stats": lambda: st.reset_peak_memory_stats(),
        "empty_cache": lambda: st.empty_cache(),
        "mem_get_info": lambda: st.mem_get_info(0),
    }


@pytest.mark.parametrize("name", list(cuda_only_calls()))
def test_every_cuda_only_call_says_cuda_is_not_available(name):
    with pytest.raises(st.DeviceError, match="CUDA is not available"):
        cuda_only_calls()[name]()
    assert st.tensor_ones([2]).tolist() == [1.0, 1.0]  # and the process goes on


def test_memory_statistics_refuse_the_cpu():
    with pytest.raises(ValueError, match="GPU memory is counted per CUDA device, not for cpu"):
        st.memory_allocated("cpu")


def test_nothing_is_pinned_without_cuda():
    assert st.tensor_ones([2]).is_pinned() is False


def test_the_cpu_stream_works():
    stream = st.Stream("cpu")
    assert stream.device == st.Device.cpu() and stream.query() and stream.cuda_stream == 0
    stream.synchronize()
    assert stream == st.Stream.current("cpu") == st.Stream()  # the default device is the CPU
    with stream as entered:
        assert entered is stream
        y = st.tensor_ones([2]) * 3
    assert y.tolist() == [3.0, 3.0]
    stream.wait_stream(st.Stream("cpu"))  # a CPU stream's work is already done
    assert "Stream(device='cpu'" in repr(stream)
