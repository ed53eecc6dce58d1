"""The generic operator entry at the ABI level: rt_torch_op_count/_find/_schema/_call through
ctypes, with hand-built RtTorchValue arrays (no st.ops), every value kind in and out, each
result compared with torch computing the same thing.

The values are built explicitly, one constructor per tag, so that each test says exactly what
crosses the ABI; results that are new handles are adopted by wrappers (freed with them), and
the autouse fixture of conftest.py checks that no handle leaks.
"""

import ctypes
import math
import re
import threading
import traceback

import numpy as np
import pytest
import torch

import simple_torch as st
from simple_torch import _native
from simple_torch._native import (
    VALUE_BOOL,
    VALUE_BOOL_LIST,
    VALUE_COMPLEX,
    VALUE_DEVICE,
    VALUE_FLOAT,
    VALUE_FLOAT_LIST,
    VALUE_INT,
    VALUE_INT_LIST,
    VALUE_LAYOUT,
    VALUE_MEMORY_FORMAT,
    VALUE_NONE,
    VALUE_OPTIONAL_TENSOR_LIST,
    VALUE_SCALAR_TYPE,
    VALUE_STR,
    VALUE_TENSOR,
    VALUE_TENSOR_LIST,
    Value,
    lib,
)
from simple_torch.errors import BY_KIND

from helpers import assert_same, pair

# c10's codes, as RtTorchValue carries them (ScalarType numbers are RT_TORCH_DTYPE_*).
INT64, FLOAT32, FLOAT64, COMPLEX64 = 4, 6, 7, 9
STRIDED, SPARSE_COO = 0, 1
CONTIGUOUS, CHANNELS_LAST = 0, 2
CPU = -1
# Error kinds (RT_TORCH_ERROR_*).
ARGUMENT, DEVICE, HANDLE, OUT_OF_MEMORY, INDEX, TYPE, NOT_IMPLEMENTED = 1, 2, 3, 4, 6, 7, 8


# ---- building arguments: one constructor per tag; each Value keeps what it points to -----------


def _value(tag, keep=None, **fields) -> Value:
    value = Value(tag=tag, **fields)
    value.keep = keep  # the buffer `ptr` points into, alive as long as the Value
    return value


def none():
    return _value(VALUE_NONE)


def boolean(b):
    return _value(VALUE_BOOL, int_value=int(b))


def integer(i):
    return _value(VALUE_INT, int_value=i)


def real(x):
    return _value(VALUE_FLOAT, real=x)


def complex_(z):
    return _value(VALUE_COMPLEX, real=z.real, imag=z.imag)


def string(s: str):
    buffer = ctypes.create_string_buffer(s.encode())
    return _value(VALUE_STR, buffer, ptr=ctypes.addressof(buffer))


def tensor(t):
    return _value(VALUE_TENSOR, t, ptr=t.handle)


def _array(tag, ctype, items):
    array = (ctype * max(1, len(items)))(*items)
    return _value(tag, array, ptr=ctypes.addressof(array), len=len(items))


def ints(*items):
    return _array(VALUE_INT_LIST, ctypes.c_int64, items)


def floats(*items):
    return _array(VALUE_FLOAT_LIST, ctypes.c_double, items)


def bools(*items):
    return _array(VALUE_BOOL_LIST, ctypes.c_uint8, [int(b) for b in items])


def tensors(*items):
    value = _array(VALUE_TENSOR_LIST, ctypes.c_void_p, [t.handle for t in items])
    value.keep = (value.keep, items)
    return value


def optional_tensors(*items):
    """A ``Tensor?[]``: None where the list has None."""
    value = _array(VALUE_OPTIONAL_TENSOR_LIST, ctypes.c_void_p, [None if t is None else t.handle for t in items])
    value.keep = (value.keep, items)
    return value


def code(tag, number):
    """SCALAR_TYPE, LAYOUT, MEMORY_FORMAT or DEVICE."""
    return _value(tag, int_value=number)


# ---- calling ---------------------------------------------------------------------------------


def op(name: str, overload: str = "") -> int:
    return lib.rt_torch_op_find(name.encode(), overload.encode())


def named(args: tuple, keywords: dict) -> list[Value]:
    """The positional values, then the keyword values with their names set."""
    values = list(args)
    for key, value in keywords.items():
        value.name_buffer = ctypes.create_string_buffer(key.encode())
        value.name = ctypes.addressof(value.name_buffer)
        values.append(value)
    return values


def call(op_name: str, *args: Value, out_cap: int = 4, **keywords: Value) -> list[Value]:
    """Calls ``op_name`` ("aten::add.Tensor") with positional then keyword values; the results.
    A failure raises the exception class of its kind (the checked ``lib``)."""
    name, _, overload = op_name.partition(".")
    values = named(args, keywords)
    array = (Value * max(1, len(values)))(*values)
    out = (Value * out_cap)()
    written = lib.rt_torch_op_call(op(name, overload), array, len(values), out, out_cap)
    return list(out[:written])


def adopt(result: Value) -> st.TorchTensorWrapper:
    """A tensor result that is a new handle, wrapped: the wrapper owns and frees it."""
    assert result.tag == VALUE_TENSOR and result.from_argument == 0 and result.ptr
    return st.TorchTensorWrapper(result.ptr)


def adopt_list(result: Value) -> list[st.TorchTensorWrapper]:
    """A Tensor[] result: the library's array of handles, each new and the caller's."""
    assert result.tag == VALUE_TENSOR_LIST and result.from_argument == 0
    handles = ctypes.cast(result.ptr, ctypes.POINTER(ctypes.c_void_p))[: result.len] if result.len else []
    assert all(handles) and len(set(handles)) == len(handles)
    return [st.TorchTensorWrapper(h) for h in handles]


