"""On a GPU: moving tensors, computing there, and the same answers as torch. Skipped without CUDA."""

import pytest
import torch

import simple_torch as st
from helpers import assert_same, pair

pytestmark = pytest.mark.cuda


def test_round_trip_to_every_gpu():
    x, tx = pair([3, 4], seed=20)
    for index in range(st.cuda_device_count()):
        on_gpu = x.cuda(index)
        assert on_gpu.is_cuda() and on_gpu.device() == st.Device.cuda(index)
        back = on_gpu.cpu()
        assert not back.is_cuda()
        assert_same(back, tx)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ops_on_the_gpu_match_torch(dtype):
    (a, ta), (b, tb) = pair([16, 16], dtype, seed=21), pair([16, 16], dtype, seed=22)
    a, b, ta, tb = a.cuda(), b.cuda(), ta.cuda(), tb.cuda()
    for ours, theirs in [
        (a + b, ta + tb), (a - b, ta - tb), (a * b, ta * tb), (a / b, ta / tb),
        (a.relu(), ta.relu()), (a.sigmoid(), ta.sigmoid()), (a.tanh(), ta.tanh()), (a.softmax(-1), ta.softmax(-1)),
        (a.clone(), ta.clone()),
    ]:
        assert ours.is_cuda()
        assert_same(ours, theirs)
    product = a @ b
    assert product.is_cuda()
    assert torch.allclose(torch.from_numpy(product.numpy()), (ta @ tb).cpu(), rtol=1e-4, atol=1e-4)


def test_factories_and_to_on_the_gpu():
    for make in (st.tensor_zeros, st.tensor_ones, st.tensor_randn):
        t = make([2, 2], device="cuda:0")
        assert t.device() == st.Device.cuda(0)
    x = st.tensor_ones([4]).to("cuda", non_blocking=True)
    assert x.is_cuda() and x.to(-1).tolist() == [1.0] * 4


def test_mixing_devices_names_both():
    with pytest.raises(st.SimpleTorchError, match=r"float32\[2\] on cuda:0 with float32\[2\] on cpu"):
        st.tensor_ones([2]).cuda(0) + st.tensor_ones([2])


@pytest.mark.multi_gpu
def test_between_two_gpus():
    x, tx = pair([8], seed=23)
    on_second = x.cuda(0).to("cuda:1")
    assert on_second.device() == st.Device.cuda(1)
    assert_same(on_second.cpu(), tx)


# -- streams and events ----------------------------------------------------------------------


def test_with_stream_makes_it_current_and_restores_the_previous_one():
    default = st.Stream.current("cuda:0")
    side = st.Stream("cuda:0")
    assert side != default and side.cuda_stream != 0 and side.device == st.Device.cuda(0)
    with side:
        assert st.Stream.current("cuda:0") == side
        # torch shares libtorch's current stream: it sees ours too
        assert torch.cuda.current_stream(0).cuda_stream == side.cuda_stream
        inner = st.Stream("cuda:0")
        with inner:
            assert st.Stream.current("cuda:0") == inner
        assert st.Stream.current("cuda:0") == side
    assert st.Stream.current("cuda:0") == default


def test_work_inside_with_runs_on_the_stream_and_is_right():
    (a, ta), (b, tb) = pair([256, 256], seed=30), pair([256, 256], seed=31)
    a, b = a.cuda(), b.cuda()
    side = st.Stream("cuda:0")
    side.wait_stream(st.Stream.current("cuda:0"))  # a and b were made on the default stream
    with side:
        product = (a @ b).relu()
        done = side.record_event()
    done.synchronize()
    assert done.query() and side.query()
    torch.testing.assert_close(product.to_torch().cpu(), (ta @ tb).relu(), rtol=1e-4, atol=1e-4)


def test_events_time_gpu_work():
    x = st.tensor_randn([2048, 2048], device="cuda:0")
    start, end = st.Event(enable_timing=True), st.Event(enable_timing=True)
    start.record()
    for _ in range(5):
        x = x @ x.softmax(-1)
    end.record()
    end.synchronize()
    elapsed = start.elapsed_time(end)
    assert 0.0 < elapsed < 10_000.0
    assert start.elapsed_time(start) == 0.0


def test_event_errors_are_clear():
    untimed, timed = st.Event(), st.Event(enable_timing=True)
    untimed.record(); timed.record()
    with pytest.raises(st.DeviceError, match="enable_timing=True"):
        untimed.elapsed_time(timed)
    with pytest.raises(st.DeviceError, match="recorded"):
        st.Event(enable_timing=True).elapsed_time(timed)
    with pytest.raises(st.ArgumentError, match="cannot record an event on a CPU stream"):
        timed.record(st.Stream("cpu"))


