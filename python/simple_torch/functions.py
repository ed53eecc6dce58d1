"""The torch functions that need more than one aten call or torch's Python conventions:
factories with the ``dl`` config's defaults, ``tensor``, ``manual_seed``, and the few functions
that torch writes in Python (``einsum``, ``norm``, ``unique``). Every other public aten function
(``st.cat``, ``st.where``, ``st.sum``, ...) comes from the schemas (see ``_surface.py``).

Example:
    >>> import simple_torch as st
    >>> st.manual_seed(0)
    >>> x = st.randn(2, 3)
    >>> st.einsum("ij,kj->ik", x, x).shape
    st.Size([2, 2])
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, Callable, Sequence, TypeVar, cast

from . import ops
from ._native import lib
from ._tensor import TorchTensorWrapper, _device_code, _factory_call, _ones, _randn, _sizes, _zeros
from .config import dl, factory_options
from .devices import Device
from .dtypes import DType
from .generators import Generator

# What the factories take: sizes, a dtype (a DType, a name, a NumPy or torch dtype) and a device.
_Size = int | Sequence[int]
_DType = DType | str | None
_Device = Device | str | int | None


def _device(device, policy=None) -> Device:
    """The device to use: ``device``, else the config's default (with its fallback policy)."""
    return Device.from_code(_device_code(device, policy))


def _floating(dtype) -> DType:
    """``dtype``, else the config's default dtype when it is a floating one (else float32), as torch
    uses its default dtype for floating factories."""
    if dtype is not None:
        return DType.from_any(dtype)
    return dl.default_dtype if dl.default_dtype.is_floating_point else DType.float32


def _typed_factory(export, size: tuple, dtype, device, requires_grad: bool, policy) -> TorchTensorWrapper:
    """zeros, ones or randn through its typed ``export`` (see _factory_call). The common call
    (sizes only) does no work for its defaults, which config.factory_options resolves once per
    config change."""
    if dtype is None and device is None and policy is None:
        dtype, device = dl._factory_options or factory_options()
    else:
        dtype, device = _floating(dtype), _device_code(device, policy)
    made = _factory_call(export, size, dtype, device)
    return made.requires_grad_() if requires_grad else made


_Factory = TypeVar("_Factory", bound=Callable[..., TorchTensorWrapper])


def _factory(function: _Factory) -> _Factory:
    """Adds torch's ``requires_grad=`` to a factory (whose signature declares it, for readers and
    type checkers): the new tensor is a leaf that requires grad."""

    @functools.wraps(function)
    def factory(*args, requires_grad: bool = False, **kwargs):
        made = function(*args, **kwargs)
        return made.requires_grad_() if requires_grad else made

    return cast(_Factory, factory)


def zeros(*size: _Size, dtype: _DType = None, device: _Device = None, requires_grad: bool = False, policy: str | None = None) -> TorchTensorWrapper:
    """A tensor of zeros, as ``torch.zeros``: ``st.zeros(2, 3)`` or ``st.zeros((2, 3))``; the dtype
    and device default to the ``dl`` config's (float32 on the CPU unless configured).

    Example:
        >>> st.zeros(2, 3).shape
        st.Size([2, 3])
    """
    return _typed_factory(_zeros, size, dtype, device, requires_grad, policy)


def ones(*size: _Size, dtype: _DType = None, device: _Device = None, requires_grad: bool = False, policy: str | None = None) -> TorchTensorWrapper:
    """A tensor of ones, as ``torch.ones``.

    Example:
        >>> st.ones(2).tolist()
        [1.0, 1.0]
    """
    return _typed_factory(_ones, size, dtype, device, requires_grad, policy)


@_factory
def empty(*size: _Size, dtype: _DType = None, device: _Device = None, requires_grad: bool = False, policy: str | None = None) -> TorchTensorWrapper:
    """An uninitialised tensor, as ``torch.empty``.

    Example:
        >>> st.empty(2, 3).shape
        st.Size([2, 3])
    """
    return ops.aten.empty.memory_format(_sizes(size), dtype=_floating(dtype), device=_device(device, policy))