def last_error() -> tuple[str, int]:
    message = lib.unchecked.rt_torch_last_error()
    return (message.decode() if message else None), lib.unchecked.rt_torch_last_error_kind()


# ---- the catalogue ---------------------------------------------------------------------------


def test_every_id_has_a_schema_that_finds_it_again():
    """ids 0..count-1 each have a schema starting with the operator's name; finding that name
    and overload gives the same id back, and a second find gives the same id again."""
    count = lib.rt_torch_op_count()
    assert count > 1000
    for op_id in range(count):
        schema = lib.rt_torch_op_schema(op_id)
        assert schema is not None, op_id
        schema = schema.decode()
        qualified = schema[: schema.index("(")]
        assert "::" in qualified, schema
        name, _, overload = qualified.partition(".")
        assert op(name, overload) == op_id, schema
    assert op("aten::add", "Tensor") == op("aten::add", "Tensor")
    assert lib.rt_torch_op_schema(op("aten::add", "Tensor")).decode() == (
        "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor"
    )


def test_unknown_names_ids_and_overloads_say_what_exists():
    with pytest.raises(st.ArgumentError, match="no operator aten::ad; the closest names are: aten::add "):
        op("aten::ad")
    with pytest.raises(st.ArgumentError, match="its overloads are:.* Tensor"):
        op("aten::add")  # aten::add has no default overload
    count = lib.rt_torch_op_count()
    for bad in (-1, count, 2**63 - 1):
        with pytest.raises(st.ArgumentError, match=f"{bad} is not an operator id"):
            lib.rt_torch_op_schema(bad)
        with pytest.raises(st.ArgumentError, match=f"{bad} is not an operator id"):
            lib.rt_torch_op_call(bad, None, 0, None, 0)
        assert last_error() == (f"rt_torch_op_call: {bad} is not an operator id (ids are 0 to {count - 1})", ARGUMENT)


# ---- values in ---------------------------------------------------------------------------------


def test_tensor_int_and_bool_arguments_and_a_named_multi_return():
    """aten::sort(Tensor self, int dim=-1, bool descending=False) -> (values, indices)."""
    ours, theirs = pair((4, 5))
    values, indices = call("aten::sort", tensor(ours), integer(0), descending=boolean(True))
    expected = torch.sort(theirs, dim=0, descending=True)
    assert_same(adopt(values), expected.values)
    assert_same(adopt(indices), expected.indices)


def test_float_arguments_and_an_int_where_a_float_goes():
    """float? arguments take FLOAT, and INT by conversion."""
    data = np.array([math.nan, math.inf, -math.inf, 1.5], dtype=np.float32)
    ours, theirs = st.from_numpy(data), torch.from_numpy(data.copy())
    (result,) = call("aten::nan_to_num", tensor(ours), real(0.25), posinf=integer(7), neginf=real(-7.5))
    assert_same(adopt(result), torch.nan_to_num(theirs, nan=0.25, posinf=7, neginf=-7.5))


def test_scalar_arguments_of_every_kind():
    """A Scalar takes BOOL, INT, FLOAT and COMPLEX, as torch's Python numbers."""
    ours, theirs = pair((2, 3))
    other, their_other = pair((2, 3), seed=1)
    (result,) = call("aten::add.Tensor", tensor(ours), tensor(other), alpha=real(-1.5))
    assert_same(adopt(result), torch.add(theirs, their_other, alpha=-1.5))
    (result,) = call("aten::add.Tensor", tensor(ours), tensor(other), alpha=integer(3))
    assert_same(adopt(result), torch.add(theirs, their_other, alpha=3))
    (result,) = call("aten::mul.Scalar", tensor(ours), boolean(True))
    assert_same(adopt(result), torch.mul(theirs, True))
    values = np.array([1 + 1j, -2 + 0.5j], dtype=np.complex64)
    (result,) = call("aten::mul.Scalar", tensor(st.from_numpy(values)), complex_(0.5 - 2j))
    assert_same(adopt(result), torch.from_numpy(values.copy()) * (0.5 - 2j))


def test_str_argument():
    ours, theirs = pair((3, 4))
    other, their_other = pair((3, 4), seed=2)
    for mode in ("floor", "trunc"):
        (result,) = call("aten::div.Tensor_mode", tensor(ours), tensor(other), rounding_mode=string(mode))
        assert_same(adopt(result), torch.div(theirs, their_other, rounding_mode=mode))
    (result,) = call("aten::div.Tensor_mode", tensor(ours), tensor(other), rounding_mode=none())
    assert_same(adopt(result), torch.div(theirs, their_other))


def test_int_list_bool_and_scalar_type_by_keyword_and_defaults():
    """aten::sum.dim_IntList(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None)."""
    ours, theirs = pair((2, 3, 4))
    (result,) = call("aten::sum.dim_IntList", tensor(ours), ints(0, 2), keepdim=boolean(True),
                     dtype=code(VALUE_SCALAR_TYPE, FLOAT64))
    assert_same(adopt(result), torch.sum(theirs, dim=[0, 2], keepdim=True, dtype=torch.float64))
    (result,) = call("aten::sum.dim_IntList", tensor(ours), integer(1))  # int[1] given one int; keepdim defaults
    assert_same(adopt(result), torch.sum(theirs, dim=1))
    (result,) = call("aten::permute", tensor(ours), ints(2, 0, 1))
    assert_same(adopt(result), theirs.permute(2, 0, 1))


