"""Autograd: st computes the gradients torch computes, through libtorch's engine, with torch's
API, modes and errors; custom functions and hooks run Python inside the graph."""

import threading

import numpy as np
import pytest
import torch

import simple_torch as st
from helpers import run_threads


def both(shape, seed=0, requires_grad=True, dtype="float32"):
    values = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return st.tensor(values, requires_grad=requires_grad), torch.tensor(values, requires_grad=requires_grad)


def same(ours, theirs, **tolerance):
    torch.testing.assert_close(ours.detach().to_torch(), theirs.detach(), **tolerance)


def test_backward_fills_the_leaves_grads_as_torch():
    (x, tx), (w, tw) = both((4, 3)), both((3, 2), seed=1)
    b, tb = both((2,), seed=2)
    loss = st.addmm(b, x, w).relu().pow(2).mean()
    tloss = torch.addmm(tb, tx, tw).relu().pow(2).mean()
    assert loss.grad_fn.name() == tloss.grad_fn.name() == "MeanBackward0"
    assert st.addmm(b, x, w).grad_fn.name() == "AddmmBackward0"
    loss.backward()
    tloss.backward()
    for ours, theirs in [(x, tx), (w, tw), (b, tb)]:
        same(ours.grad, theirs.grad)
        assert ours.is_leaf and ours.grad_fn is None
    assert not loss.is_leaf and loss.grad is None
    # gradients accumulate, as in torch
    (x * 2).sum().backward()
    (tx * 2).sum().backward()
    same(x.grad, tx.grad)


def test_the_tensor_autograd_properties():
    x = st.zeros(3)
    assert not x.requires_grad and x.grad is None and x.is_leaf
    x.requires_grad = True
    assert x.requires_grad and repr(x) == "tensor([0., 0., 0.], requires_grad=True)"
    y = x * 2
    assert repr(y) == "tensor([0., 0., 0.], grad_fn=<MulBackward0>)"
    y.retain_grad()
    assert y.retains_grad
    y.sum().backward()
    assert y.grad.tolist() == [1.0, 1.0, 1.0] and x.grad.tolist() == [2.0, 2.0, 2.0]
    x.grad = st.ones(3)
    assert x.grad.tolist() == [1.0, 1.0, 1.0]
    del x.grad
    assert x.grad is None
    d = y.detach()
    assert not d.requires_grad and d.is_leaf
    with pytest.raises(RuntimeError, match="Use tensor.detach\\(\\).numpy\\(\\) instead"):
        x.numpy()
    assert x.tolist() == [0.0, 0.0, 0.0]
    assert st.ones(2, requires_grad=True).requires_grad and st.randn_like(x, requires_grad=True).requires_grad


def test_grad_and_second_derivatives():
    x, tx = both((5,), dtype="float64")
    (g,) = st.autograd.grad((x.sin() * x).sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad((tx.sin() * tx).sum(), tx, create_graph=True)
    same(g, tg)
    (gg,) = st.autograd.grad(g.sum(), x)
    (tgg,) = torch.autograd.grad(tg.sum(), tx)
    same(gg, tgg)
    assert x.grad is None  # grad() leaves .grad alone
    unused = st.ones(1, requires_grad=True)
    assert st.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)[1] is None
    with pytest.raises(RuntimeError, match="of the differentiated Tensors appears to not have been used in the graph"):
        st.autograd.grad((x * 2).sum(), [x, unused])


def test_backward_with_a_gradient_and_inputs():
    (x, tx), (w, tw) = both((3,)), both((3,), seed=1)
    y, ty = x * w, tx * tw
    gradient = np.array([1.0, -2.0, 0.5], dtype="float32")
    y.backward(st.tensor(gradient), inputs=[w])
    ty.backward(torch.tensor(gradient), inputs=[tw])
    same(w.grad, tw.grad)
    assert x.grad is None and tx.grad is None


def test_gradcheck_in_float64():
    x = st.randn(4, dtype=st.float64, requires_grad=True)
    w = st.randn(4, 3, dtype=st.float64, requires_grad=True)
    assert st.autograd.gradcheck(lambda a, b: (a @ b).tanh(), (x, w))
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        st.autograd.gradcheck(lambda a: _WrongSquare.apply(a), (x,))


def test_errors_as_torch_reports_them():
    x = st.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()
    a = st.ones(3, requires_grad=True)
    b = a * 1
    c = b.sigmoid()  # saves its output
    c.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.sum().backward()
    with pytest.raises(RuntimeError, match="does not require grad and does not have a grad_fn"):
        st.ones(2).sum().backward()
    with pytest.raises(RuntimeError, match="assigning a gradient of size|a gradient of size '\\[2\\]'"):
        x.grad = st.ones(2)
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf variables"):
        (x * 2).requires_grad = False
    assert x.grad is not None and st.ones(1).sum().item() == 1.0  # the process goes on


