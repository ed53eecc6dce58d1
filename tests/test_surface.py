"""The torch-shaped API: torch code with st in torch's place computes what torch computes."""

import operator
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import simple_torch as st
from helpers import run_python


def same(ours, theirs, **tolerance):
    """ours (a tensor, or a structure of them and numbers) equals torch's result, dtypes included."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, st.Tensor), type(ours)
        torch.testing.assert_close(ours.to_torch(), theirs, equal_nan=True, **tolerance)
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            same(a, b, **tolerance)
    else:
        assert ours == theirs


def both(values, dtype=None):
    """The same values as ours and as torch's (float32 for Python floats, as torch.tensor makes them)."""
    array = np.array(values, dtype=dtype)
    if dtype is None and array.dtype == np.float64:
        array = array.astype(np.float32)
    return st.tensor(array), torch.tensor(array)


def test_the_new_user_reports_are_fixed():
    # sizes are never dtype or device codes
    assert st.tensor_zeros(2, 3).shape == (2, 3) and st.tensor_zeros(2, 3).dtype is st.float32
    assert st.tensor_ones(2, 3, 4).device == st.Device.cpu()
    assert st.zeros(2, 3).shape == (2, 3)
    with pytest.raises(TypeError, match="not the integer 3"):
        st.zeros(2, dtype=3)
    a, ta = both([[1.0, 2.0], [3.0, 4.0]])
    b, tb = both([[1.0, 0.0], [3.0, 5.0]])
    same(a == b, ta == tb)  # elementwise, not identity
    view, tview = a[0], ta[0]
    a += 1
    ta += 1
    same(view, tview)  # in place: the view sees it
    assert isinstance(a.shape, tuple) and a.shape == (2, 2) and a.shape() == [2, 2]
    product = np.float32(2) * a
    assert isinstance(product, st.Tensor)
    same(product, np.float32(2) * ta)
    assert callable(st.tensor) and st.tensor([1.0, 2.0]).tolist() == [1.0, 2.0]
    assert repr(st.zeros(100, 100)) == repr(torch.zeros(100, 100))
    assert "dtype=st.bfloat16" in repr(st.ones(70, dtype=st.bfloat16))
    assert st.ones(2, dtype=st.bfloat16).tolist() == [1.0, 1.0]


def test_errors_name_the_python_operation_and_keep_tracebacks_short():
    with pytest.raises(st.ArgumentError) as caught:
        st.tensor_randn([3], dtype="int64")
    assert str(caught.value).startswith("tensor_randn: cannot create randn int64[3] on cpu")
    with pytest.raises(st.ArgumentError) as caught:
        st.zeros(2, 3) @ st.zeros(4, 5)
    assert str(caught.value).startswith("Tensor.matmul: float32[2, 3] on cpu with float32[4, 5] on cpu")
    frames = [f for f in caught.traceback if "simple_torch" in str(f.path)]
    assert len(frames) <= 2, [str(f) for f in caught.traceback]


@pytest.mark.parametrize("name", ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "eq", "ne", "lt", "le", "gt", "ge"])
def test_arithmetic_and_comparison_operators(name):
    function = getattr(operator, name)
    a, ta = both([[1.5, -2.0], [3.0, 4.25]])
    b, tb = both([[0.5, 2.0], [-3.0, 2.0]])
    same(function(a, b), function(ta, tb))
    same(function(a, 2), function(ta, 2))
    same(function(2, a), function(2, ta))
    same(function(a, 2.5), function(ta, 2.5))


@pytest.mark.parametrize("name", ["and_", "or_", "xor", "lshift", "rshift"])
def test_bitwise_operators(name):
    function = getattr(operator, name)
    a, ta = both([1, 6, 12], dtype=np.int64)
    b, tb = both([3, 1, 2], dtype=np.int64)
    same(function(a, b), function(ta, tb))
    same(function(a, 1), function(ta, 1))


@pytest.mark.parametrize("name", ["iadd", "isub", "imul", "itruediv", "ipow", "imod", "ifloordiv"])
def test_in_place_operators_write_into_the_same_tensor(name):
    function = getattr(operator, name)
    a, ta = both([1.5, -2.0, 3.0])
    before, view = a, a[1:]
    a = function(a, 2)
    ta = function(ta, 2)
    assert a is before
    same(a, ta)
    same(view, ta[1:])


