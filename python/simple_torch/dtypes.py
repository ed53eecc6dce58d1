"""Element types: the ABI's dtype codes (c10's ScalarType numbers) as a small enum."""

from __future__ import annotations

from enum import IntEnum


class DType(IntEnum):
    """The element type of a tensor; each value is the ABI's dtype code.

    Example:
        >>> DType.from_any("f32") is DType.float32
        True
        >>> tensor_ones([2], dtype="int64").dtype
        <DType.int64: 4>
    """

    uint8 = 0
    int8 = 1
    int16 = 2
    int32 = 3
    int64 = 4
    float16 = 5
    float32 = 6
    float64 = 7
    complex64 = 9
    complex128 = 10
    bool = 11
    bfloat16 = 15
    # Made by operators only (the typed factories and to() take the twelve above): NumPy has
    # none of complex32 and float8, and tch none of uint16/32/64.
    complex32 = 8
    float8_e5m2 = 23
    float8_e4m3fn = 24
    float8_e5m2fnuz = 25
    float8_e4m3fnuz = 26
    uint16 = 27
    uint32 = 28
    uint64 = 29

    def __str__(self) -> str:
        return self.name  # not the code, which IntEnum would print

    @property
    def itemsize(self) -> int:
        """Bytes per element.

        Example:
            >>> DType.bfloat16.itemsize
            2
        """
        return _ITEMSIZE[self]

    @property
    def is_floating_point(self) -> bool:
        """True for float16, bfloat16, float32 and float64.

        Example:
            >>> DType.float16.is_floating_point
            True
        """
        return self in (DType.float16, DType.bfloat16, DType.float32, DType.float64) or self.name.startswith("float8")

    @property
    def is_complex(self) -> bool:
        """True for complex64 and complex128.

        Example:
            >>> DType.complex64.is_complex
            True
        """
        return self in (DType.complex32, DType.complex64, DType.complex128)

    @property
    def numpy_stand_in(self) -> DType:
        """This dtype, or the one its values pass through on the way to NumPy, which lacks it:
        float32 for bfloat16 and float8, complex64 for complex32.

        Example:
            >>> DType.bfloat16.numpy_stand_in
            <DType.float32: 6>
        """
        if self not in _NOT_IN_NUMPY:
            return self
        return DType.complex64 if self.is_complex else DType.float32

    @property
    def typed(self) -> bool:
        """True for the twelve dtypes the typed exports (``tensor_zeros``, ``to``) take; the
        others only operators make.

        Example:
            >>> DType.uint64.typed
            False
        """
        return self.value in (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 15)

    def to_numpy(self):
        """The NumPy dtype; NumPy has no bfloat16, which raises TypeError.

        Example:
            >>> DType.float16.to_numpy()
            dtype('float16')
        """
        import numpy

        if self in _NOT_IN_NUMPY:
            raise TypeError(f"NumPy has no {self.name} type: convert the tensor first, e.g. t.to('float32')")
        return numpy.dtype(self.name)

    def to_torch(self):
        """The ``torch.dtype`` (imports torch).

        Example:
            >>> DType.bfloat16.to_torch()
            torch.bfloat16
        """
        import torch

        return getattr(torch, self.name)

    @classmethod
    def from_code(cls, code: int) -> DType:
        """The dtype with the ABI's code ``code`` (c10's ScalarType number).

        Example:
            >>> DType.from_code(6)
            <DType.float32: 6>
        """
        try:
            return cls(code)
        except ValueError:
            raise ValueError(f"unknown dtype code {code}; simple_torch knows {[d.value for d in cls]}") from None

    @classmethod
    def from_any(cls, value) -> DType:
        """The dtype that ``value`` names: a DType, a name or short name ("float32", "f32",
        "double", ...), a NumPy dtype or type, or a ``torch.dtype``.

        Example:
            >>> DType.from_any("bf16"), DType.from_any(numpy.float64), DType.from_any(torch.int8)
            (<DType.bfloat16: 15>, <DType.float64: 7>, <DType.int8: 1>)
        """
        if isinstance(value, DType):
            return value
        if isinstance(value, str):
            dtype = _NAMES.get(value.strip().lower())
            if dtype is None:
                raise ValueError(f"unknown dtype {value!r}; accepted: {', '.join(sorted(_NAMES))}")
            return dtype
        if isinstance(value, int):  # bool included
            raise TypeError(
                f"a dtype must be a DType, a name such as 'float32', or a NumPy or torch dtype, not the "
                f"integer {value!r} (DType.from_code reads the ABI's codes)"
            )
        if isinstance(value, type) and value in _PYTHON_TYPES:
            return _PYTHON_TYPES[value]
        if type(value).__module__ == "torch" and type(value).__name__ == "dtype":  # without importing torch
            name = str(value).removeprefix("torch.")
        else:
            name = getattr(value, "name", None) or getattr(value, "__name__", None)  # NumPy dtype or type
        if isinstance(name, str) and name in _NAMES:
            return _NAMES[name]
        raise TypeError(f"cannot interpret {value!r} as a dtype; use a DType, a name such as 'float32', or a NumPy dtype")


