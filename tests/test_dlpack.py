"""The DLPack protocol itself: who owns what, deleters that run exactly once, capsules, versions.

A hand-made producer (ctypes structs over a NumPy buffer) counts its deleter's calls, so every
lifetime rule is checked by a number, not by the absence of a crash.
"""

import ctypes
import gc

import numpy as np
import pytest
import torch

import simple_torch as st
from simple_torch import _dlpack
from helpers import run_python, run_threads

# dlpack.h's DLDataTypeCode values.
DL_INT, DL_UINT, DL_FLOAT = 0, 1, 2


class CountingProducer:
    """A DLPack producer written by hand over a NumPy buffer; ``deletes`` counts its deleter."""

    def __init__(self, values, versioned=True, major=1, byte_offset=0, shape=None, dtype=None):
        self.values = np.ascontiguousarray(values)
        self.versioned = versioned
        self.deletes = 0
        shape = self.values.shape if shape is None else shape
        self.shape = (ctypes.c_int64 * max(1, len(shape)))(*shape)
        self.deleter = _dlpack.DELETER(self._delete)  # kept alive with the producer
        self.managed = _dlpack.DLManagedTensorVersioned() if versioned else _dlpack.DLManagedTensor()
        if versioned:
            self.managed.version = _dlpack.DLPackVersion(major, 0)
        self.managed.deleter = self.deleter
        tensor = self.managed.dl_tensor
        tensor.data = self.values.ctypes.data
        tensor.device = _dlpack.DLDevice(1, 0)
        tensor.ndim = len(shape)
        code, bits = dtype or (DL_FLOAT, 8 * self.values.itemsize)
        tensor.dtype = _dlpack.DLDataType(code, bits, 1)
        tensor.shape = self.shape
        tensor.byte_offset = byte_offset

    def _delete(self, managed):
        assert managed == ctypes.addressof(self.managed)
        self.deletes += 1

    def __dlpack_device__(self):
        return (1, 0)

    def __dlpack__(self, **kwargs):
        return _dlpack.to_capsule(ctypes.addressof(self.managed), self.versioned)


def collect():
    gc.collect()
    gc.collect()


@pytest.fixture(autouse=True)
def no_leaked_exports():
    collect()
    start = st.live_dlpack_exports()
    yield
    collect()
    assert st.live_dlpack_exports() == start, "an exported DLPack tensor was never deleted"


@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "legacy"])
def test_the_producers_memory_lives_as_long_as_any_tensor_over_it(versioned):
    producer = CountingProducer(np.arange(6.0).reshape(2, 3), versioned)
    t = st.from_dlpack(producer)
    assert t.data_ptr == producer.values.ctypes.data
    view = t.transpose(0, 1)
    also = t.reshape([6])
    t.free()
    assert producer.deletes == 0
    assert view.tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    view.free()
    assert producer.deletes == 0
    producer.values[0, 0] = 7.0  # still the same memory
    assert also.tolist()[0] == 7.0
    also.free()
    assert producer.deletes == 1


def test_the_deleter_waits_for_torch_too():
    producer = CountingProducer(np.arange(4.0))
    t = st.from_dlpack(producer)
    theirs = t.to_torch()
    t.free()
    assert producer.deletes == 0
    assert theirs.tolist() == [0.0, 1.0, 2.0, 3.0]
    del theirs
    collect()
    assert producer.deletes == 1


def test_an_unconsumed_capsule_deletes_its_tensor_once():
    producer = CountingProducer(np.arange(3.0))
    capsule = producer.__dlpack__()
    del capsule
    collect()
    assert producer.deletes == 1


def test_a_capsule_is_consumed_once():
    producer = CountingProducer(np.arange(3.0))
    capsule = producer.__dlpack__()
    t = st.from_dlpack(capsule)
    with pytest.raises(BufferError, match="already consumed"):
        st.from_dlpack(capsule)
    del capsule
    collect()
    assert producer.deletes == 0  # the tensor owns it, not the renamed capsule
    t.free()
    assert producer.deletes == 1


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: CountingProducer(np.arange(3.0), major=2), "DLPack version 2.0 is not supported"),
        (lambda: CountingProducer(np.arange(3.0), dtype=(DL_FLOAT, 24)), "cannot import the DLPack tensor"),
    ],
    ids=["major-version-2", "float24"],
)
def test_a_refused_import_leaves_the_capsule_its_owner(make, message):
    producer = make()
    capsule = producer.__dlpack__()
    with pytest.raises(st.ArgumentError, match=message):
        st.from_dlpack(capsule)
    assert producer.deletes == 0
    del capsule
    collect()
    assert producer.deletes == 1