def test_unary_operators():
    a, ta = both([1.5, -2.0])
    same(-a, -ta)
    same(+a, +ta)
    same(abs(a), abs(ta))
    m, tm = both([True, False])
    same(~m, ~tm)
    same(a @ st.tensor([1.0, 2.0]), ta @ torch.tensor([1.0, 2.0]))


@pytest.mark.parametrize(
    "index",
    [
        0, -1, slice(1, 3), (slice(None), 1), (None, 0), (Ellipsis, 1), (1, Ellipsis, None), (slice(None, None, 2),),
        ([0, 2],), (slice(1, 3), [0, 2]), (0, slice(None), [1, 0]), True, (False,),
    ],
    ids=repr,
)
def test_indexing_matches_torch(index):
    a, ta = both(np.arange(60.0).reshape(3, 4, 5))
    same(a[index], ta[index])


def test_masks_tensor_indices_and_assignment():
    a, ta = both(np.arange(12).reshape(3, 4))
    same(a[a > 5], ta[ta > 5])
    same(a[st.tensor([2, 0])], ta[torch.tensor([2, 0])])
    same(a[1:3, None, ..., st.tensor([0, 2])], ta[1:3, None, ..., torch.tensor([0, 2])])
    a[a > 5] = 0
    ta[ta > 5] = 0
    same(a, ta)
    a[0] = st.tensor([9, 8, 7, 6])
    ta[0] = torch.tensor([9, 8, 7, 6])
    a[:, 1] = -1
    ta[:, 1] = -1
    a[[1, 2], [0, 3]] = 5
    ta[[1, 2], [0, 3]] = 5
    same(a, ta)
    with pytest.raises(IndexError, match="too many indices"):
        a[0, 0, 0]
    with pytest.raises(IndexError):
        a[7]


def test_properties_as_torch_spells_them():
    a, ta = both(np.zeros((2, 3, 4), dtype=np.float32))
    assert a.shape == ta.shape and a.size() == ta.size() and a.size(-1) == ta.size(-1)
    assert a.ndim == ta.ndim and a.dim() == ta.dim() and a.numel() == ta.numel() and len(a) == len(ta)
    assert a.stride() == ta.stride() and a.stride(1) == ta.stride(1)
    assert a.is_cuda == ta.is_cuda and not a.is_cuda and not a.is_cuda()
    assert a.device == st.Device.cpu() and a.device() == st.Device.cpu()
    assert a.T.shape == ta.permute(2, 1, 0).shape and a.mT.shape == ta.mT.shape
    assert a.data_ptr() == a.data_ptr and a.data_ptr() != 0
    assert st.tensor(2.5).item() == 2.5 and int(st.tensor([3])) == 3 and float(st.tensor(1.5)) == 1.5
    assert [t.tolist() for t in st.tensor([[1, 2], [3, 4]])] == [[1, 2], [3, 4]]
    assert 3 in st.tensor([1, 2, 3]) and 5 not in st.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(st.ones(2))