# As NumPy and PyTorch read Python's own types.
_PYTHON_TYPES = {bool: DType.bool, int: DType.int64, float: DType.float64, complex: DType.complex128}

_ITEMSIZE = {
    DType.uint8: 1, DType.int8: 1, DType.int16: 2, DType.int32: 4, DType.int64: 8,
    DType.float16: 2, DType.float32: 4, DType.float64: 8, DType.complex64: 8,
    DType.complex128: 16, DType.bool: 1, DType.bfloat16: 2, DType.complex32: 4,
    DType.float8_e5m2: 1, DType.float8_e4m3fn: 1, DType.float8_e5m2fnuz: 1, DType.float8_e4m3fnuz: 1,
    DType.uint16: 2, DType.uint32: 4, DType.uint64: 8,
}

_NOT_IN_NUMPY = {DType.bfloat16, DType.complex32, DType.float8_e5m2, DType.float8_e4m3fn, DType.float8_e5m2fnuz,
                 DType.float8_e4m3fnuz}

_NAMES = {dtype.name: dtype for dtype in DType} | {
    "u8": DType.uint8, "i8": DType.int8, "i16": DType.int16, "short": DType.int16,
    "i32": DType.int32, "int": DType.int32, "i64": DType.int64, "long": DType.int64,
    "f16": DType.float16, "half": DType.float16, "bf16": DType.bfloat16,
    "f32": DType.float32, "float": DType.float32, "f64": DType.float64, "double": DType.float64,
    "c64": DType.complex64, "c128": DType.complex128, "bool_": DType.bool,
}


class Layout(IntEnum):
    """How a tensor stores its elements; each value is c10's Layout number. ``st.strided`` is
    the usual one.

    Example:
        >>> Layout.from_any("strided")
        <Layout.strided: 0>
    """

    strided = 0
    sparse_coo = 1
    sparse_csr = 2
    _mkldnn = 3
    sparse_csc = 4
    sparse_bsr = 5
    sparse_bsc = 6
    jagged = 7

    def __str__(self) -> str:
        return self.name

    @classmethod
    def from_any(cls, value) -> Layout:
        """A Layout, its name, or a ``torch.layout``.

        Example:
            >>> Layout.from_any(torch.strided)
            <Layout.strided: 0>
        """
        return _enum_from_any(cls, value, "layout")


class MemoryFormat(IntEnum):
    """The order of a tensor's dimensions in memory; each value is c10's MemoryFormat number.

    Example:
        >>> MemoryFormat.from_any("channels_last")
        <MemoryFormat.channels_last: 2>
    """

    contiguous_format = 0
    preserve_format = 1
    channels_last = 2
    channels_last_3d = 3

    def __str__(self) -> str:
        return self.name

    @classmethod
    def from_any(cls, value) -> MemoryFormat:
        """A MemoryFormat, its name, or a ``torch.memory_format``.

        Example:
            >>> MemoryFormat.from_any(torch.contiguous_format)
            <MemoryFormat.contiguous_format: 0>
        """
        return _enum_from_any(cls, value, "memory format")


def _enum_from_any(cls, value, what: str):
    if isinstance(value, cls):
        return value
    if isinstance(value, int):
        raise TypeError(f"a {what} must be a {cls.__name__} or a name, not the integer {value!r}")
    name = str(value).removeprefix("torch.") if type(value).__module__ == "torch" else value
    if isinstance(name, str) and name in cls.__members__:
        return cls[name]
    raise ValueError(f"unknown {what} {value!r}; accepted: {', '.join(cls.__members__)}")