def test_grad_modes_are_context_managers_decorators_and_per_thread():
    x = st.ones(2, requires_grad=True)
    with st.no_grad():
        assert not (x * 2).requires_grad and not st.is_grad_enabled()
        with st.enable_grad():
            assert (x * 2).requires_grad
        assert not st.is_grad_enabled()
    assert st.is_grad_enabled()

    @st.no_grad()
    def called():
        return st.is_grad_enabled()

    @st.no_grad
    def bare():
        return st.is_grad_enabled()

    assert called() is False and bare() is False and st.is_grad_enabled()
    st.set_grad_enabled(False)
    try:
        assert not st.is_grad_enabled()
        seen = []
        thread = threading.Thread(target=lambda: seen.append(st.is_grad_enabled()))
        thread.start(), thread.join()
        assert seen == [True]  # per thread, as in libtorch
    finally:
        st.set_grad_enabled(True)
    with st.set_grad_enabled(False):
        assert not st.is_grad_enabled()
    assert st.is_grad_enabled()
    with st.inference_mode():
        y = x * 2
        assert st.is_inference_mode_enabled() and not y.requires_grad
        with st.inference_mode(False):
            assert not st.is_inference_mode_enabled()
    assert y.is_inference() and not st.is_inference_mode_enabled()


class _Cube(st.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x ** 3 * scale

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        assert ctx.needs_input_grad == (True, False)
        return 3 * x ** 2 * ctx.scale * grad, None


class _WrongSquare(st.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * x

    @staticmethod
    def backward(ctx, grad):
        return grad  # should be 2 x grad


def test_a_custom_function_runs_inside_the_graph_and_trains():
    x, tx = both((4,))
    y = _Cube.apply(x, 2.0)
    assert y.grad_fn.name() == "_CubeBackward"
    (y.exp().sum()).backward()
    ty = tx ** 3 * 2.0
    ty.exp().sum().backward()
    same(x.grad, tx.grad)
    # it trains: fit w so that cube(w) * 2 approaches 16, step for step as torch does
    w, tw = st.tensor([1.5], requires_grad=True), torch.tensor([1.5], requires_grad=True)
    for _ in range(100):
        for weight, cube in [(w, _Cube.apply), (tw, lambda t, scale: t ** 3 * scale)]:
            loss = ((cube(weight, 2.0) - 16.0) ** 2).sum()
            weight.grad = None
            loss.backward()
            with (st.no_grad() if weight is w else torch.no_grad()):
                weight -= 0.0005 * weight.grad
    same(w, tw)
    assert abs(w.item() - 2.0) < 1e-3


def test_errors_inside_a_custom_backward_reach_the_caller_as_themselves():
    class Failing(st.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            raise KeyError("raised in backward")

    class TooMany(st.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    x = st.ones(2, requires_grad=True)
    with pytest.raises(KeyError, match="raised in backward"):
        Failing.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match=r"function TooManyBackward returned an incorrect number of gradients \(expected 1, got 2\)"):
        TooMany.apply(x).sum().backward()
    assert x.grad is None


def test_hooks_see_and_replace_gradients():
    x, tx = both((3,))
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
    thandle = tx.register_hook(lambda g: g * 10)
    (x * x).sum().backward()
    (tx * tx).sum().backward()
    same(x.grad, tx.grad)
    assert len(seen) == 1
    handle.remove(), thandle.remove()
    x.grad = None
    (x * 1).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0] and len(seen) == 1
    with pytest.raises(RuntimeError, match="cannot register a hook on a variable that doesn't require gradient"):
        st.ones(1).register_hook(lambda g: g)


def test_backward_from_many_threads():
    """Each thread trains its own leaf; the engine and the host callbacks serve them all."""
    results = {}

    def work(i):
        w = st.full((3,), float(i), requires_grad=True)
        for _ in range(20):
            _Cube.apply(w, 1.0).sum().backward()
        results[i] = w.grad.tolist()

    run_threads(work, 4)
    assert results == {i: [20 * 3.0 * i * i] * 3 for i in range(4)}


def test_set_materialize_grads_false_gives_none_for_unused_outputs():
    class Split(st.autograd.Function):
        @staticmethod
        def forward(ctx, x, materialize):
            ctx.set_materialize_grads(materialize)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, grad_a, grad_b):
            seen.append((grad_a is None, grad_b is None))
            return (grad_a if grad_a is not None else 0) * 2 + (grad_b if grad_b is not None else 0) * 3, None

    seen = []
    x = st.ones(2, requires_grad=True)
    for materialize in (True, False):
        a, _ = Split.apply(x, materialize)
        a.sum().backward()
    assert seen == [(False, False), (False, True)]
    assert x.grad.tolist() == [4.0, 4.0]


def test_every_dtype_moves_between_devices():
    for dtype in (st.uint16, st.uint32, st.uint64):
        x = st.arange(5).to(dtype)
        assert x.cpu().dtype is dtype and x.to("cpu").tolist() == [0, 1, 2, 3, 4]
