"""Layer 3: ``TorchTensorWrapper``, a Python object that owns one tensor handle of the C ABI."""

from __future__ import annotations

import atexit
import ctypes
import numbers
import operator
import struct
from typing import TYPE_CHECKING, NamedTuple

from . import _dlpack, _protocols, _release, _surface, ops
from ._native import int64_array, lib
from .config import default_device_code, dl, resolve_device
from .devices import Device
from .dtypes import DType
from .errors import FreedTensorError
from .size import CallableInt, Flag, Size
from .streams import Stream


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# The hot paths call these prebound functions directly and test the result inline (see
# _owned): per-operation latency. Everything else goes through ``lib``, which checks each result.
_fast = lib.unchecked
_add = _fast.rt_torch_torchtensor_add
_sub = _fast.rt_torch_torchtensor_sub
_mul = _fast.rt_torch_torchtensor_mul
_div = _fast.rt_torch_torchtensor_div
_matmul = _fast.rt_torch_torchtensor_matmul
_relu = _fast.rt_torch_torchtensor_relu
_zeros = _fast.rt_torch_tensor_zeros_opts
_ones = _fast.rt_torch_tensor_ones_opts
_randn = _fast.rt_torch_tensor_randn_opts
_finalize = _fast.rt_torch_torchtensor_finalize
#: The typed exports of the operators that also take a Python number (see _binary).
_TYPED_BINARY = {"add": _add, "sub": _sub, "mul": _mul, "div": _div}
_new = object.__new__

# Packers for dims, by length (libtorch allows at most 64 dimensions).
_DIMS_PACKERS = [struct.Struct(f"={n}q") for n in range(65)]


def _dims_arg(dims):
    """``dims`` (an int or a sequence of ints) as the ABI's ``(int64_t*, ndim)`` pair: the sizes
    packed as native int64s (``struct`` also refuses non-integers and what does not fit)."""
    if type(dims) in (list, tuple) and len(dims) < len(_DIMS_PACKERS):  # the common case, fast
        try:
            return _DIMS_PACKERS[len(dims)].pack(*dims), len(dims)
        except struct.error:
            pass  # the checks below say what is wrong
    if isinstance(dims, numbers.Integral):
        dims = (dims,)
    try:
        dims = [operator.index(d) for d in dims]
    except TypeError:
        raise TypeError(f"dims must be an integer or a sequence of integers, got {dims!r}") from None
    if any(not _INT64_MIN <= d <= _INT64_MAX for d in dims):
        raise ValueError(f"dims {dims} do not fit in 64-bit integers")
    return struct.pack(f"={len(dims)}q", *dims), len(dims)


def _sizes(dims: tuple):
    """The sizes of a factory's ``*dims``: one sequence (``[2, 3]``) or separate ints (``2, 3``)."""
    # type() first: the common int skips the slower isinstance of an abstract class
    return dims[0] if len(dims) == 1 and type(dims[0]) is not int and not isinstance(dims[0], numbers.Integral) else dims


def _factory_call(export, sizes: tuple, dtype: int, device: int) -> TorchTensorWrapper:
    """A new tensor from the typed factory ``export`` (zeros, ones or randn) of a factory's
    ``*sizes``, with ABI codes for the dtype and device. The common calls (``st.zeros(2, 3)``,
    ``st.zeros([2, 3])``, ``st.zeros(x.shape)``) pack the sizes with one ``struct`` call and
    wrap the handle inline; anything else takes the checks of _sizes and _dims_arg, which say
    what is wrong."""
    dims = sizes[0] if len(sizes) == 1 and type(sizes[0]) in (list, tuple, Size) else sizes
    try:
        handle = export(_DIMS_PACKERS[len(dims)].pack(*dims), len(dims), dtype, device)
    except (struct.error, IndexError):  # sizes that are not ints, or more than 64 of them
        handle = export(*_dims_arg(_sizes(sizes)), dtype, device)
    if not handle:
        raise lib.last_exception()
    made = _new(TorchTensorWrapper)
    made._handle = handle
    return made


def _owned(handle, *operands) -> TorchTensorWrapper:
    """A wrapper owning ``handle``, just returned by a call into the library. After an
    unchecked call a NULL handle raises that call's error (FreedTensorError if one of
    ``operands`` was freed); a checked call has raised already."""
    if handle:
        tensor = _new(TorchTensorWrapper)
        tensor._handle = handle
        return tensor
    for operand in operands:
        operand._live()
    raise lib.last_exception()


def _binary_method(name: str, export, doc: str):
    """The method ``name`` ("add", "sub", "mul" or "div"): two tensors through the typed
    ``export``, with the result wrapped inline (the hot path); a number through
    ``TorchTensorWrapper._binary``; keywords (``alpha=``, ``rounding_mode=``, ``out=``) through
    the operator's own overloads."""

    def method(self, other, **options) -> TorchTensorWrapper:
        if not options and isinstance(other, TorchTensorWrapper):
            handle = export(self._handle, other._handle)
            if handle:
                result = _new(TorchTensorWrapper)
                result._handle = handle
                return result
            return _owned(handle, self, other)  # raises the call's error
        if options:
            return _surface.method(name)(self, other, **options)
        return self._binary(name, other)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = doc
    return method