def test_float_list_argument():
    """aten::upsample_bilinear2d.vec(Tensor input, SymInt[]? output_size, bool align_corners, float[]? scale_factors)."""
    ours, theirs = pair((1, 2, 3, 4))
    (result,) = call("aten::upsample_bilinear2d.vec", tensor(ours), none(), boolean(False), floats(2.0, 1.5))
    assert_same(adopt(result), torch.ops.aten.upsample_bilinear2d.vec(theirs, None, False, [2.0, 1.5]))


def test_scalar_list_argument_and_tensor_list_result():
    """aten::_foreach_add.ScalarList(Tensor[] self, Scalar[] scalars) -> Tensor[]: FLOAT_LIST and INT_LIST."""
    (a, their_a), (b, their_b) = pair((3,)), pair((2, 2), seed=1)
    for scalars, values in ((floats(0.5, -2.0), [0.5, -2.0]), (ints(3, -4), [3, -4])):
        (result,) = call("aten::_foreach_add.ScalarList", tensors(a, b), scalars)
        expected = torch._foreach_add([their_a, their_b], values)
        for got, want in zip(adopt_list(result), expected, strict=True):
            assert_same(got, want)


def test_bool_list_argument_and_undefined_tensor_results_are_none():
    """aten::convolution_backward(..., bool[3] output_mask) -> (Tensor, Tensor, Tensor): the
    results the mask leaves out are undefined tensors, which come back as NONE."""
    grad, their_grad = pair((1, 2, 3, 3))
    image, their_image = pair((1, 1, 5, 5), seed=1)
    weight, their_weight = pair((2, 1, 3, 3), seed=2)
    results = call("aten::convolution_backward", tensor(grad), tensor(image), tensor(weight), ints(2), ints(1, 1),
                   ints(0, 0), ints(1, 1), boolean(False), ints(0, 0), integer(1), bools(True, False, True))
    expected = torch.ops.aten.convolution_backward(their_grad, their_image, their_weight, [2], [1, 1], [0, 0], [1, 1],
                                                   False, [0, 0], 1, [True, False, True])
    assert [r.tag for r in results] == [VALUE_TENSOR, VALUE_NONE, VALUE_TENSOR]
    assert expected[1] is None
    assert_same(adopt(results[0]), expected[0])
    assert_same(adopt(results[2]), expected[2])


def test_tensor_list_and_optional_tensor_list_arguments():
    (a, their_a), (b, their_b) = pair((2, 3)), pair((4, 3), seed=1)
    (result,) = call("aten::cat", tensors(a, b))
    assert_same(adopt(result), torch.cat([their_a, their_b]))
    (result,) = call("aten::cat", tensors(a, b), dim=integer(-2))
    assert_same(adopt(result), torch.cat([their_a, their_b], dim=-2))
    index = np.array([2, 0, 2])
    (result,) = call("aten::index.Tensor", tensor(b), optional_tensors(None, st.from_numpy(index)))
    assert_same(adopt(result), their_b[:, torch.from_numpy(index)])
    # Without None, a plain TENSOR_LIST fits Tensor?[] too.
    (result,) = call("aten::index.Tensor", tensor(b), tensors(st.from_numpy(index)))
    assert_same(adopt(result), their_b[torch.from_numpy(index)])


def test_layout_and_device_arguments():
    (result,) = call("aten::zeros", ints(2, 3), dtype=code(VALUE_SCALAR_TYPE, FLOAT64),
                     layout=code(VALUE_LAYOUT, STRIDED), device=code(VALUE_DEVICE, CPU))
    zeros = adopt(result)
    assert_same(zeros, torch.zeros(2, 3, dtype=torch.float64))
    assert lib.rt_torch_torchtensor_device(zeros.handle) == CPU
    # The layout is applied: a sparse COO tensor has sparse dims, as torch's has.
    (result,) = call("aten::zeros", ints(2, 3), layout=code(VALUE_LAYOUT, SPARSE_COO))
    sparse = adopt(result)
    (dims,) = call("aten::sparse_dim", tensor(sparse))
    assert (dims.tag, dims.int_value) == (VALUE_INT, torch.zeros(2, 3, layout=torch.sparse_coo).sparse_dim())


def test_memory_format_argument_sets_the_strides_torch_sets():
    ours, theirs = pair((2, 3, 4, 5))
    (result,) = call("aten::contiguous", tensor(ours), memory_format=code(VALUE_MEMORY_FORMAT, CHANNELS_LAST))
    channels_last = adopt(result)
    expected = theirs.contiguous(memory_format=torch.channels_last)
    strides = _native.int64_array([0] * 4)
    assert lib.rt_torch_torchtensor_strides(channels_last.handle, strides, 4) == 4
    assert list(strides) == list(expected.stride()) != list(theirs.stride())
    assert_same(channels_last, expected)
    # Already contiguous: libtorch returns the tensor itself, so the result is the argument.
    (same,) = call("aten::contiguous", tensor(ours), memory_format=code(VALUE_MEMORY_FORMAT, CONTIGUOUS))
    assert (same.tag, same.from_argument, same.ptr) == (VALUE_TENSOR, 1, ours.handle)


# ---- values out --------------------------------------------------------------------------------
# Not tested, for want of an operator: int[] and str results (aten returns neither; the
# quantized operators returning int[] take packed-parameter objects the entry cannot pass), and
# Device, Layout and MemoryFormat results (no operator returns one).