def test_byte_offset_is_honoured():
    producer = CountingProducer(np.arange(5.0), byte_offset=8, shape=(4,))
    t = st.from_dlpack(producer)
    assert t.tolist() == [1.0, 2.0, 3.0, 4.0]
    t.free()
    assert producer.deletes == 1


def test_not_a_producer():
    with pytest.raises(TypeError, match="__dlpack__ or a DLPack capsule"):
        st.from_dlpack([1, 2, 3])


# -- export ---------------------------------------------------------------------------------------


def test_an_export_outlives_the_wrapper_and_is_deleted_once():
    t = st.from_list([1.0, 2.0, 3.0])
    theirs = torch.from_dlpack(t)
    assert st.live_dlpack_exports() == 1
    t.free()
    assert theirs.tolist() == [1.0, 2.0, 3.0]
    del theirs
    collect()
    assert st.live_dlpack_exports() == 0


@pytest.mark.parametrize("max_version, name", [(None, "dltensor"), ((0, 8), "dltensor"), ((1, 0), "dltensor_versioned"), ((1, 3), "dltensor_versioned")])
def test_the_capsule_kind_follows_max_version(max_version, name):
    capsule = st.tensor_ones([2]).__dlpack__(max_version=max_version)
    assert f'"{name}"' in repr(capsule)
    assert st.live_dlpack_exports() == 1
    del capsule
    collect()
    assert st.live_dlpack_exports() == 0


def test_a_dropped_capsule_keeps_the_exception_in_flight():
    t = st.tensor_ones([2])

    def fail():
        capsule = t.__dlpack__(max_version=(1, 0))  # dies while the KeyError propagates
        raise KeyError("still this one")

    with pytest.raises(KeyError, match="still this one"):
        fail()
    collect()
    assert st.live_dlpack_exports() == 0


def test_capsules_alive_at_exit_are_harmless():
    code = (
        "import simple_torch as st, numpy as np\n"
        "t = st.tensor_ones([3]); keep = [t.__dlpack__(), t.__dlpack__(max_version=(1, 0)), t.numpy()]\n"
        "cycle = [t]; cycle.append(cycle)\n"
    )
    done = run_python(code)
    assert (done.returncode, done.stderr) == (0, "")


def test_copy_and_dl_device():
    t = st.from_list([1.0, 2.0])
    shared = np.from_dlpack(t)
    copied = np.from_dlpack(t, copy=True)
    assert shared.ctypes.data == t.data_ptr != copied.ctypes.data
    copied[0] = 9.0
    assert t.tolist() == [1.0, 2.0]
    capsule = t.__dlpack__(max_version=(1, 0), copy=True)
    managed, versioned = _dlpack.from_capsule(capsule)
    assert versioned and _dlpack.DLManagedTensorVersioned.from_address(managed).flags & _dlpack.FLAG_IS_COPIED
    assert t.__dlpack__(dl_device=(1, 0), copy=False) is not None
    with pytest.raises(BufferError, match=r"DLPack device \(7, 0\) is not supported"):
        t.__dlpack__(dl_device=(7, 0))
    with pytest.raises(TypeError, match="stream must be an int or None"):
        t.__dlpack__(stream="default")


def test_a_gpu_dl_device_without_cuda_says_so():
    if st.torch_cuda_available():
        pytest.skip("this machine has CUDA")
    t = st.tensor_ones([2])
    with pytest.raises(st.DeviceError, match="CUDA is not available"):
        t.__dlpack__(dl_device=(2, 0))
    with pytest.raises(BufferError, match="without a copy"):
        t.__dlpack__(dl_device=(2, 0), copy=False)


def test_device_synchronize():
    st._native.lib.rt_torch_device_synchronize(-1)  # the CPU: nothing to wait for
    if not st.torch_cuda_available():
        with pytest.raises(st.DeviceError, match="CUDA is not available"):
            st._native.lib.rt_torch_device_synchronize(0)


def test_a_freed_tensor_cannot_be_exported():
    t = st.tensor_ones([2])
    t.free()
    with pytest.raises(st.FreedTensorError):
        t.__dlpack__()
    with pytest.raises(st.FreedTensorError):
        t.__dlpack_device__()


def test_threads_import_and_export_at_once():
    """8 threads sharing memory in and out at the same time: each sees its own values, and every
    export is deleted."""
    errors = []

    def work(seed: int):
        try:
            values = np.full(16, float(seed))
            for i in range(2000):
                values[0] = i
                t = st.from_numpy(values)
                shared = t.numpy()
                theirs = t.to_torch() if i % 10 == 0 else None
                assert shared.ctypes.data == values.ctypes.data and shared[0] == i and shared[1] == seed
                assert theirs is None or theirs[1].item() == seed
                t.free()
        except Exception as error:  # reported by the main thread
            errors.append(error)

    run_threads(work, 8)
    assert errors == []
