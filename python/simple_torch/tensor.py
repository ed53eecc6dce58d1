"""Layer 3: ``TorchTensorWrapper``, a Python object that owns one tensor handle of the C ABI."""

from __future__ import annotations

import numbers
import operator

from ._native import int64_array, lib
from .devices import Device
from .dtypes import DType
from .errors import FreedTensorError

#: ``repr`` shows the values of tensors with at most this many elements.
REPR_MAX_VALUES = 64

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _dims_arg(dims):
    """``dims`` (an int or a sequence of ints) as the ABI's ``(int64_t*, ndim)`` pair."""
    if isinstance(dims, numbers.Integral):
        dims = (dims,)
    try:
        dims = [operator.index(d) for d in dims]
    except TypeError:
        raise TypeError(f"dims must be an integer or a sequence of integers, got {dims!r}") from None
    if any(not _INT64_MIN <= d <= _INT64_MAX for d in dims):
        raise ValueError(f"dims {dims} do not fit in 64-bit integers")
    return int64_array(dims), len(dims)


def _dtype_code(dtype) -> int:
    return DType.float32 if dtype is None else DType.from_any(dtype)


def _device_code(device) -> int:
    return -1 if device is None else Device.parse(device).code


def _numpy_dtype(dtype: DType):
    import numpy

    if dtype is DType.bfloat16:
        raise TypeError("NumPy has no bfloat16 type: convert the tensor to float32 first")
    return numpy.dtype(dtype.name)