def _dtype_code(dtype) -> int:
    return dl.default_dtype if dtype is None else DType.from_any(dtype)


def _device_code(device, policy) -> int:
    """The ABI code of the device to use (config.resolve_device), cheaply in the common cases."""
    if device is None and policy is None:
        return default_device_code()
    if policy is None and dl.fallback is None:
        return Device.parse(device).code  # "error": the library itself reports a missing GPU
    return resolve_device(device, policy).code


def _as_dtype(value) -> DType | None:
    """``value`` as a dtype, or None if it is not one (an integer is a device code, as in the ABI)."""
    if isinstance(value, DType):
        return value
    if isinstance(value, (int, Device)):
        return None
    try:
        return DType.from_any(value)
    except (TypeError, ValueError):
        return None


def _why_numpy_must_copy(array) -> str | None:
    """Why a NumPy array's memory cannot be shared with libtorch as it is, or None if it can."""
    if not array.flags.writeable:
        return "it is read-only, and a tensor can be written in place (copy_)"
    if not array.dtype.isnative:
        return "its byte order is not the machine's"
    if any(stride < 0 for stride in array.strides):
        return "it has negative strides, which libtorch does not allow"
    if any(stride % array.itemsize for stride in array.strides):
        return "its strides are not a whole number of elements"
    return None


def _capsule_of(producer):
    """A DLPack capsule from an object with ``__dlpack__``, asking for DLPack 1.x. A CUDA
    producer is asked to make its data ready on the current stream of its device, where our
    operations on the tensor will run (DLPack's 1 is CUDA's legacy default stream)."""
    stream = {}
    device = Device.from_dlpack(producer.__dlpack_device__())
    if device.kind == "cuda":
        stream["stream"] = Stream.current(device).cuda_stream or 1
    try:
        return producer.__dlpack__(max_version=_dlpack.MAX_VERSION, **stream)
    except TypeError:  # a producer older than DLPack 1.0 takes no max_version
        return producer.__dlpack__(**stream)


if TYPE_CHECKING:  # the methods made from schemas at run time, as generated stubs (_stubs.py)
    from ._generated import TensorMethods as _GeneratedMethods
else:
    _GeneratedMethods = object


class UntypedStorage(NamedTuple):
    """What ``Tensor.untyped_storage()`` tells: where the memory starts, how many bytes, where."""

    start: int
    size: int
    device: Device

    def data_ptr(self) -> int:
        return self.start

    def nbytes(self) -> int:
        return self.size