def test_generated_methods_and_functions_match_torch():
    x, tx = both(np.arange(24.0).reshape(2, 3, 4) - 10)
    same(x.sum(dim=1, keepdim=True), tx.sum(dim=1, keepdim=True))
    same(x.mean(), tx.mean())
    same(x.max(dim=2).values, tx.max(dim=2).values)
    same(x.max(dim=2).indices, tx.max(dim=2).indices)
    same(x.view(6, 4), tx.view(6, 4))
    same(x.permute(2, 0, 1), tx.permute(2, 0, 1))
    same(x.reshape(-1), tx.reshape(-1))
    same(x.softmax(-1), tx.softmax(-1))
    same(x.clamp(min=-3, max=5), tx.clamp(min=-3, max=5))
    same(st.cat([x, x], dim=1), torch.cat([tx, tx], dim=1))
    same(st.stack([x, x]), torch.stack([tx, tx]))
    same(st.where(x > 0, x, 0), torch.where(tx > 0, tx, 0))
    same(x.split(1, dim=0), tx.split(1, dim=0))
    same(st.split(x, [1, 3], dim=2), torch.split(tx, [1, 3], dim=2))
    same(st.einsum("bij,bkj->bik", x, x), torch.einsum("bij,bkj->bik", tx, tx))
    same(st.norm(x), torch.norm(tx))
    same(st.norm(x, dim=1), torch.norm(tx, dim=1))
    same(x.norm(p=1), tx.norm(p=1))
    same(st.unique(st.tensor([3, 1, 3, 2]), return_counts=True), torch.unique(torch.tensor([3, 1, 3, 2]), return_counts=True))
    same(st.softmax(x, dim=0), torch.softmax(tx, dim=0))
    same(st.sum(input=x), torch.sum(input=tx))
    out = st.empty(2, 3, 4)
    assert st.add(x, x, out=out) is out
    with pytest.raises(TypeError, match="fits none of its overloads"):
        x.sum("a", "b", "c")
    with pytest.raises(AttributeError, match="has no attribute 'sumx'"):
        x.sumx()
    with pytest.raises(AttributeError, match="no attribute 'not_an_op'"):
        st.not_an_op


def test_factories_match_torch_and_use_the_config_defaults():
    st.manual_seed(7)
    ours = [st.rand(3), st.randn(2, 2), st.randint(0, 10, (5,))]
    torch.manual_seed(7)
    theirs = [torch.rand(3), torch.randn(2, 2), torch.randint(0, 10, (5,))]
    same(ours, theirs)
    same(st.arange(5), torch.arange(5))
    same(st.arange(0, 1, 0.25), torch.arange(0, 1, 0.25))
    same(st.linspace(0, 1, 5), torch.linspace(0, 1, 5))
    same(st.eye(3, 2), torch.eye(3, 2))
    same(st.full((2, 2), 7), torch.full((2, 2), 7))
    same(st.full((2,), 0.5), torch.full((2,), 0.5))
    same(st.zeros_like(st.ones(2, dtype=st.int32)), torch.zeros_like(torch.ones(2, dtype=torch.int32)))
    same(st.tensor([[1, 2], [3, 4]]), torch.tensor([[1, 2], [3, 4]]))
    same(st.tensor([1.5, 2.0], dtype=st.float64), torch.tensor([1.5, 2.0], dtype=torch.float64))
    assert st.empty(2, 3).shape == (2, 3) and st.ones(2, 3, dtype="float16").dtype is st.float16
    done = run_python("import simple_torch as st; print(st.zeros(2).dtype, st.arange(0, 1, 0.5).dtype)")
    assert done.returncode == 0, done.stderr
    env_done = subprocess.run(
        [sys.executable, "-c", "import simple_torch as st; st.load_local_config(user=False); print(st.zeros(2).dtype)"],
        capture_output=True, text=True, timeout=120, env={**__import__("os").environ, "SIMPLE_TORCH_DTYPE": "float64"},
    )
    assert env_done.stdout.strip() == "float64", env_done.stderr


def test_ops_namespace():
    x = st.ones(2, 3)
    with pytest.raises(OverflowError, match="argument 'other': 1180591620717411303424 does not fit in 64 bits"):
        x + 2**70
    assert "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor" == st.ops.aten.add.Tensor.__doc__
    assert st.ops.aten.add.resolve((x, 1), {}) is st.ops.aten.add.Scalar
    assert st.ops.aten.add.resolve((x, x), {}) is st.ops.aten.add.Tensor
    assert st.ops.aten.add_.Tensor(x, x) is x
    with pytest.raises(AttributeError, match="closest names are: add"):
        st.ops.aten.addd
    with pytest.raises(AttributeError, match="its overloads are"):
        st.ops.aten.add.Tensr
    with pytest.raises(TypeError, match="argument 'other' must be Tensor, not str"):
        st.ops.aten.add.Tensor(x, "one")