def test_int_float_bool_complex_and_scalar_type_results():
    ours, theirs = pair((3, 5))
    (size,) = call("aten::size.int", tensor(ours), integer(1))
    assert (size.tag, size.int_value) == (VALUE_INT, 5)
    (numel,) = call("aten::sym_numel", tensor(ours))  # SymInt, concrete here
    assert (numel.tag, numel.int_value) == (VALUE_INT, 15)
    element, their_element = pair((), seed=3)
    for name in ("aten::item", "aten::_local_scalar_dense"):
        (number,) = call(name, tensor(element))
        assert number.tag == VALUE_FLOAT and number.real == their_element.item()
    values = np.array(2 - 3j, dtype=np.complex64)
    (number,) = call("aten::item", tensor(st.from_numpy(values)))
    assert (number.tag, number.real, number.imag) == (VALUE_COMPLEX, 2.0, -3.0)
    (number,) = call("aten::item", tensor(st.from_numpy(np.array(-7))))
    assert (number.tag, number.int_value) == (VALUE_INT, -7)
    zero, one = st.from_numpy(np.array([0.0], np.float32)), st.from_numpy(np.array([2.0], np.float32))
    for t, expected in ((zero, False), (one, True)):
        (flag,) = call("aten::is_nonzero", tensor(t))
        assert (flag.tag, flag.int_value) == (VALUE_BOOL, int(expected))
    other, _ = pair((3, 5))  # the same seed: the same values in another tensor
    (flag,) = call("aten::equal", tensor(ours), tensor(other))
    assert (flag.tag, flag.int_value) == (VALUE_BOOL, 1)
    (flag,) = call("aten::equal", tensor(ours), tensor(one))
    assert (flag.tag, flag.int_value) == (VALUE_BOOL, 0)
    counts = st.from_numpy(np.array([1, 2], np.int64))
    (dtype,) = call("aten::result_type.Tensor", tensor(counts), tensor(ours))
    assert (dtype.tag, dtype.int_value) == (VALUE_SCALAR_TYPE, FLOAT32)
    assert torch.result_type(torch.tensor([1, 2]), theirs) == torch.float32
    (dtype,) = call("aten::promote_types", code(VALUE_SCALAR_TYPE, INT64), code(VALUE_SCALAR_TYPE, COMPLEX64))
    assert (dtype.tag, dtype.int_value) == (VALUE_SCALAR_TYPE, COMPLEX64)


def test_float_and_int_results_of_one_call():
    """aten::_choose_qparams_per_tensor(Tensor self, bool reduce_range=False) -> (float, int)."""
    ours, theirs = pair((4, 4))
    scale, zero_point = call("aten::_choose_qparams_per_tensor", tensor(ours))
    assert (scale.tag, zero_point.tag) == (VALUE_FLOAT, VALUE_INT)
    assert (scale.real, zero_point.int_value) == torch._choose_qparams_per_tensor(theirs)


def test_tensor_list_results_are_new_handles():
    ours, theirs = pair((5, 4))
    (pieces,) = call("aten::split.Tensor", tensor(ours), integer(2))
    got = adopt_list(pieces)
    expected = torch.split(theirs, 2)
    assert len(got) == len(expected) == 3
    for piece, want in zip(got, expected, strict=True):
        assert piece.handle != ours.handle
        assert_same(piece, want)
    (rows,) = call("aten::unbind.int", tensor(ours), dim=integer(1))
    got = adopt_list(rows)
    assert len(got) == 4
    for row, want in zip(got, torch.unbind(theirs, dim=1), strict=True):
        assert_same(row, want)
    (none_,) = call("aten::unbind.int", tensor(st.from_numpy(np.zeros((0, 3), np.float32))))
    assert adopt_list(none_) == []


def test_tensor_list_results_never_hold_argument_handles():
    (a, _), (b, _) = pair((2, 3)), pair((2, 3), seed=1)
    (result,) = call("aten::broadcast_tensors", tensors(a, b))  # same shapes: libtorch returns a and b
    handles = ctypes.cast(result.ptr, ctypes.POINTER(ctypes.c_void_p))[: result.len]
    shared = {a.handle, b.handle} & set(handles)
    for h in set(handles) - shared:
        lib.rt_torch_torchtensor_free(h)
    a.free(), b.free()  # before failing: pytest keeps a failed test's frames, and so its wrappers
    assert not shared, "broadcast_tensors([a, b]) returned a's and b's own handles: freeing them frees a and b"


def test_in_place_and_out_results_are_the_argument_handles():
    ours, theirs = pair((2, 3))
    other, their_other = pair((2, 3), seed=1)
    (result,) = call("aten::add_.Tensor", tensor(ours), tensor(other), alpha=real(0.5))
    assert (result.tag, result.from_argument, result.ptr) == (VALUE_TENSOR, 1, ours.handle)
    theirs.add_(their_other, alpha=0.5)
    assert_same(ours, theirs)
    target = st.from_numpy(np.zeros((2, 3), np.float32))
    (result,) = call("aten::add.out", tensor(ours), tensor(other), out=tensor(target))
    assert (result.tag, result.from_argument, result.ptr) == (VALUE_TENSOR, 1, target.handle)
    assert_same(target, theirs + their_other)
    # Two results, each its own out= argument.
    values, indices = st.from_numpy(np.zeros(2, np.float32)), st.from_numpy(np.zeros(2, np.int64))
    results = call("aten::max.dim_max", tensor(ours), integer(1), max=tensor(values), max_values=tensor(indices))
    assert [(r.from_argument, r.ptr) for r in results] == [(1, values.handle), (1, indices.handle)]
    expected = torch.max(theirs, dim=1)
    assert_same(values, expected.values)
    assert_same(indices, expected.indices)


