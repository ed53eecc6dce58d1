"""Every operation against PyTorch computing the same thing."""

import operator

import numpy as np
import pytest
import torch

import simple_torch as st
from helpers import assert_same, pair

FLOATS = ["float32", "float64"]
BROADCAST_SHAPES = [([2, 3], [2, 3]), ([2, 3], [3]), ([4, 1, 3], [2, 1]), ([], [5]), ([0, 3], [3])]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
def test_binary_ops_match_torch(name, shapes, dtype):
    (a, ta), (b, tb) = pair(shapes[0], dtype, seed=1), pair(shapes[1], dtype, seed=2)
    assert_same(getattr(a, name)(b), getattr(torch, name)(ta, tb))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("symbol", ["+", "-", "*", "/", "@"])
def test_operators_match_torch(symbol, dtype):
    function = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "@": operator.matmul}[symbol]
    (a, ta), (b, tb) = pair([3, 3], dtype, seed=3), pair([3, 3], dtype, seed=4)
    assert_same(function(a, b), function(ta, tb))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "bool"])
@pytest.mark.parametrize("scalar", [2, 2.5, True, -3])
@pytest.mark.parametrize("function", [operator.add, operator.sub, operator.mul, operator.truediv], ids=lambda f: f.__name__)
def test_python_scalars_promote_like_torch(function, scalar, dtype):
    values = np.array([[1, 0, 3], [4, 5, 0]]).astype(dtype)
    ours, theirs = st.from_numpy(values), torch.from_numpy(values.copy())
    for compute in (lambda x: function(x, scalar), lambda x: function(scalar, x)):
        try:
            expected = compute(theirs)
        except RuntimeError:  # e.g. bool - bool: torch refuses, and so must we
            with pytest.raises(st.SimpleTorchError):
                compute(ours)
            continue
        assert_same(compute(ours), expected)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(
    "shapes", [([2, 3], [3, 4]), ([3], [3]), ([3], [3, 2]), ([2, 3], [3]), ([5, 2, 3], [3, 4]), ([5, 2, 3], [5, 3, 1])], ids=str
)
def test_matmul_matches_torch(shapes, dtype):
    (a, ta), (b, tb) = pair(shapes[0], dtype, seed=5), pair(shapes[1], dtype, seed=6)
    assert_same(a.matmul(b), ta.matmul(tb))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [[], [7], [3, 4], [2, 3, 4]], ids=str)
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "clone"])
def test_unary_ops_match_torch(name, shape, dtype):
    a, ta = pair(shape, dtype, seed=7)
    assert_same(getattr(a, name)(), getattr(ta, name)())


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_softmax_matches_torch(dim, dtype):
    a, ta = pair([2, 3, 4], dtype, seed=8)
    assert_same(a.softmax(dim), ta.softmax(dim))


def test_chain_matches_torch():
    (x, tx), (w, tw), (b, tb) = pair([8, 16], seed=9), pair([16, 4], seed=10), pair([4], seed=11)
    assert_same(x.matmul(w).add(b).relu(), tx.matmul(tw).add(tb).relu())
    assert_same((x @ w + b).sigmoid().softmax(-1), (tx @ tw + tb).sigmoid().softmax(-1))


def test_operations_leave_operands_unchanged():
    a, ta = pair([3, 3], seed=12)
    before = a.numpy(copy=True)
    for result in (a + a, a.relu(), a.softmax(0), a @ a, a.clone(), a * 2):
        result.free()
    np.testing.assert_array_equal(a.numpy(), before)


def test_clone_outlives_its_source():
    a, ta = pair([4], seed=13)
    copy = a.clone()
    a.free()
    assert_same(copy, ta)


def test_properties_match_torch():
    a, ta = pair([2, 3, 4], "float64")
    assert (a.ndim(), a.numel(), a.shape(), len(a)) == (ta.ndim, ta.numel(), list(ta.shape), len(ta))
    assert a.dtype is st.DType.float64
    assert not a.is_cuda() and a.device() == st.Device.cpu()
    scalar = st.from_list(3.5)
    assert (scalar.ndim(), scalar.numel(), scalar.shape(), scalar.tolist()) == (0, 1, [], 3.5)
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(scalar)
    assert bool(scalar) and not bool(st.from_list([0.0]))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(a)


def test_repr_shows_shape_dtype_device_and_small_values():
    small = st.from_list([[1.5, -2.0], [3.0, 4.25]])
    assert repr(small) == repr(torch.tensor([[1.5, -2.0], [3.0, 4.25]]))
    assert repr(st.tensor_zeros([100, 100])) == repr(torch.zeros(100, 100))
    assert repr(st.tensor([1, 2], dtype="bfloat16")) == "tensor([1., 2.], dtype=st.bfloat16)"
    assert st.Tensor is st.TorchTensorWrapper
