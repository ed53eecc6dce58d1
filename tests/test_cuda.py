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