def test_schema_defaults_fill_what_is_left_out():
    ours, theirs = pair((2, 3))
    other, their_other = pair((2, 3), seed=1)
    (result,) = call("aten::add.Tensor", tensor(ours), tensor(other))  # alpha=1
    assert_same(adopt(result), theirs + their_other)
    values, indices = call("aten::max.dim", tensor(ours), integer(0))  # keepdim=False
    expected = torch.max(theirs, dim=0)
    assert_same(adopt(values), expected.values)
    assert_same(adopt(indices), expected.indices)


def test_autograd_records_the_calls():
    """Grad mode is left as libtorch has it (on): a result computed from a tensor that requires
    grad is no leaf, and a backward pass through the entry runs."""
    ours, _ = pair((2, 3))
    (result,) = call("aten::requires_grad_", tensor(ours))
    assert (result.from_argument, result.ptr) == (1, ours.handle)
    (product,) = call("aten::mul.Scalar", tensor(ours), real(3.0))
    product = adopt(product)
    (leaf,) = call("aten::is_leaf", tensor(product))
    assert (leaf.tag, leaf.int_value) == (VALUE_BOOL, 0)
    (leaf,) = call("aten::is_leaf", tensor(ours))
    assert leaf.int_value == 1
    (total,) = call("aten::sum", tensor(product))
    assert call("aten::_backward", tensor(adopt(total)), tensors(ours)) == []


# ---- errors: each kind raises its class ----------------------------------------------------------


def test_each_error_kind_raises_its_class_with_the_message():
    a, b = st.from_numpy(np.ones((2, 3), np.float32)), st.from_numpy(np.ones((4, 5), np.float32))
    cases = [
        (ARGUMENT, ValueError, lambda: call("aten::mm", tensor(a), tensor(b)),
         "aten::mm(float32[2, 3] on cpu, float32[4, 5] on cpu): mat1 and mat2 shapes cannot be multiplied"),
        (INDEX, IndexError, lambda: call("aten::select.int", tensor(a), integer(0), integer(5)), "index 5 out of range"),
        (TYPE, TypeError, lambda: call("aten::mm", tensor(a), string("x")), "argument 'mat2' must be Tensor, not a str"),
        (TYPE, TypeError, lambda: call("aten::mm", tensor(a)), "is missing argument 'mat2'"),
        (TYPE, TypeError, lambda: call("aten::mm", tensor(a), tensor(b), beta=integer(1)), "has no argument named 'beta'"),
        (TYPE, TypeError, lambda: call("aten::mm", tensor(a), tensor(b), tensor(a)), "takes 2 positional arguments but 3"),
        (TYPE, TypeError, lambda: call("aten::bernoulli", tensor(a), generator=integer(1)),
         "argument 'generator' must be Optional[Generator], not an int"),
        (NOT_IMPLEMENTED, NotImplementedError, lambda: call("aten::sum.dim_DimnameList", tensor(a), ints(0)),
         "which the generic entry cannot pass yet"),
        (OUT_OF_MEMORY, MemoryError, lambda: call("aten::zeros", ints(2**40)), "can't allocate memory"),
        (ARGUMENT, ValueError, lambda: call("aten::max.dim", tensor(a), integer(0), out_cap=1),
         "aten::max.dim returns 2 values but out has room for 1"),
    ]
    gone = st.from_numpy(np.ones(2, np.float32))
    freed = gone.handle
    gone.free()
    stale = _array(VALUE_TENSOR_LIST, ctypes.c_void_p, [a.handle, freed])
    cases.append((HANDLE, ValueError, lambda: call("aten::cat", stale), "element 1: tensor handle"))
    if st.cuda_device_count() == 0:
        cases.append((DEVICE, st.DeviceError, lambda: call("aten::zeros", ints(2), device=code(VALUE_DEVICE, 0)), ""))
    for kind, builtin, run, words in cases:
        with pytest.raises(BY_KIND[kind]) as raised:
            run()
        assert isinstance(raised.value, builtin) and isinstance(raised.value, st.SimpleTorchError)
        assert words in str(raised.value)
        message, got = last_error()  # the library's own message names the C function
        assert message.startswith("rt_torch_op_call: ") and words in message and got == kind
    # libtorch's own NotImplementedError (no sum for float8) is the same kind.
    with pytest.raises(BY_KIND[NOT_IMPLEMENTED], match="not implemented for 'Float8_e5m2'"):
        call("aten::sum", tensor(a), dtype=code(VALUE_SCALAR_TYPE, 23))


def test_a_failed_call_writes_nothing_and_creates_no_handle():
    a = st.from_numpy(np.ones((2, 3), np.float32))
    out = (Value * 4)()
    for slot in out:
        slot.tag = -7
    before = st.live_handles()
    args = (Value * 2)(tensor(a), integer(7))
    assert lib.unchecked.rt_torch_op_call(op("aten::max", "dim"), args, 2, out, 4) == -1
    message, kind = last_error()
    assert kind == INDEX and "Dimension out of range" in message
    assert [slot.tag for slot in out] == [-7] * 4 and st.live_handles() == before


def test_libtorch_errors_show_the_arguments_given():
    a = st.from_numpy(np.ones((2, 3), np.float32))
    with pytest.raises(st.SimpleTorchError):
        call("aten::sum.dim_IntList", tensor(a), ints(5))
    message = last_error()[0]
    a.free()  # before failing: pytest keeps a failed test's frames, and so its wrappers
    assert "aten::sum.dim_IntList(float32[2, 3] on cpu, [5]" in message, message  # shows "None" for [5]


