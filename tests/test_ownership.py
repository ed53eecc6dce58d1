"""A wrapper that owns its handle frees it exactly once; a freed wrapper is never passed down."""

import gc
import subprocess
import sys

import pytest

import simple_torch as st


def test_free_twice_raises():
    t = st.tensor_zeros([2])
    t.free()
    with pytest.raises(st.FreedTensorError, match="free\\(\\): this tensor was already freed"):
        t.free()


@pytest.mark.parametrize(
    "use",
    [
        lambda t: t.relu(),
        lambda t: t.shape(),
        lambda t: t.numpy(),
        lambda t: t.dtype,
        lambda t: t.cpu(),
        lambda t: t.is_cuda(),
        lambda t: st.tensor_ones([2]) + t,
        lambda t: t.handle,
    ],
)
def test_a_freed_wrapper_raises_on_every_use(use):
    t = st.tensor_zeros([2])
    t.free()
    with pytest.raises(st.FreedTensorError, match="this tensor was already freed"):
        use(t)
    assert repr(t) == "tensor(<freed>)" and t.is_freed


def test_with_block_frees_on_exit_even_on_error():
    start = st.live_handles()
    with st.tensor_ones([3]) as t:
        assert st.live_handles() == start + 1
    assert t.is_freed and st.live_handles() == start
    with pytest.raises(ZeroDivisionError):
        with st.tensor_ones([3]) as u:
            1 / 0
    assert u.is_freed and st.live_handles() == start


def test_garbage_collection_frees_everything():
    start = st.live_handles()
    tensors = [st.tensor_randn([4]) for _ in range(100)]
    chained = [(t * 2 + 1).relu() for t in tensors]  # intermediates are collected as they go
    assert st.live_handles() == start + 200
    del tensors, chained
    gc.collect()
    assert st.live_handles() == start


def test_a_cycle_is_collected_and_freed():
    start = st.live_handles()
    holder = [st.tensor_zeros([1])]
    holder.append(holder)
    del holder
    gc.collect()
    assert st.live_handles() == start


def test_a_borrowed_handle_is_never_freed_by_the_borrower():
    owner = st.tensor_ones([2])
    borrowed = st.TorchTensorWrapper(owner.handle, owns_handle=False)
    assert borrowed.tolist() == [1.0, 1.0]
    borrowed.free()  # forgets the handle only
    del borrowed
    gc.collect()
    assert owner.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("handle", [0, None, "0x1000", -1.0])
def test_the_constructor_refuses_non_handles(handle):
    with pytest.raises(ValueError, match="handle must be a non-NULL TorchTensor\\* from simple_torch"):
        st.TorchTensorWrapper(handle)


def test_interpreter_exit_with_live_tensors_is_clean():
    script = (
        "import simple_torch as st\n"
        "kept = [st.tensor_randn([64, 64]) @ st.tensor_randn([64, 64]) for _ in range(50)]\n"
        "st.kept = kept\n"
        "cycle = [st.tensor_ones([2])]; cycle.append(cycle)\n"
        "print(st.live_handles())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "51", "")


def test_collecting_a_wrapper_leaves_the_threads_error_message_alone():
    """A garbage collection can run between a failed call and the read of its message: the
    finalizer frees without touching the error slot, as _free (which clears it on entry) would."""
    lib = st._native.lib
    doomed, other = st.tensor_ones([2]), st.tensor_ones([2])
    raw = other.handle
    other._handle = None  # forgotten: released below, by hand
    with pytest.raises(st.HandleError):
        lib.rt_torch_torchtensor_relu(None)
    del doomed  # its finalizer runs here
    lib.rt_torch_torchtensor_finalize(raw)
    lib.rt_torch_torchtensor_finalize(raw)  # a second time, or a bad handle: ignored, silently
    lib.rt_torch_torchtensor_finalize(0xDEADBEEF)
    assert lib.rt_torch_last_error() == b"rt_torch_torchtensor_relu: the tensor handle is NULL"
    with pytest.raises(st.HandleError, match="was already freed"):
        lib.rt_torch_torchtensor_numel(raw)