class TorchTensorWrapper(_GeneratedMethods):
    """A libtorch tensor held through a handle of the simple_torch C ABI.

    A wrapper that owns its handle frees it exactly once: on :meth:`free`, on leaving a
    ``with`` block, or when it is garbage-collected. Using a freed wrapper raises
    :class:`FreedTensorError`; it never passes a dangling handle down. Every operation
    returns a new wrapper and leaves its operands unchanged.

    Example:
        >>> with TorchTensorWrapper.tensor_ones([2, 3]) as x:
        ...     y = (x * 2 + 1).relu()
        ...     print(y.tolist())
        [[3.0, 3.0, 3.0], [3.0, 3.0, 3.0]]
    """

    __slots__ = ("_handle",)

    def __new__(cls, handle: int = 0, owns_handle: bool = True):
        wrapper = _new(_BorrowedTensor if not owns_handle and cls is TorchTensorWrapper else cls)
        wrapper._handle = None  # until __init__ has checked the handle
        return wrapper

    def __init__(self, handle: int, owns_handle: bool = True):
        """Wraps a ``TorchTensor*`` returned by the C ABI; ``owns_handle=False`` borrows it
        (the wrapper then never frees it).

        Example:
            >>> borrowed = TorchTensorWrapper(other.handle, owns_handle=False)
        """
        if not isinstance(handle, int) or handle == 0:
            raise ValueError(f"handle must be a non-NULL TorchTensor* from simple_torch, got {handle!r}")
        self._handle = handle

    def _live(self) -> int:
        handle = self._handle
        if handle is None:
            raise FreedTensorError("this tensor was already freed")
        return handle

    # -- creation ---------------------------------------------------------------------------

    @staticmethod
    def tensor_zeros(*dims, dtype=None, device=None, policy=None) -> TorchTensorWrapper:
        """A tensor of zeros of shape ``dims`` (a sequence, or the sizes as separate ints), of
        ``dtype`` on ``device`` (defaults: ``dl.default_dtype`` and ``dl.default_device``,
        float32 on the CPU unless configured). ``policy`` ("error" or "cpu") says what to do if
        the device is a GPU this machine lacks (see ``resolve_device``). ``dtype`` and ``device``
        are keyword-only: a bare integer is always a size.

        Example:
            >>> TorchTensorWrapper.tensor_zeros([2, 3], dtype="float64").shape()
            [2, 3]
        """
        return _factory_call(_zeros, dims, _dtype_code(dtype), _device_code(device, policy))

    @staticmethod
    def tensor_ones(*dims, dtype=None, device=None, policy=None) -> TorchTensorWrapper:
        """A tensor of ones; ``dtype``, ``device`` and ``policy`` as for :meth:`tensor_zeros`.

        Example:
            >>> TorchTensorWrapper.tensor_ones(3).tolist()
            [1.0, 1.0, 1.0]
        """
        return _factory_call(_ones, dims, _dtype_code(dtype), _device_code(device, policy))

    @staticmethod
    def tensor_randn(*dims, dtype=None, device=None, policy=None) -> TorchTensorWrapper:
        """Samples of the standard normal distribution (a floating ``dtype``); ``dtype``,
        ``device`` and ``policy`` as for :meth:`tensor_zeros`.

        Example:
            >>> TorchTensorWrapper.tensor_randn([64, 64], device="cpu").numel()
            4096
        """
        return _factory_call(_randn, dims, _dtype_code(dtype), _device_code(device, policy))

    @staticmethod
    def from_numpy(array, copy: bool | None = None) -> TorchTensorWrapper:
        """A CPU tensor over a NumPy array's memory, with its dtype, shape and strides, and no
        copy: a write through either side is seen by the other, and the array's memory lives
        as long as the tensor (or anything exported from it) uses it. ``copy=True`` copies, as
        does a read-only array (a tensor can be written in place) and an array whose memory
        libtorch cannot use as it is (non-native byte order, or negative or fractional
        strides); ``copy=False`` raises ValueError for those instead.

        Example:
            >>> a = numpy.arange(4.0)
            >>> t = TorchTensorWrapper.from_numpy(a)
            >>> a[0] = 9.0; t.tolist()
            [9.0, 1.0, 2.0, 3.0]
        """
        import numpy

        array = numpy.asarray(array)
        DType.from_any(array.dtype)  # an unsupported dtype fails here, with the accepted ones
        reason = None if copy else _why_numpy_must_copy(array)
        if reason and copy is False:
            raise ValueError(f"cannot share this array's memory without a copy: {reason}")
        if copy or reason:
            array = array.astype(array.dtype.newbyteorder("="), order="C", copy=True)
        return TorchTensorWrapper.from_dlpack(array)

    @staticmethod
    def from_dlpack(producer) -> TorchTensorWrapper:
        """A tensor over the memory of any DLPack producer, without copying: a NumPy array, a
        torch tensor, a CuPy or JAX array, or a DLPack capsule. The producer's memory lives as
        long as any tensor that uses it (views included); its deleter runs once, when the last
        one goes. A CUDA producer is asked to make its data ready on the current stream.
        A producer that marks its memory read-only (DLPack 1.0's flag) is copied, since a
        tensor can be written in place.

        Example:
            >>> t = TorchTensorWrapper.from_dlpack(numpy.arange(3))
            >>> t.dtype, t.tolist()
            (<DType.int64: 4>, [0, 1, 2])
        """
        capsule = _capsule_of(producer) if hasattr(producer, "__dlpack__") else producer
        managed, versioned = _dlpack.from_capsule(capsule)
        read_only = versioned and _dlpack.is_read_only(managed)
        tensor = _owned(lib.rt_torch_tensor_from_dlpack(managed, versioned))
        _dlpack.mark_consumed(capsule, versioned)  # the tensor owns it now, not the capsule
        if read_only:
            with tensor:
                return tensor.clone()
        return tensor

    @staticmethod
    def from_torch(tensor) -> TorchTensorWrapper:
        """A tensor sharing a ``torch.Tensor``'s memory on any device, without copying. Autograd
        history is dropped (as by ``detach()``); a tensor with torch's lazy conjugate or negative
        bit set is materialized first, which copies it.

        Example:
            >>> TorchTensorWrapper.from_torch(torch.ones(2, dtype=torch.bfloat16)).dtype
            <DType.bfloat16: 15>
        """
        import torch

        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"from_torch needs a torch.Tensor, got {type(tensor).__name__}")
        return TorchTensorWrapper.from_dlpack(tensor.detach().resolve_conj().resolve_neg())

    @staticmethod
    def from_list(values, dtype=None, device=None, policy=None) -> TorchTensorWrapper:
        """A tensor holding a copy of (nested) Python numbers, on ``device`` (``device`` and
        ``policy`` as for :meth:`tensor_zeros`). Without ``dtype`` the type is inferred as
        ``torch.tensor`` does: floats get ``dl.default_dtype`` if that is a floating type (else
        float32), ints int64, bools bool, complex numbers complex64.

        Example:
            >>> TorchTensorWrapper.from_list([[1.0, 2.0], [3.0, 4.0]]).dtype
            <DType.float32: 6>
        """
        import numpy

        target = None if dtype is None else DType.from_any(dtype)
        array = numpy.asarray(values)
        if target is None:
            floating = dl.default_dtype if dl.default_dtype.is_floating_point else DType.float32
            inferred = {"f": floating, "c": DType.complex64, "i": DType.int64, "u": DType.int64, "b": DType.bool}
            if array.dtype.kind not in inferred:
                raise TypeError(f"from_list needs numbers or booleans, got an array of {array.dtype}")
            target = inferred[array.dtype.kind]
        # NumPy has no bfloat16 (float8, complex32): such values pass through float32 (complex64),
        # then libtorch converts them.
        array = numpy.array(array, dtype=target.numpy_stand_in.to_numpy())  # a copy
        tensor = TorchTensorWrapper.from_numpy(array)
        if target.numpy_stand_in is not target:
            with tensor:
                tensor = tensor.to(target)
        code = _device_code(device, policy)
        if code == -1:
            return tensor
        with tensor:
            return tensor._moved(code, False)

    # -- operations -------------------------------------------------------------------------

    def _binary(self, name: str, other, reflected: bool = False) -> TorchTensorWrapper:
        """``name`` ("add", "sub", "mul" or "div") of this tensor and ``other``, a tensor (through
        the typed export) or a Python number."""
        if isinstance(other, TorchTensorWrapper):
            a, b = (other._live(), self._live()) if reflected else (self._live(), other._live())
            return _owned(_TYPED_BINARY[name](a, b), self, other)
        if not isinstance(other, numbers.Number):
            raise TypeError(f"unsupported operand: {type(other).__name__} (use a tensor or a number)")
        # A number goes through the generic entry, which makes it a wrapped number as torch does,
        # so that it does not decide the result's dtype (int32 tensor * 3 stays int32).
        overload = getattr(ops.aten, name).Tensor
        return overload(other, self) if reflected else overload(self, other)

    add = _binary_method("add", _add, """Element-wise sum with a tensor or a number, broadcasting (also ``self + other``).

        Example:
            >>> TorchTensorWrapper.tensor_ones([2]).add(1).tolist()
            [2.0, 2.0]
        """)
    sub = _binary_method("sub", _sub, """Element-wise difference, broadcasting (also ``self - other``).

        Example:
            >>> (TorchTensorWrapper.tensor_ones([2]) - 3).tolist()
            [-2.0, -2.0]
        """)
    mul = _binary_method("mul", _mul, """Element-wise product, broadcasting (also ``self * other``).

        Example:
            >>> (TorchTensorWrapper.tensor_ones([2]) * 4).tolist()
            [4.0, 4.0]
        """)
    div = _binary_method("div", _div, """Element-wise true division, broadcasting (also ``self / other``).

        Example:
            >>> (TorchTensorWrapper.tensor_ones([2]) / 4).tolist()
            [0.25, 0.25]
        """)

    def matmul(self, other: TorchTensorWrapper) -> TorchTensorWrapper:
        """Matrix product with ``torch.matmul``'s rules (also ``self @ other``).

        Example:
            >>> TorchTensorWrapper.tensor_ones([2, 3]).matmul(TorchTensorWrapper.tensor_ones([3, 4])).shape()
            [2, 4]
        """
        if not isinstance(other, TorchTensorWrapper):
            raise TypeError(f"matmul needs a TorchTensorWrapper, got {type(other).__name__}")
        handle = _matmul(self._handle, other._handle)
        if handle:  # _owned, inline: a Python call less on the hottest paths
            result = _new(TorchTensorWrapper)
            result._handle = handle
            return result
        return _owned(handle, self, other)

    def relu(self) -> TorchTensorWrapper:
        """``max(x, 0)`` element-wise.

        Example:
            >>> TorchTensorWrapper.from_list([-1.0, 2.0]).relu().tolist()
            [0.0, 2.0]
        """
        handle = _relu(self._handle)
        if handle:
            result = _new(TorchTensorWrapper)
            result._handle = handle
            return result
        return _owned(handle, self)

    # -- properties -------------------------------------------------------------------------

    @property
    def handle(self) -> int:
        """The ``TorchTensor*`` this wrapper holds, as an integer, for other C ABI callers.

        Example:
            >>> borrowed = TorchTensorWrapper(x.handle, owns_handle=False)
        """
        return self._live()

    @property
    def dtype(self) -> DType:
        """The element type.

        Example:
            >>> TorchTensorWrapper.tensor_zeros([1]).dtype
            <DType.float32: 6>
        """
        return DType(lib.rt_torch_torchtensor_dtype(self._live()))

    @property
    def ndim(self) -> CallableInt:
        """The number of dimensions (also callable, as the seed API's ``ndim()``).

        Example:
            >>> st.zeros(2, 3).ndim
            2
        """
        return CallableInt(lib.rt_torch_torchtensor_ndim(self._live()))

    def dim(self) -> int:
        """The number of dimensions, as torch's ``dim()``.

        Example:
            >>> st.zeros(2, 3).dim()
            2
        """
        return lib.rt_torch_torchtensor_ndim(self._live())

    def numel(self) -> int:
        """The number of elements.

        Example:
            >>> TorchTensorWrapper.tensor_zeros([2, 3]).numel()
            6
        """
        return lib.rt_torch_torchtensor_numel(self._live())

    def element_size(self) -> int:
        """The size of one element in bytes, as torch's ``element_size()``.

        Example:
            >>> st.zeros(2, dtype=st.float64).element_size()
            8
        """
        return self.dtype.itemsize

    @property
    def shape(self) -> Size:
        """The size of each dimension, a tuple as ``torch.Size`` (calling it, as the seed API's
        ``shape()``, gives a list).

        Example:
            >>> st.zeros(2, 3).shape
            st.Size([2, 3])
        """
        return Size(self._per_dim(lib.rt_torch_torchtensor_shape))

    def size(self, dim: int | None = None):
        """The shape as a :class:`Size`, or the size of dimension ``dim``, as torch's ``size()``.

        Example:
            >>> st.zeros(2, 3).size(), st.zeros(2, 3).size(-1)
            (st.Size([2, 3]), 3)
        """
        shape = self._per_dim(lib.rt_torch_torchtensor_shape)
        if dim is None:
            return Size(shape)
        return shape[_dim_index(dim, len(shape))]

    def stride(self, dim: int | None = None):
        """The strides as a tuple, or the stride of dimension ``dim``, as torch's ``stride()``.

        Example:
            >>> st.zeros(2, 3).stride()
            (3, 1)
        """
        strides = self._per_dim(lib.rt_torch_torchtensor_strides)
        return tuple(strides) if dim is None else strides[_dim_index(dim, len(strides))]

    def strides(self) -> list[int]:
        """The step between neighbours in each dimension, in elements.

        Example:
            >>> TorchTensorWrapper.tensor_zeros([2, 3]).strides()
            [3, 1]
        """
        return self._per_dim(lib.rt_torch_torchtensor_strides)

    def _per_dim(self, function) -> list[int]:
        values = int64_array([0] * 64)  # libtorch allows at most 64 dimensions
        ndim = function(self._live(), values, 64)
        return list(values[:ndim])

    @property
    def data_ptr(self) -> CallableInt:
        """The address of the first element, on the tensor's device (0 for an empty tensor):
        equal addresses show that two tensors share memory. Also callable, as torch's
        ``data_ptr()``.

        Example:
            >>> a = numpy.ones(3); st.from_numpy(a).data_ptr() == a.ctypes.data
            True
        """
        return CallableInt(lib.rt_torch_torchtensor_data_ptr(self._live()) or 0)

    def untyped_storage(self) -> UntypedStorage:
        """The memory this tensor views, as torch's ``untyped_storage()``: its start
        (``data_ptr()``) and size in bytes (``nbytes()``), the same for every view of it.

        Example:
            >>> x = st.zeros(10); x[2:5].untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
            True
        """
        data, nbytes = ctypes.c_uint64(), ctypes.c_int64()
        lib.rt_torch_torchtensor_storage(self._live(), ctypes.byref(data), ctypes.byref(nbytes))
        return UntypedStorage(data.value, nbytes.value, self.device)

    def numpy(self, copy: bool | None = None):
        """The elements as a NumPy array. A CPU tensor's array shares its memory, unless
        ``copy=True``: a write through either side is seen by the other, and the memory lives
        as long as either uses it. A GPU tensor is copied to the CPU (``copy=False`` raises
        ValueError). NumPy has no bfloat16: that raises TypeError. As torch, a tensor that
        requires grad refuses: use ``x.detach().numpy()``.

        Example:
            >>> TorchTensorWrapper.tensor_ones([2]).numpy()
            array([1., 1.], dtype=float32)
        """
        import numpy

        self.dtype.to_numpy()  # bfloat16 fails here, with what to do
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if self.is_cuda:
            if copy is False:
                raise ValueError(f"a tensor on {self.device} cannot be a NumPy array without a copy to the CPU")
            source = self.cpu()
        else:
            source = self.clone() if copy else self
        return numpy.from_dlpack(source)

    def to_torch(self):
        """A ``torch.Tensor`` sharing this tensor's memory, on the same device (imports torch).

        Example:
            >>> t = TorchTensorWrapper.tensor_ones([2]); t.to_torch().data_ptr() == t.data_ptr
            True
        """
        import torch

        return torch.from_dlpack(self)

    def tolist(self):
        """The elements as (nested) Python numbers; a number for a 0-d tensor.

        Example:
            >>> TorchTensorWrapper.tensor_ones([2, 1]).tolist()
            [[1.0], [1.0]]
        """
        dtype = self.dtype
        source = self.detach() if self.requires_grad else self
        source = source if dtype.numpy_stand_in is dtype else source.to(dtype.numpy_stand_in)  # NumPy lacks bfloat16
        return source.numpy().tolist()

    # -- devices ----------------------------------------------------------------------------

    def cuda(self, device_id=0, non_blocking: bool = False, policy=None) -> TorchTensorWrapper:
        """This tensor on a GPU: ``device_id`` is an index or any device value naming a GPU.
        Raises if this machine lacks it, unless ``policy="cpu"`` (then: on the CPU, with a
        warning once). ``non_blocking=True`` queues the copy on the current stream without
        waiting (truly asynchronous from pinned memory: see :meth:`pin_memory`).

        Example:
            >>> x = TorchTensorWrapper.tensor_randn([4]).cuda(0, policy="cpu")
        """
        target = Device.cuda(device_id) if isinstance(device_id, int) else Device.parse(device_id)
        if target.kind != "cuda":
            raise ValueError(f"cuda() needs a GPU index or a CUDA device, got {device_id!r}: use cpu() or to()")
        code = _device_code(target, policy)
        if code >= 0 and not non_blocking:  # the seed design's own export
            return _owned(lib.rt_torch_torchtensor_cuda(self._live(), code))
        return self._moved(code, non_blocking)

    def cpu(self) -> TorchTensorWrapper:
        """This tensor on the CPU.

        Example:
            >>> TorchTensorWrapper.tensor_ones([1]).cpu().is_cuda()
            False
        """
        return _owned(lib.rt_torch_torchtensor_cpu(self._live()))

    def to(self, target, non_blocking: bool = False, policy=None) -> TorchTensorWrapper:
        """This tensor on a device (any device value: a Device, "cpu", "cuda:N", an integer
        code), or converted to a dtype (a DType, a name such as "float16", a NumPy or torch
        dtype). Like torch, it shares this tensor's memory when nothing changes.
        ``non_blocking`` and ``policy`` as for :meth:`cuda`.

        Example:
            >>> TorchTensorWrapper.tensor_ones([1]).to("cpu").device()
            Device(kind='cpu', index=None)
            >>> TorchTensorWrapper.tensor_ones([1]).to("bfloat16").dtype
            <DType.bfloat16: 15>
        """
        dtype = _as_dtype(target)
        if dtype is not None and not dtype.typed:
            return ops.aten.to.dtype(self, dtype)
        if dtype is not None:
            return _owned(lib.rt_torch_torchtensor_to_dtype(self._live(), dtype))
        try:
            device = Device.parse(target)
        except ValueError:
            raise ValueError(
                f"to() needs a device ('cpu', 'cuda', 'cuda:N', a Device or an integer code) or a dtype "
                f"(a DType, a name such as 'float32', a NumPy or torch dtype), got {target!r}"
            ) from None
        return self._moved(_device_code(device, policy), non_blocking)

    def _moved(self, code: int, non_blocking) -> TorchTensorWrapper:
        return _owned(lib.rt_torch_torchtensor_to_device(self._live(), code, bool(non_blocking)))

    def to_stream(self, device, stream) -> TorchTensorWrapper:
        """This tensor copied to ``device``, queued on ``stream`` (on the GPU involved) without
        waiting: the original design's ``to_stream``, the same as ``with stream:
        x.to(device, non_blocking=True)``. Synchronize the stream before using the copy elsewhere.

        Example:
            >>> copies = Stream("cuda:0")
            >>> y = x.pin_memory().to_stream("cuda:0", copies); copies.synchronize()
        """
        return _owned(
            lib.rt_torch_torchtensor_to_stream(self._live(), Device.parse(device).code, stream._handle)
        )

    def pin_memory(self) -> TorchTensorWrapper:
        """A copy of this CPU tensor in pinned (page-locked) memory, from which copies to a GPU
        with ``non_blocking=True`` run asynchronously. Needs CUDA.

        Example:
            >>> batch = TorchTensorWrapper.tensor_randn([256, 1024]).pin_memory()
            >>> on_gpu = batch.cuda(0, non_blocking=True)
        """
        return _owned(lib.rt_torch_torchtensor_pin_memory(self._live()))

    def is_pinned(self) -> bool:
        """True if this tensor is in pinned CPU memory (never without CUDA).

        Example:
            >>> TorchTensorWrapper.tensor_ones([1]).is_pinned()
            False
        """
        return lib.rt_torch_torchtensor_is_pinned(self._live())

    def copy_(self, source, non_blocking: bool = False) -> TorchTensorWrapper:
        """Writes ``source``'s values into this tensor in place and returns it, as torch's
        ``copy_``: from any device and dtype, broadcasting ``source`` to this shape (a tensor,
        or anything :meth:`from_list` accepts). Views and exports sharing this tensor's memory
        see the new values. ``non_blocking`` lets a copy between pinned memory and a GPU overlap.

        Example:
            >>> x = TorchTensorWrapper.tensor_zeros([2, 2])
            >>> x.copy_(TorchTensorWrapper.tensor_ones([2])).tolist()
            [[1.0, 1.0], [1.0, 1.0]]
        """
        if isinstance(source, TorchTensorWrapper):
            lib.rt_torch_torchtensor_copy_from(self._live(), source._live(), bool(non_blocking))
        else:
            with TorchTensorWrapper.from_list(source, dtype=self.dtype) as values:
                lib.rt_torch_torchtensor_copy_from(self._live(), values._handle, bool(non_blocking))
        return self

    def half(self) -> TorchTensorWrapper:
        """This tensor as float16 (shared when it already is).

        Example:
            >>> TorchTensorWrapper.tensor_ones([2]).half().dtype
            <DType.float16: 5>
        """
        return self.to(DType.float16)

    def bfloat16(self) -> TorchTensorWrapper:
        """This tensor as bfloat16.

        Example:
            >>> TorchTensorWrapper.tensor_ones([2]).bfloat16().dtype
            <DType.bfloat16: 15>
        """
        return self.to(DType.bfloat16)

    def float(self) -> TorchTensorWrapper:
        """This tensor as float32.

        Example:
            >>> TorchTensorWrapper.tensor_ones([2], dtype="f16").float().dtype
            <DType.float32: 6>
        """
        return self.to(DType.float32)

    def double(self) -> TorchTensorWrapper:
        """This tensor as float64.

        Example:
            >>> TorchTensorWrapper.tensor_ones([2]).double().dtype
            <DType.float64: 7>
        """
        return self.to(DType.float64)

    @property
    def is_cuda(self) -> Flag:
        """True if the tensor is on a CUDA GPU (also callable, as the seed API's ``is_cuda()``).

        Example:
            >>> st.ones(1).is_cuda
            False
        """
        return Flag(lib.rt_torch_torchtensor_is_cuda(self._live()))

    @property
    def device(self) -> Device:
        """Where the tensor lives (a Device, which returns itself when called, as the seed API's
        ``device()``).

        Example:
            >>> st.ones(1).device
            Device(kind='cpu', index=None)
        """
        return Device.from_code(lib.rt_torch_torchtensor_device(self._live()))

    # -- ownership --------------------------------------------------------------------------

    def free(self) -> None:
        """Releases the handle now (a borrowed one is only forgotten). A second call raises.

        Example:
            >>> t = TorchTensorWrapper.tensor_zeros([2]); t.free()
        """
        handle = self._handle
        if handle is None:
            raise FreedTensorError("free(): this tensor was already freed")
        self._handle = None
        lib.rt_torch_torchtensor_free(handle)

    @property
    def is_freed(self) -> bool:
        """True once :meth:`free` ran (or the ``with`` block ended).

        Example:
            >>> with TorchTensorWrapper.tensor_zeros([1]) as t: pass
            >>> t.is_freed
            True
        """
        return self._handle is None

    def __del__(self, _deferrable=_release.DEFERRABLE, _pending=_release.pending, _queue=_release.pending.append,
                _batch=_release.BATCH, _drain=_release.drain):
        # Not _free: a collection can run between another call and the read of its error
        # message, and must not clear it. A small CPU tensor's handle joins the queue of
        # _release.py, released with others in one call; any other is released at once. (The
        # defaults bind what the hot path uses, as fast locals.)
        handle = self._handle
        if handle is not None:
            try:
                if handle & _deferrable:
                    _queue(handle)
                    if len(_pending) >= _batch:
                        _drain(wait=False)
                else:
                    _finalize(handle)
            except Exception:  # nothing can be raised from here, not even at interpreter exit
                pass

    def __enter__(self) -> TorchTensorWrapper:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._handle is not None:
            self.free()

    # -- copying: each copy owns a handle of its own ------------------------------------------

    def __copy__(self) -> TorchTensorWrapper:
        """``copy.copy(x)``: a second tensor object over the same memory, as torch's."""
        copied = _new(type(self))
        copied._handle = lib.rt_torch_torchtensor_share(self._live())
        return copied

    def __deepcopy__(self, memo: dict) -> TorchTensorWrapper:
        """``copy.deepcopy(x)``: a copy of the values, a leaf requiring grad if ``x`` does; as
        torch, only leaves can be deep-copied."""
        if id(self) in memo:
            return memo[id(self)]
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the moment.  If you were attempting to deepcopy a module, this may be because of a torch.nn.utils.weight_norm usage, see https://github.com/pytorch/pytorch/pull/103001")
        copied = self.detach().clone()
        if self.requires_grad:
            copied.requires_grad_()
        memo[id(self)] = copied
        return copied

    def __reduce_ex__(self, protocol):
        raise TypeError("simple_torch tensors cannot be pickled: save them with st.save (PyTorch's file format)")

    # -- DLPack and NumPy protocols ----------------------------------------------------------

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """Exports the tensor through DLPack (the Python array API standard): a capsule that
        shares its memory, which stays alive while the consumer uses it, even after this
        wrapper is freed. ``copy=True``, or a ``dl_device`` other than the tensor's, exports a
        copy (``copy=False`` then raises BufferError). For a CUDA tensor and a consumer's
        ``stream`` other than None and -1, the device is synchronized first.

        Example:
            >>> numpy.from_dlpack(TorchTensorWrapper.tensor_ones([2]))
            array([1., 1.], dtype=float32)
        """
        if stream is not None and type(stream) is not int:
            raise TypeError(f"stream must be an int or None, got {type(stream).__name__}")
        source, copied = self, False
        target = None if dl_device is None else Device.from_dlpack(dl_device)
        if target is not None and target != self.device:
            if copy is False:
                raise BufferError(f"cannot export a tensor on {self.device} to {target} without a copy")
            source, copied = self.to(target), True
        elif copy:
            source, copied = self.clone(), True
        if stream not in (None, -1) and source.is_cuda():
            lib.rt_torch_device_synchronize(source.device().code)
        versioned = max_version is not None and max_version[0] >= 1
        managed = lib.rt_torch_torchtensor_to_dlpack(source._live(), versioned)
        return _dlpack.to_capsule(managed, versioned, copied)

    def __dlpack_device__(self) -> tuple[int, int]:
        """The DLPack ``(device type, index)``: ``(1, 0)`` for the CPU, ``(2, N)`` for cuda:N.

        Example:
            >>> TorchTensorWrapper.tensor_ones([1]).__dlpack_device__()
            (1, 0)
        """
        return self.device.dlpack

    def __array__(self, dtype=None, copy=None):
        """``numpy.asarray(t)``: the memory shared as in :meth:`numpy`, or converted to ``dtype``.

        Example:
            >>> numpy.asarray(TorchTensorWrapper.tensor_ones([2]), dtype=numpy.float64)
            array([1., 1.])
        """
        array = self.numpy(copy=copy)
        if dtype is None or array.dtype == dtype:
            return array
        if copy is False:
            raise ValueError(f"converting {array.dtype} to {dtype} needs a copy")
        return array.astype(dtype)

    # -- Python protocols -------------------------------------------------------------------

    __add__ = add
    __sub__ = sub
    __mul__ = mul
    __truediv__ = div

    def __matmul__(self, other: TorchTensorWrapper) -> TorchTensorWrapper:
        if isinstance(other, TorchTensorWrapper):
            return _owned(_matmul(self._live(), other._live()), self, other)
        return NotImplemented

    def __radd__(self, other) -> TorchTensorWrapper:
        return self._binary("add", other, reflected=True)

    def __rsub__(self, other) -> TorchTensorWrapper:
        return self._binary("sub", other, reflected=True)

    def __rmul__(self, other) -> TorchTensorWrapper:
        return self._binary("mul", other, reflected=True)

    def __rtruediv__(self, other) -> TorchTensorWrapper:
        return self._binary("div", other, reflected=True)

    # Python's other protocols (operators, indexing, conversions, printing, T/mT/H/mH) are set
    # on the class by _protocols.install, below: they are written in terms of aten operators.

    #: NumPy defers to the tensor's reflected operators (``numpy.float32(2) * t`` is a tensor).
    __array_ufunc__ = None
    #: Defining ``__eq__`` drops the default hash: tensors hash by identity, as torch's do.
    __hash__ = object.__hash__

    def __getattr__(self, name: str):
        # Only for names the class lacks: every method variant of an aten operator, made on
        # first use and then kept on the class, so that later look-ups are ordinary ones.
        if name.startswith("__") or name not in _surface.variants()[0]:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        function = _surface.method(name)
        setattr(TorchTensorWrapper, name, function)
        return function.__get__(self, type(self))

    def __dir__(self):
        return sorted(set(super().__dir__()) | _surface.variants()[0])


