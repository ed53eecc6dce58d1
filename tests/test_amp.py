"""Mixed precision: st.autocast casts as torch.autocast does (libtorch's own autocast state), and
st.amp.GradScaler scales, skips and adapts as torch's GradScaler."""

import numpy as np
import pytest
import torch

import simple_torch as st


def test_autocast_on_the_cpu_casts_what_torch_casts():
    a, b = st.randn(4, 4), st.randn(4, 4)
    ta, tb = a.to_torch(), b.to_torch()
    with st.autocast("cpu"), torch.autocast("cpu"):
        for ours, theirs in [(st.mm(a, b), torch.mm(ta, tb)), (a + b, ta + tb), (st.conv2d(a[None, None], b[None, None]),
                             torch.conv2d(ta[None, None], tb[None, None])), (a.softmax(0), ta.softmax(0))]:
            assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
            torch.testing.assert_close(ours.to_torch(), theirs)
        assert st.amp.is_autocast_enabled("cpu")
        with st.autocast("cpu", enabled=False):
            assert st.mm(a, b).dtype is st.float32
        assert st.mm(a, b).dtype is st.bfloat16
    assert not st.amp.is_autocast_enabled("cpu") and st.mm(a, b).dtype is st.float32

    @st.autocast("cpu", dtype=st.float16)
    def half_mm():
        return st.mm(a, b)

    assert half_mm().dtype is st.float16 and st.mm(a, b).dtype is st.float32


def test_autocast_gradients_flow_back_in_float32():
    w = st.randn(4, 4, requires_grad=True)
    x = st.randn(2, 4)
    with st.autocast("cpu"):
        y = x @ w
    assert y.dtype is st.bfloat16
    y.float().sum().backward()
    assert w.grad.dtype is st.float32 and w.grad.shape == (4, 4)


def test_autocast_bad_input():
    with pytest.raises(ValueError, match="'cpu' and 'cuda', not 'tpu'"):
        st.autocast("tpu")
    if not st.torch_cuda_available():
        with pytest.warns(UserWarning, match="CUDA is not available. Disabling"):
            assert not st.autocast("cuda").enabled
        with pytest.warns(UserWarning, match="CUDA is not available"):
            assert not st.amp.GradScaler("cuda").is_enabled()


class _Counting:
    """A stand-in optimizer that counts its steps."""

    def __init__(self, params):
        self.param_groups, self.steps = [{"params": params}], 0

    def step(self):
        self.steps += 1


def test_grad_scaler_matches_torch_step_for_step():
    w, tw = st.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    ours, theirs = _Counting([w]), torch.optim.SGD([tw], lr=0.0)
    scaler = st.amp.GradScaler("cpu", init_scale=8.0, growth_interval=2)
    tscaler = torch.amp.GradScaler("cpu", init_scale=8.0, growth_interval=2)
    for k in [1.0, float("inf"), 2.0, float("nan"), 1.0, 1.0, 3.0]:
        w.grad, tw.grad = None, None
        scaler.scale((w * k).sum()).backward()
        tscaler.scale((tw * k).sum()).backward()
        scaler.step(ours), tscaler.step(theirs)
        scaler.update(), tscaler.update()
        assert scaler.get_scale() == tscaler.get_scale()
        np.testing.assert_array_equal(w.grad.numpy(), tw.grad.numpy())
    assert ours.steps == 5
    assert scaler.state_dict() == tscaler.state_dict()
    resumed = st.amp.GradScaler("cpu")
    resumed.load_state_dict(tscaler.state_dict())
    assert resumed.state_dict() == tscaler.state_dict()


def test_grad_scaler_misuse_as_torch_reports_it():
    w = st.ones(1, requires_grad=True)
    optimizer, scaler = _Counting([w]), st.amp.GradScaler("cpu")
    with pytest.raises(RuntimeError, match="did not use scaler.scale"):
        scaler.step(optimizer)
    scaler.scale(w.sum()).backward()
    scaler.unscale_(optimizer)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called"):
        scaler.unscale_(optimizer)
    scaler.step(optimizer)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(optimizer)