class TorchTensorWrapper:
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

    __slots__ = ("_handle", "_owns_handle")

    def __init__(self, handle: int, owns_handle: bool = True):
        """Wraps a ``TorchTensor*`` returned by the C ABI; ``owns_handle=False`` borrows it
        (the wrapper then never frees it).

        Example:
            >>> borrowed = TorchTensorWrapper(other.handle, owns_handle=False)
        """
        if not isinstance(handle, int) or handle == 0:
            raise ValueError(f"handle must be a non-NULL TorchTensor* from simple_torch, got {handle!r}")
        self._handle = handle
        self._owns_handle = bool(owns_handle)

    @classmethod
    def _owning(cls, handle: int) -> TorchTensorWrapper:
        wrapper = cls.__new__(cls)
        wrapper._handle = handle
        wrapper._owns_handle = True
        return wrapper

    def _live(self) -> int:
        handle = self._handle
        if handle is None:
            raise FreedTensorError("this tensor was already freed")
        return handle

    # -- creation ---------------------------------------------------------------------------

    @staticmethod
    def tensor_zeros(dims, dtype=None, device=None) -> TorchTensorWrapper:
        """A tensor of zeros; float32 on the CPU unless ``dtype``/``device`` say otherwise.

        Example:
            >>> TorchTensorWrapper.tensor_zeros([2, 3], dtype="float64").shape()
            [2, 3]
        """
        return TorchTensorWrapper._owning(
            lib.rt_torch_tensor_zeros_opts(*_dims_arg(dims), _dtype_code(dtype), _device_code(device))
        )

    @staticmethod
    def tensor_ones(dims, dtype=None, device=None) -> TorchTensorWrapper:
        """A tensor of ones; float32 on the CPU unless ``dtype``/``device`` say otherwise.

        Example:
            >>> TorchTensorWrapper.tensor_ones(3).tolist()
            [1.0, 1.0, 1.0]
        """
        return TorchTensorWrapper._owning(
            lib.rt_torch_tensor_ones_opts(*_dims_arg(dims), _dtype_code(dtype), _device_code(device))
        )

    @staticmethod
    def tensor_randn(dims, dtype=None, device=None) -> TorchTensorWrapper:
        """Samples of the standard normal distribution (a floating ``dtype``, float32 by default).

        Example:
            >>> TorchTensorWrapper.tensor_randn([64, 64], device="cpu").numel()
            4096
        """
        return TorchTensorWrapper._owning(
            lib.rt_torch_tensor_randn_opts(*_dims_arg(dims), _dtype_code(dtype), _device_code(device))
        )

    @staticmethod
    def from_numpy(array) -> TorchTensorWrapper:
        """A CPU tensor holding a copy of a NumPy array, with the same dtype and shape.

        Example:
            >>> TorchTensorWrapper.from_numpy(numpy.arange(6).reshape(2, 3)).dtype
            <DType.int64: 4>
        """
        import numpy

        array = numpy.asarray(array)
        dtype = DType.from_any(array.dtype)
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        if not array.flags.c_contiguous:
            array = array.copy(order="C")  # not ascontiguousarray: it turns 0-d into 1-d
        return TorchTensorWrapper._owning(lib.rt_torch_tensor_from_data(array.ctypes.data, *_dims_arg(array.shape), dtype))

    @staticmethod
    def from_list(values, dtype=None) -> TorchTensorWrapper:
        """A CPU tensor holding a copy of (nested) Python numbers. Without ``dtype`` the type is
        inferred as ``torch.tensor`` does: float32 for floats, int64 for ints, bool, complex64.

        Example:
            >>> TorchTensorWrapper.from_list([[1.0, 2.0], [3.0, 4.0]]).dtype
            <DType.float32: 6>
        """
        import numpy

        if dtype is not None:
            return TorchTensorWrapper.from_numpy(numpy.asarray(values, dtype=_numpy_dtype(DType.from_any(dtype))))
        array = numpy.asarray(values)
        inferred = {"f": numpy.float32, "c": numpy.complex64, "i": numpy.int64, "u": numpy.int64, "b": numpy.bool_}
        if array.dtype.kind not in inferred:
            raise TypeError(f"from_list needs numbers or booleans, got an array of {array.dtype}")
        return TorchTensorWrapper.from_numpy(array.astype(inferred[array.dtype.kind], copy=False))

    # -- operations -------------------------------------------------------------------------

    def _binary(self, function, other, reflected: bool = False) -> TorchTensorWrapper:
        if isinstance(other, TorchTensorWrapper):
            a, b = (other._live(), self._live()) if reflected else (self._live(), other._live())
            return TorchTensorWrapper._owning(function(a, b))
        scalar = _scalar_handle(other, self.dtype)
        try:
            a, b = (scalar, self._live()) if reflected else (self._live(), scalar)
            return TorchTensorWrapper._owning(function(a, b))
        finally:
            lib.rt_torch_torchtensor_free(scalar)

    def add(self, other) -> TorchTensorWrapper:
        """Element-wise sum with a tensor or a number, broadcasting (also ``self + other``).

        Example:
            >>> TorchTensorWrapper.tensor_ones([2]).add(1).tolist()
            [2.0, 2.0]
        """
        return self._binary(lib.rt_torch_torchtensor_add, other)

    def sub(self, other) -> TorchTensorWrapper:
        """Element-wise difference, broadcasting (also ``self - other``).

        Example:
            >>> (TorchTensorWrapper.tensor_ones([2]) - 3).tolist()
            [-2.0, -2.0]
        """
        return self._binary(lib.rt_torch_torchtensor_sub, other)

    def mul(self, other) -> TorchTensorWrapper:
        """Element-wise product, broadcasting (also ``self * other``).

        Example:
            >>> (TorchTensorWrapper.tensor_ones([2]) * 4).tolist()
            [4.0, 4.0]
        """
        return self._binary(lib.rt_torch_torchtensor_mul, other)

    def div(self, other) -> TorchTensorWrapper:
        """Element-wise true division, broadcasting (also ``self / other``).

        Example:
            >>> (TorchTensorWrapper.tensor_ones([2]) / 4).tolist()
            [0.25, 0.25]
        """
        return self._binary(lib.rt_torch_torchtensor_div, other)

    def matmul(self, other: TorchTensorWrapper) -> TorchTensorWrapper:
        """Matrix product with ``torch.matmul``'s rules (also ``self @ other``).

        Example:
            >>> TorchTensorWrapper.tensor_ones([2, 3]).matmul(TorchTensorWrapper.tensor_ones([3, 4])).shape()
            [2, 4]
        """
        if not isinstance(other, TorchTensorWrapper):
            raise TypeError(f"matmul needs a TorchTensorWrapper, got {type(other).__name__}")
        return self._binary(lib.rt_torch_torchtensor_matmul, other)

    def relu(self) -> TorchTensorWrapper:
        """``max(x, 0)`` element-wise.

        Example:
            >>> TorchTensorWrapper.from_list([-1.0, 2.0]).relu().tolist()
            [0.0, 2.0]
        """
        return TorchTensorWrapper._owning(lib.rt_torch_torchtensor_relu(self._live()))

    def sigmoid(self) -> TorchTensorWrapper:
        """The logistic function element-wise.

        Example:
            >>> TorchTensorWrapper.tensor_zeros([1]).sigmoid().tolist()
            [0.5]
        """
        return TorchTensorWrapper._owning(lib.rt_torch_torchtensor_sigmoid(self._live()))

    def tanh(self) -> TorchTensorWrapper:
        """The hyperbolic tangent element-wise.

        Example:
            >>> TorchTensorWrapper.tensor_zeros([1]).tanh().tolist()
            [0.0]
        """
        return TorchTensorWrapper._owning(lib.rt_torch_torchtensor_tanh(self._live()))

    def softmax(self, dim: int) -> TorchTensorWrapper:
        """Softmax along ``dim`` (negative counts from the end).

        Example:
            >>> TorchTensorWrapper.tensor_zeros([2, 4]).softmax(-1).tolist()[0]
            [0.25, 0.25, 0.25, 0.25]
        """
        return TorchTensorWrapper._owning(lib.rt_torch_torchtensor_softmax(self._live(), operator.index(dim)))

    def clone(self) -> TorchTensorWrapper:
        """A copy with its own memory, on the same device.

        Example:
            >>> copy = x.clone()
        """
        return TorchTensorWrapper._owning(lib.rt_torch_torchtensor_clone(self._live()))

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

    def ndim(self) -> int:
        """The number of dimensions.

        Example:
            >>> TorchTensorWrapper.tensor_zeros([2, 3]).ndim()
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

    def shape(self) -> list[int]:
        """The size of each dimension.

        Example:
            >>> TorchTensorWrapper.tensor_zeros([2, 3]).shape()
            [2, 3]
        """
        sizes = int64_array([0] * 64)  # libtorch allows at most 64 dimensions
        ndim = lib.rt_torch_torchtensor_shape(self._live(), sizes, 64)
        return list(sizes[:ndim])

    def numpy(self):
        """A NumPy array holding a copy of the elements (copied to the CPU first if needed).

        Example:
            >>> TorchTensorWrapper.tensor_ones([2]).numpy()
            array([1., 1.], dtype=float32)
        """
        import numpy

        handle = self._live()
        out = numpy.empty(self.shape(), dtype=_numpy_dtype(self.dtype))
        lib.rt_torch_torchtensor_copy_to(handle, out.ctypes.data, out.nbytes)
        return out

    def tolist(self):
        """The elements as (nested) Python numbers; a number for a 0-d tensor.

        Example:
            >>> TorchTensorWrapper.tensor_ones([2, 1]).tolist()
            [[1.0], [1.0]]
        """
        return self.numpy().tolist()

    # -- devices ----------------------------------------------------------------------------

    def cuda(self, device_id: int = 0) -> TorchTensorWrapper:
        """This tensor on ``cuda:device_id``; raises if this machine has no such GPU.

        Example:
            >>> x = TorchTensorWrapper.tensor_randn([4]).cuda(0) if torch_cuda_available() else None
        """
        return TorchTensorWrapper._owning(lib.rt_torch_torchtensor_cuda(self._live(), operator.index(device_id)))

    def cpu(self) -> TorchTensorWrapper:
        """This tensor on the CPU.

        Example:
            >>> TorchTensorWrapper.tensor_ones([1]).cpu().is_cuda()
            False
        """
        return TorchTensorWrapper._owning(lib.rt_torch_torchtensor_cpu(self._live()))

    def to(self, device, non_blocking: bool = False) -> TorchTensorWrapper:
        """This tensor on ``device`` (a Device, "cpu", "cuda:N" or an integer code).

        Example:
            >>> TorchTensorWrapper.tensor_ones([1]).to("cpu").device()
            Device(kind='cpu', index=None)
        """
        code = Device.parse(device).code
        return TorchTensorWrapper._owning(lib.rt_torch_torchtensor_to_device(self._live(), code, bool(non_blocking)))

    def is_cuda(self) -> bool:
        """True if the tensor is on a CUDA GPU.

        Example:
            >>> TorchTensorWrapper.tensor_ones([1]).is_cuda()
            False
        """
        return lib.rt_torch_torchtensor_is_cuda(self._live())

    def device(self) -> Device:
        """Where the tensor lives.

        Example:
            >>> str(TorchTensorWrapper.tensor_ones([1]).device())
            'cpu'
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
        if self._owns_handle:
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

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle is not None and self._owns_handle:
            try:
                lib.rt_torch_torchtensor_free(handle)
            except Exception:  # nothing can be raised from here, not even at interpreter exit
                pass

    def __enter__(self) -> TorchTensorWrapper:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._handle is not None:
            self.free()

    # -- Python protocols -------------------------------------------------------------------

    __add__ = add
    __sub__ = sub
    __mul__ = mul
    __truediv__ = div

    def __matmul__(self, other):
        if not isinstance(other, TorchTensorWrapper):
            return NotImplemented
        return self.matmul(other)

    def __radd__(self, other):
        return self._binary(lib.rt_torch_torchtensor_add, other, reflected=True)

    def __rsub__(self, other):
        return self._binary(lib.rt_torch_torchtensor_sub, other, reflected=True)

    def __rmul__(self, other):
        return self._binary(lib.rt_torch_torchtensor_mul, other, reflected=True)

    def __rtruediv__(self, other):
        return self._binary(lib.rt_torch_torchtensor_div, other, reflected=True)

    def __len__(self) -> int:
        shape = self.shape()
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        return shape[0]

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise ValueError(f"the truth value of a tensor with {self.numel()} elements is ambiguous")
        return bool(self.numpy().item())

    def __repr__(self) -> str:
        if self._handle is None:
            return "TorchTensorWrapper(<freed>)"
        dtype, device = self.dtype, self.device()
        described = f"shape={self.shape()}, dtype={dtype.name}, device={device}"
        if self.numel() > REPR_MAX_VALUES or dtype is DType.bfloat16:
            return f"TorchTensorWrapper({described})"
        import numpy

        values = numpy.array2string(self.numpy(), separator=", ", prefix="TorchTensorWrapper(")
        return f"TorchTensorWrapper({values}, {described})"


def _scalar_handle(value, like: DType) -> int:
    """A 0-d tensor handle for a Python number, typed so that ``tensor (op) value`` promotes
    the way ``torch`` does with a Python scalar."""
    import numpy

    if isinstance(value, bool):
        dtype = DType.bool
    elif isinstance(value, numbers.Integral):
        dtype = DType.int64
    elif isinstance(value, numbers.Real):
        dtype = like if like.is_floating_point and like is not DType.bfloat16 else DType.float32
    elif isinstance(value, numbers.Complex):
        dtype = like if like.is_complex else DType.complex64
    else:
        raise TypeError(f"unsupported operand: {type(value).__name__} (use a TorchTensorWrapper or a number)")
    array = numpy.array(value, dtype=_numpy_dtype(dtype))
    return lib.rt_torch_tensor_from_data(array.ctypes.data, None, 0, dtype)


#: A shorter name for the wrapper.
Tensor = TorchTensorWrapper