def test_a_number_for_a_tensor_is_a_wrapped_number_as_in_torch():
    """A number where a Tensor goes does not decide the result's dtype, as torch's bindings do."""
    for dtype, number in [(torch.int32, integer(3)), (torch.float16, _value(VALUE_FLOAT, None, real=2.5))]:
        theirs = torch.ones((), dtype=dtype)
        (result,) = call("aten::mul.Tensor", tensor(st.from_torch(theirs)), number)
        with st.TorchTensorWrapper(result.ptr) as product:
            assert product.dtype.name == str(dtype).removeprefix("torch.")


# ---- the packed frame: rt_torch_op_call_frame --------------------------------------------------
# The same call with its header, arguments and room for results in one buffer. It checks what
# rt_torch_op_call checks and writes the same results (after the arguments), and also returns a
# single new tensor's handle directly. st.ops calls every operator through it.


class FrameHeader(ctypes.Structure):
    """``RtTorchOpFrame``: op, n_args, out_cap, then `written`, set by the call."""

    _fields_ = [("op", ctypes.c_int64), ("n_args", ctypes.c_int64), ("out_cap", ctypes.c_int64), ("written", ctypes.c_int64)]


UNWRITTEN = -12345  # the tag of each result slot before a call: a slot still holding it was not written


def frame_for(op_name: str, *args: Value, out_cap: int = 4, **keywords: Value):
    """A frame calling ``op_name`` with these values (keywords named), its result slots marked."""
    name, _, overload = op_name.partition(".")
    values = named(args, keywords)

    class Frame(ctypes.Structure):
        _fields_ = [("header", FrameHeader), ("values", Value * (len(values) + out_cap))]

    frame = Frame()
    frame.header.op, frame.header.n_args, frame.header.out_cap = op(name, overload), len(values), out_cap
    frame.header.written = UNWRITTEN
    for index, value in enumerate(values):
        frame.values[index] = value
    for index in range(len(values), len(values) + out_cap):
        frame.values[index].tag = UNWRITTEN
    frame.keep = values  # what the values point to, alive as long as the frame
    return frame


def frame_call(frame, checked: bool = True):
    """(the handle the call returned, or None; written; the result slots, written or not)."""
    function = lib.rt_torch_op_call_frame if checked else lib.unchecked.rt_torch_op_call_frame
    handle = function(ctypes.byref(frame))
    return handle, frame.header.written, list(frame.values[frame.header.n_args :])


def test_a_frame_returns_one_new_tensor_directly_and_as_its_result():
    ours, theirs = pair((2, 3))
    other, their_other = pair((2, 3), seed=1)
    before = st.live_handles()
    handle, written, results = frame_call(frame_for("aten::add.Tensor", tensor(ours), tensor(other), alpha=real(0.5)))
    assert handle and written == 1
    assert (results[0].tag, results[0].from_argument, results[0].ptr) == (VALUE_TENSOR, 0, handle)
    assert [slot.tag for slot in results[1:]] == [UNWRITTEN] * 3
    assert st.live_handles() == before + 1  # one handle, returned twice: the caller frees it once
    assert_same(adopt(results[0]), torch.add(theirs, their_other, alpha=0.5))


def test_a_frame_writes_the_other_results_and_returns_null():
    ours, theirs = pair((2, 3))
    other, their_other = pair((2, 3), seed=1)
    # In place: the argument's own handle, which the caller already owns.
    handle, written, results = frame_call(frame_for("aten::add_.Tensor", tensor(ours), tensor(other)))
    assert handle is None and written == 1
    assert (results[0].tag, results[0].from_argument, results[0].ptr) == (VALUE_TENSOR, 1, ours.handle)
    theirs.add_(their_other)
    assert_same(ours, theirs)
    # out=: likewise the out argument.
    target = st.from_numpy(np.zeros((2, 3), np.float32))
    handle, written, results = frame_call(frame_for("aten::mul.out", tensor(ours), tensor(other), out=tensor(target)))
    assert handle is None and written == 1 and (results[0].from_argument, results[0].ptr) == (1, target.handle)
    assert_same(target, theirs * their_other)
    # Two new tensors.
    handle, written, results = frame_call(frame_for("aten::max.dim", tensor(ours), integer(1)))
    assert handle is None and written == 2 and results[2].tag == UNWRITTEN
    expected = torch.max(theirs, dim=1)
    assert_same(adopt(results[0]), expected.values)
    assert_same(adopt(results[1]), expected.indices)
    # A value that is no tensor, a list of new tensors, and nothing at all.
    handle, written, results = frame_call(frame_for("aten::is_leaf", tensor(ours)))
    assert (handle, written, results[0].tag, results[0].int_value) == (None, 1, VALUE_BOOL, 1)
    handle, written, results = frame_call(frame_for("aten::split.Tensor", tensor(ours), integer(1)))
    assert handle is None and written == 1
    for piece, want in zip(adopt_list(results[0]), torch.split(theirs, 1), strict=True):
        assert_same(piece, want)
    true = st.from_numpy(np.ones(1, np.float32))
    handle, written, results = frame_call(frame_for("aten::_assert_async", tensor(true), out_cap=0))
    assert (handle, written, results) == (None, 0, [])