def test_the_stubs_describe_the_generated_surface(tmp_path):
    """The generator writes stubs with every method variant, e.g. sum(dim, keepdim, dtype)."""
    from simple_torch import _stubs, _surface

    done = subprocess.run([sys.executable, "-m", "simple_torch._stubs", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    generated = (tmp_path / "_generated.pyi").read_text()
    assert "def sum(self, dim: Sequence[int] | int | None, keepdim: bool = ..., *, dtype: _DTypeLike | None = ...) -> Tensor: ..." in generated
    methods, functions = _surface.variants()
    assert all(f"    def {name}(" in generated for name in methods if name not in _stubs._KEYWORDS)
    ops = (tmp_path / "ops.pyi").read_text()
    assert "class _packet_conv2d(OpOverloadPacket):" in ops and "    conv2d: _packet_conv2d" in ops
    installed = Path(st.__file__).parent
    assert (installed / "_generated.pyi").is_file() and (installed / "ops.pyi").is_file(), "the wheel ships the stubs"


@pytest.mark.parametrize("name", ["uint16", "uint32", "uint64", "complex32", "float8_e4m3fn", "float8_e5m2"])
def test_the_dtypes_only_operators_make(name):
    """Tensors of dtypes that NumPy or tch lack still have a dtype, print, convert and go to torch."""
    ours = st.tensor([1, 2, 3], dtype=st.float32).to(getattr(st, name))
    theirs = torch.tensor([1, 2, 3], dtype=torch.float32).to(getattr(torch, name))
    assert ours.dtype is getattr(st.DType, name) and ours.tolist() == theirs.to(torch.complex64 if "complex" in name else torch.float64).tolist()
    assert f"dtype=st.{name}" in repr(ours)
    torch.testing.assert_close(ours.to_torch().to(torch.complex64 if "complex" in name else torch.float32),
                               theirs.to(torch.complex64 if "complex" in name else torch.float32))
    if name.startswith("uint"):
        same(st.from_numpy(np.arange(3, dtype=name)), torch.from_numpy(np.arange(3, dtype=name)))


def test_generators_give_torchs_numbers_and_are_checked_handles():
    ours, theirs = st.Generator().manual_seed(42), torch.Generator().manual_seed(42)
    same(st.randn(3, generator=ours), torch.randn(3, generator=theirs))
    same(st.rand(2, 2, generator=ours), torch.rand(2, 2, generator=theirs))
    same(st.randint(0, 10, (4,), generator=ours), torch.randint(0, 10, (4,), generator=theirs))
    x, tx = st.zeros(3), torch.zeros(3)
    x.normal_(generator=ours)
    tx.normal_(generator=theirs)
    same(x, tx)
    assert ours.initial_seed() == 42 and ours.device == st.Device.cpu()
    seed = ours.seed()
    assert ours.initial_seed() == seed
    with pytest.raises(st.DeviceError, match="Generator: cannot use cuda:9"):
        st.Generator("cuda:9")
    with pytest.raises(TypeError, match="argument 'generator' must be Generator"):
        st.ops.aten.randn.generator([2], generator="g")
    handle = ours._handle
    st._native.lib.rt_torch_torchgenerator_free(handle)
    ours._handle = None
    with pytest.raises(st.HandleError, match=f"generator handle {handle:#x} was already freed"):
        st._native.lib.rt_torch_torchgenerator_manual_seed(handle, 1)


def test_mypy_types_calls_through_the_stubs(tmp_path):
    """With the installed stubs, mypy knows what the generated surface returns and takes."""
    mypy = pytest.importorskip("mypy.api")
    code = tmp_path / "user.py"
    code.write_text(
        "import simple_torch as st\n"
        "x = st.ones(2, 3)\n"
        "y = (x @ st.ones(3, 4)).sum(dim=1, keepdim=True)\n"
        "reveal_type(y)\n"
        "n: int = st.cat([x, x])\n"
        "st.ops.aten.add.Tensor(x, 'one')\n"
    )
    out, _, status = mypy.run([str(code), "--no-incremental", "--follow-imports=silent"])
    assert 'Revealed type is "simple_torch._tensor.TorchTensorWrapper"' in out, out
    assert 'user.py:5: error: Incompatible types in assignment (expression has type "TorchTensorWrapper"' in out, out
    assert 'user.py:6: error: Argument 2 to "__call__" of "_Tensor" has incompatible type "str"' in out, out
    assert status == 1 and out.count("error:") == 2, out