@_factory
def full(size: _Size, fill_value: complex, *, dtype: _DType = None, device: _Device = None, requires_grad: bool = False,
         policy: str | None = None) -> TorchTensorWrapper:
    """A tensor filled with ``fill_value``, as ``torch.full``: the dtype follows the value (bool,
    int64, the default float dtype, complex64) unless given.

    Example:
        >>> st.full((2,), 7).tolist()
        [7, 7]
    """
    if dtype is None:
        if isinstance(fill_value, bool):
            dtype = DType.bool
        elif isinstance(fill_value, numbers.Integral):
            dtype = DType.int64
        elif isinstance(fill_value, numbers.Real):
            dtype = _floating(None)
        else:
            dtype = DType.complex64
    return ops.aten.full.default(_sizes((size,)), fill_value, dtype=DType.from_any(dtype), device=_device(device, policy))


@_factory
def rand(*size: _Size, generator: Generator | None = None, dtype: _DType = None, device: _Device = None,
         requires_grad: bool = False, policy: str | None = None) -> TorchTensorWrapper:
    """Uniform samples in [0, 1), as ``torch.rand`` (the same numbers after the same
    ``manual_seed``).

    Example:
        >>> st.rand(3).shape
        st.Size([3])
    """
    return ops.aten.rand(_sizes(size), generator=generator, dtype=_floating(dtype), device=_device(device, policy))


def randn(*size: _Size, generator: Generator | None = None, dtype: _DType = None, device: _Device = None,
          requires_grad: bool = False, policy: str | None = None) -> TorchTensorWrapper:
    """Standard normal samples, as ``torch.randn`` (the same numbers after the same
    ``manual_seed``, or from a :class:`Generator` with the same seed).

    Example:
        >>> st.randn(2, 2).shape
        st.Size([2, 2])
    """
    if generator is not None:
        made = ops.aten.randn.generator(_sizes(size), generator=generator, dtype=_floating(dtype), device=_device(device, policy))
        return made.requires_grad_() if requires_grad else made
    return _typed_factory(_randn, size, dtype, device, requires_grad, policy)


@_factory
def randint(*args: int | Sequence[int], generator: Generator | None = None, dtype: _DType = None, device: _Device = None,
            requires_grad: bool = False, policy: str | None = None) -> TorchTensorWrapper:
    """Random integers in [low, high), as ``torch.randint(high, size)`` or
    ``torch.randint(low, high, size)``; int64 unless ``dtype`` says otherwise.

    Example:
        >>> st.randint(0, 10, (4,)).dtype
        <DType.int64: 4>
    """
    dtype = DType.int64 if dtype is None else DType.from_any(dtype)
    return ops.aten.randint(*args, generator=generator, dtype=dtype, device=_device(device, policy))


@_factory
def arange(start: float, end: float | None = None, step: float = 1, *, dtype: _DType = None, device: _Device = None,
           requires_grad: bool = False, policy: str | None = None) -> TorchTensorWrapper:
    """Values from ``start`` to ``end`` (exclusive) by ``step``, as ``torch.arange``: int64 for
    integer arguments, else the default float dtype.

    Example:
        >>> st.arange(4).tolist(), st.arange(0, 1, 0.5).tolist()
        ([0, 1, 2, 3], [0.0, 0.5])
    """
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = DType.int64 if all(isinstance(v, numbers.Integral) for v in (start, end, step)) else _floating(None)
    return ops.aten.arange.start_step(start, end, step, dtype=DType.from_any(dtype), device=_device(device, policy))


@_factory
def linspace(start: float, end: float, steps: int, *, dtype: _DType = None, device: _Device = None,
             requires_grad: bool = False, policy: str | None = None) -> TorchTensorWrapper:
    """``steps`` evenly spaced values from ``start`` to ``end``, as ``torch.linspace``.

    Example:
        >>> st.linspace(0, 1, 3).tolist()
        [0.0, 0.5, 1.0]
    """
    return ops.aten.linspace.default(start, end, steps, dtype=_floating(dtype), device=_device(device, policy))


