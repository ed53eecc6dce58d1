"""Device values: every accepted form, equality, hashing, pattern matching, and bad input."""

import pickle

import numpy as np
import pytest
import torch

import simple_torch as st
from simple_torch import Device

CPU_FORMS = ["cpu", "CPU", " cpu ", -1, -7, np.int64(-1), Device.cpu(), Device("cpu"), torch.device("cpu")]
CUDA1_FORMS = ["cuda:1", "CUDA:1", 1, np.int32(1), Device.cuda(1), Device("cuda", 1), Device(1), torch.device("cuda", 1)]


@pytest.mark.parametrize("form", CPU_FORMS, ids=repr)
def test_cpu_forms(form):
    device = Device(form)
    assert device == Device.cpu() and device.kind == "cpu" and device.index is None
    assert str(device) == "cpu" and device.code == -1


@pytest.mark.parametrize("form", CUDA1_FORMS, ids=repr)
def test_cuda_forms(form):
    device = Device(form)
    assert device == Device.cuda(1) and (device.kind, device.index) == ("cuda", 1)
    assert str(device) == "cuda:1" and device.code == 1


def test_cuda_without_index_is_cuda_0():
    assert Device("cuda") == Device(torch.device("cuda")) == Device.cuda() == Device(0) == Device("cuda:0")


def test_a_value_type():
    a, b = Device("cuda:2"), Device(2)
    assert a == b and hash(a) == hash(b) and a is not b
    assert a != Device("cuda:1") and a != Device.cpu() and a != "cuda:2"
    assert len({Device("cpu"), Device(-1), Device("cuda:0"), Device(0), Device("cuda:1")}) == 3
    assert repr(a) == "Device(kind='cuda', index=2)"
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(AttributeError, match="immutable"):
        a.index = 3
    with pytest.raises(AttributeError, match="immutable"):
        del a.kind


def describe(device) -> str:
    match Device(device):
        case Device(kind="cpu"):
            return "the CPU"
        case Device(kind="cuda", index=0):
            return "the first GPU"
        case Device(kind="cuda", index=i):
            return f"GPU {i}"
    return "no match"


def test_structural_pattern_matching():
    assert [describe(d) for d in ("cpu", "cuda", "cuda:3", -1, 2)] == ["the CPU", "the first GPU", "GPU 3", "the CPU", "GPU 2"]
    match Device("cuda:5"):
        case Device("cuda", index):  # positional, through __match_args__
            assert index == 5
        case _:
            pytest.fail("positional pattern did not match")


@pytest.mark.parametrize("bad", ["gpu", "", "cuda:", "cuda:-1", "cuda:1:2", "cpu:0", "cuda1", "tpu:0", 1.5, None, True, [], {}], ids=repr)
def test_bad_values_name_the_accepted_forms(bad):
    with pytest.raises(ValueError) as error:
        Device(bad)
    message = str(error.value)
    assert repr(bad) in message
    assert "'cpu', 'cuda', 'cuda:N', a Device, or an integer code" in message


@pytest.mark.parametrize("args, words", [
    (("cpu", 0), "only 'cuda' takes an index"),
    (("cuda", -1), "must be an integer >= 0"),
    (("cuda", 1.0), "must be an integer >= 0"),
    (("cuda", True), "must be an integer >= 0"),
    (("cuda:1", 1), "only 'cuda' takes an index"),
])
def test_bad_kind_and_index(args, words):
    with pytest.raises(ValueError, match=words):
        Device(*args)


@pytest.mark.parametrize("form", CPU_FORMS, ids=repr)
def test_every_api_takes_every_cpu_form(form):
    for make in (st.tensor_zeros, st.tensor_ones, st.tensor_randn):
        assert make([2], device=form).device() == Device.cpu()
    assert st.from_list([1.0], device=form).device() == Device.cpu()
    assert st.tensor_ones([2]).to(form).device() == Device.cpu()
    assert st.Stream(form).device == Device.cpu()
    assert st.Stream.current(form).device == Device.cpu()
    assert st.resolve_device(form) == Device.cpu()
    st.synchronize(form)


@pytest.mark.parametrize("form", CUDA1_FORMS, ids=repr)
def test_every_api_takes_every_cuda_form(form):
    """Each form names cuda:1 to every API: the result is on cuda:1, or the error names it."""
    x = st.tensor_ones([2])
    calls = {
        "tensor_zeros": lambda: st.tensor_zeros([2], device=form),
        "from_list": lambda: st.from_list([1.0], device=form),
        "to": lambda: x.to(form),
        "cuda": lambda: x.cuda(form),
        "Stream": lambda: st.Stream(form),
        "resolve_device": lambda: st.resolve_device(form),
    }
    for name, call in calls.items():
        if st.cuda_device_count() > 1:
            result = call()
            device = result if isinstance(result, Device) else result.device if isinstance(result, st.Stream) else result.device()
            assert device == Device.cuda(1), name
        else:
            with pytest.raises(st.DeviceError, match="cannot use cuda:1"):
                call()


def test_cuda_refuses_the_cpu():
    with pytest.raises(ValueError, match="cuda\\(\\) needs a GPU index or a CUDA device, got 'cpu'"):
        st.tensor_ones([1]).cuda("cpu")


def test_to_refuses_what_is_neither_device_nor_dtype():
    with pytest.raises(ValueError, match="to\\(\\) needs a device .* or a dtype .* got 'gpu'"):
        st.tensor_ones([1]).to("gpu")