def _dim_index(dim, ndim: int) -> int:
    """``dim`` (negative counts from the end) as an index into a list of ``ndim`` sizes."""
    dim = operator.index(dim)
    if not -ndim <= dim < max(ndim, 1):
        raise IndexError(f"dimension {dim} is out of range for a tensor of {ndim} dimensions")
    return dim % max(ndim, 1)


def scalar_tensor(value) -> TorchTensorWrapper:
    """A 0-d CPU tensor holding a Python number where an operator wants a tensor (in a list of
    tensors), typed as torch types such a number: bool, int64, float32, complex64."""
    if isinstance(value, bool):
        dtype, layout = DType.bool, "=?"
    elif isinstance(value, numbers.Integral):
        dtype, layout = DType.int64, "=q"
    elif isinstance(value, numbers.Real):
        dtype, layout = DType.float32, "=f"
    elif isinstance(value, numbers.Complex):
        dtype, layout = DType.complex64, "=ff"
    else:
        raise TypeError(f"unsupported operand: {type(value).__name__} (use a tensor or a number)")
    try:
        data = struct.pack(layout, *((value.real, value.imag) if dtype.is_complex else (value,)))
    except struct.error:
        raise OverflowError(f"{value!r} does not fit in {dtype}") from None
    return _owned(lib.rt_torch_tensor_from_data(data, None, 0, dtype))


class _BorrowedTensor(TorchTensorWrapper):
    """A wrapper over a handle it does not own (``owns_handle=False``): it never frees it;
    ``free()`` only forgets it."""

    __slots__ = ()

    def free(self) -> None:
        if self._handle is None:
            raise FreedTensorError("free(): this tensor was already freed")
        self._handle = None

    def __del__(self):
        pass


#: A shorter name for the wrapper.
Tensor = TorchTensorWrapper

def _release_at_once(self) -> None:
    """``__del__`` once the interpreter exits: nothing drains the queue any more."""
    handle = self._handle
    if handle is not None:
        try:
            _finalize(handle)
        except Exception:
            pass


@atexit.register
def _drain_at_exit() -> None:
    _release.drain()
    TorchTensorWrapper.__del__ = _release_at_once


_protocols.install(TorchTensorWrapper)
ops.Tensor, ops._owned, ops.scalar_tensor = TorchTensorWrapper, _owned, scalar_tensor