@_factory
def eye(n: int, m: int | None = None, *, dtype: _DType = None, device: _Device = None, requires_grad: bool = False,
        policy: str | None = None) -> TorchTensorWrapper:
    """The ``n`` × ``m`` identity matrix (square without ``m``), as ``torch.eye``.

    Example:
        >>> st.eye(2).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    return ops.aten.eye.m(n, n if m is None else m, dtype=_floating(dtype), device=_device(device, policy))


@_factory
def tensor(data: Any, *, dtype: _DType = None, device: _Device = None, requires_grad: bool = False,
           policy: str | None = None) -> TorchTensorWrapper:
    """A new tensor holding a copy of ``data`` (nested numbers, a NumPy array or a tensor), as
    ``torch.tensor``: the dtype is inferred as torch infers it unless given.

    Example:
        >>> st.tensor([[1, 2], [3, 4]]).dtype, st.tensor([1.5]).tolist()
        (<DType.int64: 4>, [1.5])
    """
    if isinstance(data, TorchTensorWrapper):
        copy = data.clone() if dtype is None else data.to(DType.from_any(dtype)).clone()
        return copy if device is None else copy.to(device, policy=policy)
    if dtype is None and hasattr(data, "dtype") and hasattr(data, "__array__"):
        import numpy  # a NumPy array keeps its dtype, as in torch.tensor

        copy = TorchTensorWrapper.from_numpy(numpy.array(data, copy=True))
        code = _device_code(device, policy)
        return copy if code == -1 else copy.to(Device.from_code(code))
    return TorchTensorWrapper.from_list(data, dtype=dtype, device=device, policy=policy)


def manual_seed(seed: int) -> None:
    """Seeds libtorch's default random generators (CPU and every GPU), as ``torch.manual_seed``:
    the same seed gives the same numbers as torch's.

    Example:
        >>> st.manual_seed(0); a = st.rand(2); st.manual_seed(0); a.tolist() == st.rand(2).tolist()
        True
    """
    lib.rt_torch_manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)


def einsum(equation: str, *operands: TorchTensorWrapper | Sequence[TorchTensorWrapper]) -> TorchTensorWrapper:
    """Einstein summation, as ``torch.einsum``: the operands as separate arguments or one list.

    Example:
        >>> st.einsum("ii->", st.eye(3)).item()
        3.0
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return ops.aten.einsum.default(equation, list(operands))


def norm(input: TorchTensorWrapper, p: float | str | None = "fro", dim: int | Sequence[int] | None = None,  # noqa: A002
         keepdim: bool = False, dtype: _DType = None) -> TorchTensorWrapper:
    """The norm of ``input``, as ``torch.norm``: a vector norm of order ``p`` (a number; "fro" is
    2) over ``dim`` (all elements without it), or the nuclear matrix norm for ``p="nuc"``.

    Example:
        >>> st.norm(st.tensor([3.0, 4.0])).item()
        5.0
    """
    if isinstance(dim, int):
        dim = [dim]
    if p == "nuc":
        return ops.aten.linalg_matrix_norm.str_ord(input, "nuc", dim or [-2, -1], keepdim, dtype=dtype)
    order = 2 if p == "fro" or p is None else p
    return ops.aten.linalg_vector_norm.default(input, order, dim, keepdim, dtype=dtype)


def unique(input: TorchTensorWrapper, sorted: bool = True, return_inverse: bool = False,  # noqa: A002 - torch's names
           return_counts: bool = False, dim: int | None = None) -> TorchTensorWrapper | tuple[TorchTensorWrapper, ...]:
    """The distinct values of ``input`` (or distinct slices along ``dim``), as ``torch.unique``:
    a tensor, or a tuple with the inverse indices and/or the counts when asked for.

    Example:
        >>> st.unique(st.tensor([3, 1, 3])).tolist()
        [1, 3]
    """
    if dim is None:
        values, inverse, counts = ops.aten._unique2.default(input, sorted, return_inverse, return_counts)
    else:
        values, inverse, counts = ops.aten.unique_dim.default(input, dim, sorted, return_inverse, return_counts)
    extra = [t for t, wanted in ((inverse, return_inverse), (counts, return_counts)) if wanted]
    return (values, *extra) if extra else values