def test_a_frame_checks_what_rt_torch_op_call_checks():
    """Each failure: NULL, written -1, the error of its kind naming rt_torch_op_call_frame, no
    result written and no handle made."""
    a, b = st.from_numpy(np.ones((2, 3), np.float32)), st.from_numpy(np.ones((4, 5), np.float32))
    gone = st.from_numpy(np.ones(2, np.float32))
    freed = gone.handle
    gone.free()
    frames = [
        (frame_for("aten::mm", tensor(a), tensor(b)), ARGUMENT,
         "aten::mm(float32[2, 3] on cpu, float32[4, 5] on cpu): mat1 and mat2 shapes cannot be multiplied"),
        (frame_for("aten::mm", tensor(a), _value(VALUE_TENSOR, ptr=freed)), HANDLE, "argument 1: tensor handle"),
        (frame_for("aten::mm", tensor(a), string("x")), TYPE, "argument 'mat2' must be Tensor, not a str"),
        (frame_for("aten::mm", tensor(a), tensor(b), beta=integer(1)), TYPE, "has no argument named 'beta'"),
        (frame_for("aten::select.int", tensor(a), integer(0), integer(5)), INDEX, "index 5 out of range"),
        (frame_for("aten::max.dim", tensor(a), integer(0), out_cap=1), ARGUMENT, "aten::max.dim returns 2 values but out has room for 1"),
    ]
    for n_args, words in ((-1, "n_args is -1"), (1025, "n_args is 1025")):
        bad = frame_for("aten::mm", tensor(a), tensor(a))
        bad.header.n_args = n_args
        frames.append((bad, ARGUMENT, words))
    bad = frame_for("aten::mm", tensor(a), tensor(a))
    bad.header.out_cap = -1
    frames.append((bad, ARGUMENT, "out_cap is -1; it must be 0 or more"))
    bad = frame_for("aten::mm", tensor(a), tensor(a))
    bad.header.op = -1
    frames.append((bad, ARGUMENT, "-1 is not an operator id"))
    before = st.live_handles()
    for frame, kind, words in frames:
        with pytest.raises(BY_KIND[kind], match=re.escape(words)):
            frame_call(frame)
        handle, written, results = frame_call(frame, checked=False)
        message, got = last_error()
        assert (handle, written, got) == (None, -1, kind) and message.startswith("rt_torch_op_call_frame: ") and words in message
        if 0 <= frame.header.n_args <= 2:
            assert all(slot.tag == UNWRITTEN for slot in results), "a failed call wrote a result"
    assert st.live_handles() == before
    assert lib.unchecked.rt_torch_op_call_frame(None) is None
    assert last_error() == ("rt_torch_op_call_frame: the frame is NULL", ARGUMENT)