def test_a_stream_waits_for_an_event_on_another():
    producer, consumer = st.Stream("cuda:0"), st.Stream("cuda:0")
    with producer:
        x = st.tensor_ones([1 << 20], device="cuda:0") * 2
        ready = producer.record_event()
    consumer.wait_event(ready)
    with consumer:
        total = (x + 1).to_torch()
    consumer.synchronize()
    assert total.sum().item() == 3.0 * (1 << 20)


# -- pinned memory and non-blocking transfers -----------------------------------------------------


def test_pin_memory_and_non_blocking_copies():
    host, thost = pair([1024, 256], seed=32)
    pinned = host.pin_memory()
    assert pinned.is_pinned() and not host.is_pinned()
    assert pinned.to_torch().is_pinned()
    copies = st.Stream("cuda:0")
    with copies:
        on_gpu = pinned.cuda(0, non_blocking=True)
        also = pinned.to("cuda:0", non_blocking=True)
    copies.synchronize()
    assert_same(on_gpu.cpu(), thost)
    assert_same(also.cpu(), thost)
    back = on_gpu.to("cpu", non_blocking=True)
    st.synchronize("cuda:0")
    assert_same(back, thost)


def test_pinning_a_gpu_tensor_is_refused():
    with pytest.raises(st.SimpleTorchError, match="cannot pin float32\\[2\\] on cuda:0"):
        st.tensor_ones([2], device="cuda:0").pin_memory()


def test_copy_between_the_cpu_and_the_gpu_in_place():
    x, tx = pair([64], seed=33)
    target = st.tensor_zeros([64], device="cuda:0")
    target.copy_(x)
    assert_same(target.cpu(), tx)
    back = st.tensor_zeros([64], dtype="float64")
    back.copy_(target)
    assert_same(back, tx.double())


@pytest.mark.multi_gpu
def test_peer_copies_between_gpus():
    x, tx = pair([1 << 16], seed=34)
    on_first = x.cuda(0)
    on_second = on_first.to("cuda:1")
    assert on_second.device() == st.Device.cuda(1)
    target = st.tensor_zeros([1 << 16], device="cuda:1")
    target.copy_(on_first)
    assert_same(target.cpu(), tx)
    assert_same(on_second.cuda(0).cpu(), tx)


# -- memory statistics ---------------------------------------------------------------------------


def test_memory_statistics_match_torch():
    st.synchronize("cuda:0")
    assert st.memory_allocated(0) == torch.cuda.memory_allocated(0)  # one libtorch, one allocator
    before = st.memory_allocated(0)
    st.reset_peak_memory_stats(0)
    x = st.tensor_zeros([64, 1 << 20], device="cuda:0")  # 256 MiB
    assert st.memory_allocated(0) - before == 256 << 20
    assert st.max_memory_allocated(0) >= before + (256 << 20)
    assert st.memory_reserved(0) >= st.memory_allocated(0)
    assert st.max_memory_reserved(0) >= st.memory_reserved(0)
    assert (st.memory_reserved(0), st.max_memory_allocated("cuda:0")) == (torch.cuda.memory_reserved(0), torch.cuda.max_memory_allocated(0))
    x.free()
    assert st.memory_allocated(0) == before
    reserved = st.memory_reserved(0)
    st.empty_cache()
    assert st.memory_reserved(0) <= reserved - (256 << 20)
    free, total = st.mem_get_info(0)
    assert 0 < free <= total and total == torch.cuda.get_device_properties(0).total_memory


# -- mixed precision ---------------------------------------------------------------------------


@pytest.mark.parametrize("method, dtype", [("half", torch.float16), ("bfloat16", torch.bfloat16), ("float", torch.float32)])
def test_matmul_on_the_gpu_in_each_precision(method, dtype):
    (a, ta), (b, tb) = pair([128, 64], seed=35), pair([64, 32], seed=36)
    ours = getattr(a.cuda(), method)() @ getattr(b.cuda(), method)()
    theirs = getattr(ta.cuda(), method)() @ getattr(tb.cuda(), method)()
    assert ours.dtype.to_torch() == dtype and ours.is_cuda()
    torch.testing.assert_close(ours.to_torch(), theirs)  # the same kernels: same results


def test_to_stream_queues_the_copy_on_that_stream():
    host, thost = pair([1 << 16], seed=37)
    copies = st.Stream("cuda:0")
    on_gpu = host.pin_memory().to_stream("cuda:0", copies)
    copies.synchronize()
    assert_same(on_gpu.cpu(), thost)
    with pytest.raises(st.ArgumentError, match="the stream must be on cuda:0"):
        host.to_stream("cuda:0", st.Stream("cpu"))