def test_frames_in_many_threads_keep_their_own_results_and_errors():
    """Threads calling operators at once through the Python layers (each thread's own frame) and
    through frames of their own: every result is the thread's, every error names its shapes."""
    threads, rounds = 6, 300
    failures = []
    barrier = threading.Barrier(threads)

    def work(index):
        try:
            n = 2 + index  # shapes no other thread uses
            values = np.arange(n, dtype=np.float32) + index
            x, y = st.from_numpy(values), st.from_numpy(values * 2)
            wrong = st.from_numpy(np.ones(n + 1, np.float32))
            barrier.wait(timeout=60)
            for _ in range(rounds):
                np.testing.assert_array_equal(st.ops.aten.add.Tensor(x, y).numpy(), values * 3)
                np.testing.assert_array_equal(st.add(x, 1).numpy(), values + 1)
                np.testing.assert_array_equal((x == y).numpy(), values == values * 2)
                np.testing.assert_array_equal(x[1:].numpy(), values[1:])
                assert float(x.sum(dim=0)) == float(values.sum())
                maximum, where = st.ops.aten.max.dim(x, 0)
                assert (float(maximum), int(where)) == (float(values.max()), n - 1)
                with pytest.raises(st.SimpleTorchError, match=rf"float32\[{n}\] on cpu, float32\[{n + 1}\] on cpu"):
                    st.ops.aten.add.Tensor(x, wrong)
                handle, written, results = frame_call(frame_for("aten::mul.Tensor", tensor(x), tensor(y)))
                assert written == 1 and results[0].ptr == handle
                with st.TorchTensorWrapper(handle) as product:
                    np.testing.assert_array_equal(product.numpy(), values * values * 2)
        except BaseException:  # noqa: BLE001 - reported below, with the thread's index
            failures.append(f"thread {index}:\n{traceback.format_exc()}")
            barrier.abort()

    workers = [threading.Thread(target=work, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert not failures, "\n".join(failures)


# ---- the Python layers over it: one compiled function and one frame call per small operation --


def test_every_layer_keeps_its_behaviour_on_the_fast_path():
    """st.ops overloads and packets, the torch-shaped functions and methods, operators and
    indexing each reach a compiled function; what they return and raise is as before: the same
    object for in-place and out= results, wrapped numbers, autograd recorded, freed tensors
    refused."""
    ours, theirs = pair((4,))
    other, their_other = pair((4,), seed=1)
    for _ in range(3):  # the first call compiles; the next ones take the fast path
        assert_same(st.ops.aten.add.Tensor(ours, other), theirs + their_other)
        assert_same(st.ops.aten.add(ours, 2), theirs + 2)
        assert_same(st.add(ours, other, alpha=2), torch.add(theirs, their_other, alpha=2))
        assert_same(ours.sum(dim=0), theirs.sum(dim=0))
        assert_same(ours == other, theirs == their_other)
        assert_same(2 ** ours, 2**theirs)
        assert_same(-ours, -theirs)
        assert_same(ours[1:3], theirs[1:3])
        assert_same(ours[:-1:2], theirs[:-1:2])
        assert_same(ours[2], theirs[2])
    counts = st.from_numpy(np.array([1, 2], np.int32))
    for _ in range(2):
        assert (counts + 3).dtype is st.int32 and st.add(counts, 2.5).dtype is st.float32  # wrapped numbers
        assert (counts == 1).dtype is st.bool
    target = st.from_numpy(np.zeros(4, np.float32))
    for _ in range(2):
        assert st.ops.aten.add_.Tensor(target, ours) is target
        assert target.mul_(2) is target
        assert st.ops.aten.add.out(ours, other, out=target) is target
        same = target
        same **= 1
        assert same is target
    assert_same(target, theirs + their_other)
    leaf = st.from_numpy(np.ones(3, np.float32)).requires_grad_()
    for _ in range(2):
        assert st.mul(leaf, 2).grad_fn.name() == "MulBackward0"
        assert leaf[1:].grad_fn.name() == "SliceBackward0" and (leaf == 1).grad_fn is None
        assert leaf.sum(dim=0).grad_fn.name() == "SumBackward1"
    gone = st.from_numpy(np.ones(4, np.float32))
    gone.free()
    for use in (lambda: st.ops.aten.add.Tensor(gone, ours), lambda: st.ops.aten.add(ours, gone), lambda: st.add(gone, 1),
                lambda: gone.sum(dim=0), lambda: gone == ours, lambda: ours == gone, lambda: gone[1:3], lambda: gone[0],
                lambda: -gone, lambda: st.ops.aten.add_.Tensor(ours, gone)):
        with pytest.raises(st.FreedTensorError, match="already freed"):
            use()


def test_int_lists_take_the_fast_path_and_keep_their_behaviour():
    """Int list arguments (sizes, dims, strides) are packed by the compiled function: as lists,
    tuples, st.Size, one int where the list has no size, and as a method's separate ints; several
    lists in one call each land in their own place. Anything but exact ints (bools, tensors,
    ints beyond 64 bits) goes to the general path, which says what it always said."""
    ours, theirs = pair((2, 3))
    image, their_image = pair((1, 1, 4, 4), seed=1)
    for _ in range(3):  # the first call compiles; the next ones take the fast path
        assert_same(st.ops.aten.view.default(ours, (3, 2)), theirs.view(3, 2))
        assert_same(st.ops.aten.view.default(ours, [6]), theirs.view(6))
        assert_same(st.ops.aten.view.default(ours, st.Size([1, 6])), theirs.view(1, 6))
        assert_same(st.ops.aten.reshape.default(ours, 6), theirs.reshape(6))
        assert_same(st.ops.aten.sum.dim_IntList(ours, [0, 1]), theirs.sum(dim=[0, 1]))
        assert_same(st.ops.aten.sum.dim_IntList(ours, []), theirs.sum(dim=[]))
        assert_same(ours.view(3, 2), theirs.view(3, 2))
        assert_same(ours.permute(1, 0), theirs.permute(1, 0))
        assert_same(ours.reshape(3, 2), theirs.reshape(3, 2))
        assert_same(ours.expand(2, 2, 3), theirs.expand(2, 2, 3))
        assert_same(ours.repeat(2, 1), theirs.repeat(2, 1))
        # a list or tuple through the packet or the surface: kept for its types, guarded
        assert_same(st.ops.aten.view(ours, (3, 2)), theirs.view(3, 2))
        assert_same(ours.view((3, 2)), theirs.view((3, 2)))
        assert_same(ours.sum(dim=(0,)), theirs.sum(dim=(0,)))
        assert_same(ours.mean(dim=[1], keepdim=True), theirs.mean(dim=[1], keepdim=True))
        # two lists in one frame, in the order of their arguments
        assert_same(st.ops.aten.as_strided.default(ours, (3, 2), (1, 3)), torch.as_strided(theirs, (3, 2), (1, 3)))
        # four lists: kernel, stride, padding, dilation
        assert_same(
            st.ops.aten.max_pool2d.default(image, [3, 3], [1, 1], [1, 1], [1, 1]),
            torch.ops.aten.max_pool2d.default(their_image, [3, 3], [1, 1], [1, 1], [1, 1]),
        )
    wrapper = type(ours)
    assert st.ops.aten.view.default._compiled((wrapper, tuple), 2) is not None  # compiled, not the general path
    assert st.ops.aten.max_pool2d.default._compiled((wrapper, list, list, list, list), 5) is not None
    size = st.from_numpy(np.array(3, np.int64))
    for _ in range(2):
        assert_same(st.ops.aten.view.default(ours, (size, 2)), theirs.view(3, 2))  # a tensor: the general path
        # the same types with other contents: resolved again, as on a first call
        assert_same(st.ops.aten.view(ours, (size, 2)), theirs.view(3, 2))
        assert_same(ours.view((size, 2)), theirs.view(3, 2))
        with pytest.raises(st.ArgumentTypeError, match=r"aten::sum\(\) got \(Tensor\(float32\[2, 3\]\), dim=tuple\), which fits none"):
            ours.sum(dim=(True,))
        with pytest.raises(st.ArgumentTypeError, match=r"aten::view\(\) argument 'size' must be int\[\], not tuple"):
            st.ops.aten.view.default(ours, (3, True))
        with pytest.raises(OverflowError, match=r"aten::view\(\) argument 'size': \(9223372036854775808, 1\) does not fit in 64 bits"):
            st.ops.aten.view.default(ours, (2**63, 1))
        with pytest.raises(st.ArgumentError, match=r"shape '\[0, 1, 2, 3"):
            st.ops.aten.view.default(ours, tuple(range(65)))  # more than the fast path's 64
        with pytest.raises(st.ArgumentError, match=r"shape '\[4, 2\]' is invalid for input of size 6"):
            ours.view(4, 2)
    ours.free()
    with pytest.raises(st.FreedTensorError, match="already freed"):
        ours.view(3, 2)
