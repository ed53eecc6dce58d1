"""``st.ops``: every operator libtorch registers, called through the library's generic entry.

Shaped like ``torch.ops``: ``st.ops.aten.add`` is an overload packet that picks the overload
from the arguments, ``st.ops.aten.add.Tensor`` one overload, with its schema as ``__doc__``.
Nothing is built until it is first touched: the catalogue of operators is read from the library
on first use, and each overload's schema is parsed (by torchgen's parser, from the torch wheel)
when it is first called.

Example:
    >>> import simple_torch as st
    >>> x = st.ones(2, 3)
    >>> st.ops.aten.sum.dim_IntList(x, [1], keepdim=True).tolist()
    [[3.0], [3.0]]
    >>> st.ops.aten.add(x, 1).tolist()[0]       # the packet picks add.Scalar
    [2.0, 2.0, 2.0]
"""

from __future__ import annotations

import collections
import ctypes
import numbers
import operator
import re
import struct
import threading

from . import _native
from ._native import Value, lib
from .devices import Device
from .dtypes import DType, Layout, MemoryFormat
from .errors import ArgumentTypeError, SimpleTorchError
from .generators import Generator


def _without_argtypes(function):
    """``function``, the same C function, declared with no argument types: ctypes then passes a
    buffer as its address without a ``from_param`` call, 0.1 µs less per call. Only for
    rt_torch_op_call_frame, which is only ever given a frame (a ctypes buffer)."""
    try:
        address = ctypes.cast(function, ctypes.c_void_p).value
    except ctypes.ArgumentError:  # no library: keep its stand-in, which says why when called
        return function
    return ctypes.CFUNCTYPE(ctypes.c_void_p)(address)


_call = _without_argtypes(lib.unchecked.rt_torch_op_call_frame)


def _error() -> SimpleTorchError:
    """The exception for the thread's last failed ``rt_torch_op_call_frame``."""
    return lib.last_exception("the operator")


# ---- the catalogue ---------------------------------------------------------------------------

_catalogue: dict[str, dict[str, list[tuple[str, int, str]]]] | None = None
_catalogue_lock = threading.Lock()


def _operators() -> dict[str, dict[str, list[tuple[str, int, str]]]]:
    """namespace -> name -> [(overload, id, schema)], read from the library once."""
    global _catalogue
    with _catalogue_lock:
        if _catalogue is None:
            table: dict = collections.defaultdict(lambda: collections.defaultdict(list))
            for op_id in range(lib.rt_torch_op_count()):
                schema = lib.rt_torch_op_schema(op_id).decode()
                qualified = schema[: schema.index("(")]
                namespace, _, name = qualified.partition("::")
                base, _, overload = name.partition(".")
                table[namespace][base].append((overload or "default", op_id, schema))
            _catalogue = {namespace: dict(names) for namespace, names in table.items()}
    return _catalogue


# ---- argument types --------------------------------------------------------------------------
# Each schema type becomes an _ArgType: whether a Python value fits it strictly (for choosing an
# overload: a number for a Scalar, a tensor for a Tensor), and `pack(value, name, keep, tensors)`,
# which converts a value that fits leniently (a number for a Tensor too) into the fields of one
# Value, or raises _Mismatch. `keep` holds what a Value points to until the call returns;
# `tensors` maps the handles passed to their wrappers, so that a result that is an argument comes
# back as the same Python object.

#: The layout of one Value, as ``struct`` packs it (checked against ctypes below).
_VALUE = struct.Struct("=iiQqddQq")
assert _VALUE.size == ctypes.sizeof(Value)
#: The header of a frame (RtTorchOpFrame): op, n_args, out_cap and written; the Values follow.
_HEADER = struct.Struct("=qqqq")
_WRITTEN = struct.Struct("=24xq")  # the header's `written` alone

#: Set by tensor.py, which imports this module: the wrapper class, the function that wraps a new
#: handle, and the one that makes a 0-d tensor of a number.
Tensor = _owned = scalar_tensor = None


class _Mismatch(TypeError):
    """A value that does not fit an argument's type."""


def _is_int(value, strict: bool) -> bool:
    if type(value) is int:
        return True
    if isinstance(value, bool) or isinstance(value, Tensor):
        return not strict and isinstance(value, Tensor) and value.numel() == 1 and not value.dtype.is_floating_point
    if strict:
        return False
    try:
        operator.index(value)
        return True
    except TypeError:
        return False


def _is_number(value) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, Tensor)


def _handle(value, tensors: dict) -> int:
    handle = value._handle
    if handle is None:
        value._live()  # raises FreedTensorError
    tensors[handle] = value
    return handle


class _ArgType:
    text = "?"

    def fits(self, value, strict: bool) -> bool:
        raise NotImplementedError

    def pack(self, value, name: int, keep: list, tensors: dict) -> tuple:
        raise NotImplementedError

    def mismatch(self, value):
        return _Mismatch(f"must be {self.text}, not {_type_name(value)}")

    def __repr__(self) -> str:
        return self.text


class _Tensor(_ArgType):
    text = "Tensor"

    def fits(self, value, strict):
        return isinstance(value, Tensor) or (not strict and _is_number(value))

    def pack(self, value, name, keep, tensors):
        if isinstance(value, Tensor):
            return (_native.VALUE_TENSOR, 0, name, 0, 0.0, 0.0, _handle(value, tensors), 0)
        if not _is_number(value):
            raise self.mismatch(value)
        return _SCALAR.pack(value, name, keep, tensors)  # the library makes it a wrapped number, as torch does


class _Int(_ArgType):
    text = "int"

    def fits(self, value, strict):
        return _is_int(value, strict)

    def pack(self, value, name, keep, tensors):
        if not _is_int(value, False):
            raise self.mismatch(value)
        number = value.item() if isinstance(value, Tensor) else operator.index(value)
        return (_native.VALUE_INT, 0, name, number, 0.0, 0.0, 0, 0)


class _Float(_ArgType):
    text = "float"

    def fits(self, value, strict):
        if type(value) in (float, int):
            return True
        return not strict and isinstance(value, numbers.Real) and not isinstance(value, Tensor)

    def pack(self, value, name, keep, tensors):
        if not self.fits(value, False):
            raise self.mismatch(value)
        return (_native.VALUE_FLOAT, 0, name, 0, float(value), 0.0, 0, 0)


class _Bool(_ArgType):
    text = "bool"

    def fits(self, value, strict):
        return isinstance(value, bool) or (not strict and _is_int(value, False))

    def pack(self, value, name, keep, tensors):
        if not self.fits(value, False):
            raise self.mismatch(value)
        return (_native.VALUE_BOOL, 0, name, bool(value), 0.0, 0.0, 0, 0)


class _Complex(_ArgType):
    text = "complex"

    def fits(self, value, strict):
        return _is_number(value)

    def pack(self, value, name, keep, tensors):
        if not _is_number(value):
            raise self.mismatch(value)
        value = complex(value)
        return (_native.VALUE_COMPLEX, 0, name, 0, value.real, value.imag, 0, 0)


class _Scalar(_ArgType):
    text = "Scalar"

    def fits(self, value, strict):
        return _is_number(value) or (not strict and isinstance(value, Tensor) and value.numel() == 1)

    def pack(self, value, name, keep, tensors):
        if isinstance(value, Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool):
            return (_native.VALUE_BOOL, 0, name, value, 0.0, 0.0, 0, 0)
        if isinstance(value, numbers.Integral):
            return (_native.VALUE_INT, 0, name, int(value), 0.0, 0.0, 0, 0)
        if isinstance(value, numbers.Real):
            return (_native.VALUE_FLOAT, 0, name, 0, float(value), 0.0, 0, 0)
        if isinstance(value, numbers.Complex):
            value = complex(value)
            return (_native.VALUE_COMPLEX, 0, name, 0, value.real, value.imag, 0, 0)
        raise self.mismatch(value)


class _Str(_ArgType):
    text = "str"

    def fits(self, value, strict):
        return isinstance(value, str)

    def pack(self, value, name, keep, tensors):
        if not isinstance(value, str):
            raise self.mismatch(value)
        buffer = ctypes.create_string_buffer(value.encode())
        keep.append(buffer)
        return (_native.VALUE_STR, 0, name, 0, 0.0, 0.0, ctypes.addressof(buffer), 0)


class _Enum(_ArgType):
    """ScalarType, Layout and MemoryFormat: an enum member, a torch object or (leniently) a name.
    Never a bare integer: a dtype code passed where a size was meant must not pass silently."""

    def __init__(self, text, enum, tag):
        self.text, self.enum, self.tag = text, enum, tag

    def fits(self, value, strict):
        if isinstance(value, self.enum):
            return True
        if isinstance(value, (numbers.Number, Tensor)) or value is None or (strict and isinstance(value, str)):
            return False
        try:
            self.enum.from_any(value)
            return True
        except (TypeError, ValueError):
            return False

    def pack(self, value, name, keep, tensors):
        if not self.fits(value, False):
            raise self.mismatch(value)
        return (self.tag, 0, name, int(self.enum.from_any(value)), 0.0, 0.0, 0, 0)


class _Device(_ArgType):
    text = "Device"

    def fits(self, value, strict):
        if isinstance(value, (bool, float, Tensor)) or value is None:
            return False
        try:
            _device_code(value)
            return True
        except (TypeError, ValueError):
            return False

    def pack(self, value, name, keep, tensors):
        if not self.fits(value, False):
            raise self.mismatch(value)
        return (_native.VALUE_DEVICE, 0, name, _device_code(value), 0.0, 0.0, 0, 0)


def _device_code(value) -> int:
    """A device as torch reads one: a Device, a string, a torch.device, or a GPU index."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a device index must be >= 0, got {value}")
        return value
    return Device.parse(value).code


class _Generator(_ArgType):
    text = "Generator"

    def fits(self, value, strict):
        return isinstance(value, Generator)

    def pack(self, value, name, keep, tensors):
        if not isinstance(value, Generator):
            raise self.mismatch(value)
        return (_native.VALUE_GENERATOR, 0, name, 0, 0.0, 0.0, value._handle, 0)


class _Unsupported(_ArgType):
    """A type the generic entry cannot pass (Dimname, Storage, Stream, ...): only None fits
    (through _Optional)."""

    def __init__(self, text):
        self.text = text

    def fits(self, value, strict):
        return False

    def pack(self, value, name, keep, tensors):
        raise _Mismatch(f"is a {self.text}, which simple_torch cannot pass yet")


class _Optional(_ArgType):
    def __init__(self, element: _ArgType):
        self.element, self.text = element, f"{element.text}?"

    def fits(self, value, strict):
        return value is None or self.element.fits(value, strict)

    def pack(self, value, name, keep, tensors):
        if value is None:
            return (_native.VALUE_NONE, 0, name, 0, 0.0, 0.0, 0, 0)
        return self.element.pack(value, name, keep, tensors)


def _is_sequence(value) -> bool:
    return isinstance(value, (list, tuple)) or (
        hasattr(value, "__len__") and hasattr(value, "__getitem__") and not isinstance(value, (str, bytes, Tensor, dict))
    )


def _as_tensor(value, keep: list):
    """A tensor in a list of tensors: a number becomes a 0-d tensor (kept alive by `keep`)."""
    if isinstance(value, Tensor):
        return value
    if not _is_number(value):
        raise _Mismatch(f"must hold tensors, not {_type_name(value)}")
    keep.append(scalar_tensor(value))
    return keep[-1]


class _List(_ArgType):
    """``T[]`` and ``T[N]``: a sequence of T; for ``int[N]`` also one int, as torch takes it."""

    def __init__(self, element: _ArgType, size: int | None):
        self.element, self.size = element, size
        self.text = f"{element.text}[{size or ''}]"

    def fits(self, value, strict):
        if isinstance(self.element, _Int) and _is_int(value, strict):
            return self.size is not None or not strict
        if not _is_sequence(value):
            return False
        return all(self.element.fits(item, strict) for item in value)

    def pack(self, value, name, keep, tensors):
        element = self.element
        if not self.fits(value, False):
            raise self.mismatch(value)
        if isinstance(element, _Int) and not _is_sequence(value):
            value = [value] * (self.size or 1)
        items = list(value)
        count = len(items)
        if isinstance(element, _Int):
            # through struct, which refuses an int beyond 64 bits where a ctypes array wraps it
            ints = struct.pack(f"={count}q", *(element.pack(i, 0, keep, tensors)[3] for i in items))
            array, tag = (ctypes.c_int64 * count).from_buffer_copy(ints), _native.VALUE_INT_LIST
        elif isinstance(element, _Float):
            array, tag = (ctypes.c_double * count)(*map(float, items)), _native.VALUE_FLOAT_LIST
        elif isinstance(element, _Bool):
            array, tag = (ctypes.c_bool * count)(*map(bool, items)), _native.VALUE_BOOL_LIST
        elif isinstance(element, _Scalar):
            if all(isinstance(item, numbers.Integral) for item in items):
                array, tag = (ctypes.c_int64 * count)(*map(int, items)), _native.VALUE_INT_LIST
            else:
                array, tag = (ctypes.c_double * count)(*map(float, items)), _native.VALUE_FLOAT_LIST
        elif isinstance(element, (_Tensor, _Optional)):
            handles = [None if item is None else _handle(_as_tensor(item, keep), tensors) for item in items]
            array = (ctypes.c_void_p * count)(*handles)
            tag = _native.VALUE_TENSOR_LIST if isinstance(element, _Tensor) else _native.VALUE_OPTIONAL_TENSOR_LIST
        else:
            raise _Mismatch(f"is a {self.text}, which simple_torch cannot pass yet")
        keep.append(array)
        return (tag, 0, name, 0, 0.0, 0.0, ctypes.addressof(array), count)


_SCALAR = _Scalar()

_BASE_TYPES = {
    "Tensor": _Tensor(),
    "int": _Int(),
    "SymInt": _Int(),
    "float": _Float(),
    "bool": _Bool(),
    "str": _Str(),
    "Scalar": _SCALAR,
    "ScalarType": _Enum("ScalarType", DType, _native.VALUE_SCALAR_TYPE),
    "Layout": _Enum("Layout", Layout, _native.VALUE_LAYOUT),
    "MemoryFormat": _Enum("MemoryFormat", MemoryFormat, _native.VALUE_MEMORY_FORMAT),
    "Device": _Device(),
    "Generator": _Generator(),
}


def _arg_type(parsed) -> _ArgType:
    """The _ArgType of a torchgen type (BaseType, OptionalType or ListType)."""
    kind = type(parsed).__name__
    if kind == "OptionalType":
        return _Optional(_arg_type(parsed.elem))
    if kind == "ListType":
        return _List(_arg_type(parsed.elem), parsed.size)
    return _BASE_TYPES.get(parsed.name.name) or _Unsupported(parsed.name.name)


def _parse(schema: str):
    """torchgen's FunctionSchema for a c10 schema string. c10 prints list defaults with spaces
    ("[-2, -1]"), which torchgen does not read; and torchgen has no complex type, which only
    appears in a few operators' arguments (read as float, then checked as complex)."""
    from torchgen.model import FunctionSchema

    text = schema.split("::", 1)[1]
    text = _LIST_DEFAULT_SPACES.sub(lambda match: match.group(0).replace(" ", ""), text)
    return FunctionSchema.parse(_COMPLEX.sub(r"\1float ", text))


_LIST_DEFAULT_SPACES = re.compile(r"=\[[^\]]*\]")
_COMPLEX = re.compile(r"([(,] *)complex ")
_COMPLEX_ARGUMENT = re.compile(r"[(,] *complex (\w+)")


class _Param:
    __slots__ = ("name", "type", "kwarg_only", "required", "name_pointer", "_buffer")

    def __init__(self, name, arg_type, kwarg_only, required):
        self.name, self.type, self.kwarg_only, self.required = name, arg_type, kwarg_only, required
        self._buffer = ctypes.create_string_buffer(name.encode())
        self.name_pointer = ctypes.addressof(self._buffer)


# ---- overloads and packets -------------------------------------------------------------------


def _key(values: tuple, kwargs: dict) -> tuple:
    """The key under which a call's fast function is kept: the types of ``values`` (the
    arguments given by position, then those given by keyword), then the keywords. Spelled out
    for one to three values, for which map() and tuple() cost more than the rest of the call's
    look-up."""
    count = len(values)
    if count == 2:
        key = (type(values[0]), type(values[1]))
    elif count == 1:
        key = (type(values[0]),)
    elif count == 3:
        key = (type(values[0]), type(values[1]), type(values[2]))
    else:
        key = tuple(map(type, values))
    return key + tuple(kwargs) if kwargs else key


class OpOverload:
    """One operator overload, e.g. ``st.ops.aten.add.Tensor``: callable with positional and
    keyword arguments as its schema (the ``__doc__``) names them; left-out arguments take the
    schema's defaults.

    Example:
        >>> st.ops.aten.add.Tensor(st.ones(2), st.ones(2), alpha=3).tolist()
        [4.0, 4.0]
    """

    def __init__(self, namespace: str, name: str, overload: str, op_id: int, schema: str):
        self.namespace, self.name, self.overload, self.op_id = namespace, name, overload, op_id
        self.schema = self.__doc__ = schema
        self._params: list[_Param] | None = None
        self._by_name: dict[str, _Param] = {}
        self._positional = 0
        self._returns = 1
        self._result_type = None
        self._fast: dict = {}  # argument types and keywords -> a fast call, or None (see _fast_call)

    def __repr__(self) -> str:
        return f"<OpOverload {self.namespace}.{self.name}.{self.overload}>"

    @property
    def qualified_name(self) -> str:
        """``aten::add.Tensor``.

        Example:
            >>> st.ops.aten.add.Tensor.qualified_name
            'aten::add.Tensor'
        """
        suffix = "" if self.overload == "default" else f".{self.overload}"
        return f"{self.namespace}::{self.name}{suffix}"

    def _compile(self) -> list:
        """The parameters, from the schema parsed once (on first use)."""
        if self._params is not None:
            return self._params
        try:
            parsed = _parse(self.schema)
        except Exception as error:  # noqa: BLE001 - such an operator stays callable from C
            raise ArgumentTypeError(f"{self.qualified_name}: cannot read its schema ({error}): {self.schema}") from None
        complex_names = set(_COMPLEX_ARGUMENT.findall(self.schema))
        arguments = parsed.arguments
        params = []
        for kwarg_only, group in ((False, arguments.flat_positional), (True, arguments.flat_kwarg_only), (True, arguments.out)):
            for argument in group:
                arg_type = _Complex() if argument.name in complex_names else _arg_type(argument.type)
                params.append(_Param(argument.name, arg_type, kwarg_only, argument.default is None))
        self._by_name = {param.name: param for param in params}
        self._positional = len(arguments.flat_positional)
        names = [ret.name for ret in parsed.returns]
        if len(names) > 1 and all(names):
            self._result_type = collections.namedtuple(self.name, names)
        self._returns = max(1, len(parsed.returns))
        self._params = params
        return params

    def _bind(self, args: tuple, kwargs: dict) -> list:
        """(param, value, name pointer) for each argument given, positional ones first (name
        pointer 0); TypeError if they cannot be matched to the schema's names."""
        params = self._params or self._compile()
        if len(args) > self._positional:
            raise _Mismatch(f"takes {self._positional} positional arguments but {len(args)} were given")
        bound = [(param, value, 0) for param, value in zip(params, args)]
        if kwargs:
            for name, value in kwargs.items():
                param = self._by_name.get(name)
                if param is None:
                    raise _Mismatch(f"got an unexpected keyword argument '{name}'")
                if params.index(param) < len(args):
                    raise _Mismatch(f"got multiple values for argument '{name}'")
                bound.append((param, value, param.name_pointer))
        if len(bound) < len(params):
            given = {param.name for param, _, _ in bound}
            for param in params:
                if param.required and param.name not in given:
                    raise _Mismatch(f"missing the required argument '{param.name}'")
        return bound

    def _fits(self, args: tuple, kwargs: dict, strict: bool) -> bool:
        try:
            bound = self._bind(args, kwargs)
        except _Mismatch:
            return False
        return all(param.type.fits(value, strict) for param, value, _ in bound)

    def __call__(self, /, *args, **kwargs):  # '/': an operator's argument may be called self
        # The fast path: the function compiled for these argument types and keywords.
        values = (*args, *kwargs.values()) if kwargs else args
        fast = self._fast.get(_key(values, kwargs), _UNSEEN)
        if fast is _UNSEEN:
            fast = self._compiled(tuple(map(type, values)), len(args), tuple(kwargs))
        if fast is not None:
            return fast(*values)
        return self._general(args, kwargs)

    def _compiled(self, types: tuple, positional: int, names: tuple = ()):
        """The fast function for calls whose arguments have exactly these types (the first
        ``positional`` given by position, the others by these ``names``), made on first use (see
        _fast_call); None if such calls need the general path. It takes the argument values
        positionally, keyword ones last."""
        key = types + names  # as _key makes it
        fast = self._fast.get(key, _UNSEEN)
        if fast is _UNSEEN:
            fast = self._fast[key] = _fast_call(self, types, positional, names)
        return fast

    def _general(self, args: tuple, kwargs: dict):
        """Any call: each argument bound to its parameter and converted as its type allows
        (lists, strings, conversions), or refused with a message that names it."""
        keep, tensors, fields = [], {}, []
        try:
            bound = self._bind(args, kwargs)
        except _Mismatch as error:
            raise ArgumentTypeError(f"{self.qualified_name}() {error}; its schema: {self.schema}") from None
        for param, value, name in bound:
            try:
                fields.append(_VALUE.pack(*param.type.pack(value, name, keep, tensors)))
            except _Mismatch as error:
                message = f"{self.qualified_name}() argument '{param.name}' {error}; its schema: {self.schema}"
                raise ArgumentTypeError(message) from None
            except struct.error:  # a number too large for the library's 64 bits
                raise OverflowError(f"{self.qualified_name}() argument '{param.name}': {value!r} does not fit in 64 bits") from None
        # Into the frame only now that every value is packed: packing one may call operators
        # (a tensor's item()), which use this thread's frame too.
        packed = _HEADER.pack(self.op_id, len(fields), self._returns, 0) + b"".join(fields)
        frame = _frame(len(fields) + self._returns)
        ctypes.memmove(frame, packed, len(packed))
        _call(frame)  # a new tensor it returns is also the first result, read below with the others
        written = _WRITTEN.unpack_from(frame)[0]
        if written < 0:
            raise _error()
        return self._results(frame, len(packed), written, tensors)

    def _finish(self, frame, arguments: tuple, offset: int):
        """The results of a fast call (see _fast_call) that are not one new tensor, from the
        frame: ``offset`` is where they start."""
        written = _WRITTEN.unpack_from(frame)[0]
        if written < 0:
            raise _error()
        return self._results(frame, offset, written, _ArgumentTensors(arguments))

    def _results(self, frame, offset: int, written: int, tensors: dict):
        if written == 1:
            return _result(self, frame, offset, tensors)
        if written == 0:
            return None
        results = [_result(self, frame, offset + index * _VALUE.size, tensors) for index in range(written)]
        return self._result_type(*results) if self._result_type else tuple(results)


_UNSEEN = object()

# ---- the frame, and the fast path --------------------------------------------------------------
# Every call goes through rt_torch_op_call_frame, with the whole call (a header, the argument
# Values, room for the results) in one buffer per thread: ctypes converts one pointer, and the
# library returns a new tensor's handle directly, so that the common call reads nothing back. The
# library reads a frame before the operator runs and writes it after, so an operator that runs
# Python (a hook, a custom function) may call operators with the same frame meanwhile.

#: Values a thread's frame holds: far more than any operator's arguments and results together
#: (a larger call gets a buffer of its own).
_FRAME_VALUES = 64
#: Lists of ints a fast call may pass (x.view(3, 2)'s sizes), of at most 64 ints each. Their
#: ints go in the frame right after the call's results, and their Values point there: the
#: library copies them before the operator runs, as it reads the rest of the frame.
_LISTS = 8
_local = threading.local()


def _new_frame():
    """This thread's frame, made on its first call, and its address (for the lists' pointers)."""
    frame = _local.frame = ctypes.create_string_buffer(_HEADER.size + _FRAME_VALUES * _VALUE.size + _LISTS * 64 * 8)
    _local.address = ctypes.addressof(frame)
    return frame


def _frame(values: int):
    """A frame with room for ``values`` Values: this thread's, unless the call is larger."""
    if values > _FRAME_VALUES:
        return ctypes.create_string_buffer(_HEADER.size + values * _VALUE.size)
    frame = getattr(_local, "frame", None)
    return _new_frame() if frame is None else frame


#: Where the fields of a Value that the fast path sets lie: (offset, struct code). Fields left
#: out are packed as zero bytes (struct's padding), so that a call packs two fields per value.
_FIELDS = {"tag": (0, "i"), "name": (8, "Q"), "int_value": (16, "q"), "real": (24, "d"), "ptr": (40, "Q"), "len": (48, "q")}
#: Packers of 0 to 64 int64s: an int list's contents on the fast path.
_INT_PACKERS = [struct.Struct(f"={n}q").pack for n in range(65)]

#: The tag, and the field it uses, that each (schema type, Python type) packs to, with the
#: field's value as an expression of the argument ``{a}``: the fast path's whole conversion.
#: Anything not here (lists, strings, conversions) takes the general path.
_FAST_FIELDS = {
    (_Tensor, "tensor"): (_native.VALUE_TENSOR, "ptr", "{a}._handle"),
    (_Tensor, int): (_native.VALUE_INT, "int_value", "{a}"),
    (_Tensor, float): (_native.VALUE_FLOAT, "real", "{a}"),
    (_Tensor, bool): (_native.VALUE_BOOL, "int_value", "{a}"),
    (_Int, int): (_native.VALUE_INT, "int_value", "{a}"),
    (_Scalar, int): (_native.VALUE_INT, "int_value", "{a}"),
    (_Scalar, float): (_native.VALUE_FLOAT, "real", "{a}"),
    (_Scalar, bool): (_native.VALUE_BOOL, "int_value", "{a}"),
    (_Float, float): (_native.VALUE_FLOAT, "real", "{a}"),
    (_Float, int): (_native.VALUE_FLOAT, "real", "{a}"),  # struct converts it as float() does
    (_Bool, bool): (_native.VALUE_BOOL, "int_value", "{a}"),
    (_Device, Device): (_native.VALUE_DEVICE, "int_value", "{a}.code"),
}


def _fast_fields(arg_type: _ArgType, kind: type):
    """(tag, field, expression) for a value of Python type ``kind`` where ``arg_type`` goes;
    () for None (a Value of zeros); None if the general path must convert it."""
    if isinstance(arg_type, _Optional):
        if kind is type(None):
            return ()
        arg_type = arg_type.element
    if isinstance(arg_type, _List) and isinstance(arg_type.element, _Int) and arg_type.size and kind is int:
        arg_type = arg_type.element  # one int for int[N]: the library repeats it
    if isinstance(arg_type, _Enum):  # a dtype, layout or memory format member, as its code
        return (arg_type.tag, "int_value", "{a}") if kind is arg_type.enum else None
    return _FAST_FIELDS.get((type(arg_type), "tensor" if issubclass(kind, Tensor) else kind))


def _int_list(arg_type: _ArgType, kind: type, a: str) -> str | None:
    """For an int list parameter (``int[]``, ``SymInt[]``, ``int[N]``, optional or not), the
    expression of the ints that an argument ``a`` of Python type ``kind`` passes: a list or tuple
    of them, or one int where the list has no size (``x.reshape(6)``); None for anything else."""
    if isinstance(arg_type, _Optional):
        arg_type = arg_type.element
    if not (isinstance(arg_type, _List) and isinstance(arg_type.element, _Int)):
        return None
    if issubclass(kind, (list, tuple)):
        return a
    return f"({a},)" if kind is int and arg_type.size is None else None


def _packing(fields: list, size: int) -> tuple[str, list]:
    """The struct format of ``size`` bytes that packs ``fields``, (offset, code, expression)
    each, with zero bytes everywhere else; and the expressions, in the format's order."""
    layout, expressions, at = "=", [], 0
    for offset, code, expression in sorted(fields):
        layout += f"{offset - at}x{code}" if offset > at else code
        expressions.append(expression)
        at = offset + struct.calcsize("=" + code)
    return f"{layout}{size - at}x", expressions


def _fast_call(op: OpOverload, types: tuple, positional: int, names: tuple, fallback=None):
    """A function that calls ``op`` with arguments of exactly these types (the first
    ``positional`` by position, the rest by these ``names``), taking them positionally: one
    ``struct.pack_into`` of the frame, the call, and a new tensor result wrapped inline. Made
    once per overload, types and names: the per-overload compiled packing that keeps small
    operations fast. An int list (``x.view(3, 2)``'s sizes) is packed by one more ``struct``
    call into this thread's list area, after the results. A call it cannot pack goes to
    ``fallback(args, kwargs)``: the overload's general path unless given. None if some argument
    needs the general path (other lists, strings, conversions)."""
    params = op._params or op._compile()
    if positional > op._positional:
        return None
    try:
        chosen = params[:positional] + [op._by_name[name] for name in names]
    except KeyError:
        return None
    if len(set(map(id, chosen))) < len(chosen) or any(p.required and p not in chosen for p in params):
        return None
    count = len(types)
    if count + op._returns > _FRAME_VALUES:
        return None
    # The header (its `written` stays 0 until the call), then each value's tag, field and name.
    fields = [(0, "q", str(op.op_id)), (8, "q", str(count)), (16, "q", str(op._returns))]
    results = _HEADER.size + count * _VALUE.size  # where the results start
    lists_at = results + op._returns * _VALUE.size  # and the int lists, after them
    lists = []  # (argument, expression of its ints), in the order of their place there
    for i, (param, kind) in enumerate(zip(chosen, types)):
        at = _HEADER.size + i * _VALUE.size
        if i >= positional:
            fields.append((at + _FIELDS["name"][0], "Q", str(param.name_pointer)))
        ints = _int_list(param.type, kind, f"a{i}")
        if ints is not None:
            if len(lists) == _LISTS:
                return None
            # the ints of the lists before this one come first
            place = "".join(f" + len(l{j})" for j, _ in lists)
            fields += [(at, "i", str(_native.VALUE_INT_LIST)), (at + _FIELDS["ptr"][0], "Q", f"address + {lists_at}{place}"),
                       (at + _FIELDS["len"][0], "q", f"len(l{i}) >> 3")]
            lists.append((i, ints))
            continue
        fast = _fast_fields(param.type, kind)
        if fast is None:
            return None
        if fast:
            tag, field, expression = fast
            offset, code = _FIELDS[field]
            fields += [(at, "i", str(tag)), (at + offset, code, expression.format(a=f"a{i}"))]
    layout, expressions = _packing(fields, lists_at if lists else results)
    parameters = ", ".join(f"a{i}" for i in range(count))
    arguments = "".join(f"a{i}, " for i in range(count))  # as a tuple's items
    by_position = "".join(f"a{i}, " for i in range(positional))
    by_name = ", ".join(f"{name!r}: a{positional + i}" for i, name in enumerate(names))
    # an in-place or out= result: the argument itself, the same Python object
    same_argument = "".join(
        f"\n        if handle == a{i}._handle:\n            return a{i}" for i, kind in enumerate(types) if issubclass(kind, Tensor)
    )
    if same_argument:
        same_argument = f"""
    written, from_argument, handle = first_result(frame)
    if written == 1 and from_argument:{same_argument}"""
    general_call = f"general(({by_position}), {{{by_name}}})"
    # Each int list is packed before the frame is touched, and only if it holds exact ints, whose
    # packing runs no Python (anything else, even a bool, is the general path's to judge).
    packed_lists = ""
    for i, ints in lists:
        if ints == f"a{i}":  # a list or tuple
            packed_lists += f"""
    if not ints_only(map(type, a{i})):
        return {general_call}"""
        packed_lists += f"""
    try:
        l{i} = pack_ints[len({ints})](*{ints})
    except (struct_error, IndexError):  # beyond 64 bits, or more than 64 ints
        return {general_call}"""
    lengths = ", ".join(f"len(l{i})" for i, _ in lists)
    if lists:  # the frame's layout depends on the lists' lengths: one packer for each
        packer = f"""
    address = local.address
    lengths = ({lengths},)
    pack_into = packers.get(lengths) or new_packer(lengths)"""
        expressions += [f"l{i}" for i, _ in lists]
    else:
        packer = ""
    packers: dict = {}

    def new_packer(lengths: tuple):
        pack_into = packers[lengths] = struct.Struct(layout + "".join(f"{n}s" for n in lengths)).pack_into
        return pack_into

    namespace = {
        "local": _local, "new_frame": _new_frame, "pack_into": struct.Struct(layout).pack_into, "struct_error": struct.error,
        "packers": packers, "new_packer": new_packer, "pack_ints": _INT_PACKERS, "ints_only": _INTS_ONLY,
        "general": fallback or op._general, "call": _call, "new": object.__new__, "Tensor": Tensor, "finish": op._finish,
        # the header's `written`, then the first result's from_argument and handle
        "first_result": struct.Struct(f"=24xq{results - 28}xi32xQ").unpack_from,
    }
    code = f"""
def fast({parameters}):{packed_lists}
    try:
        frame = local.frame
    except AttributeError:  # this thread's first call
        frame = new_frame(){packer}
    try:
        pack_into(frame, 0, {", ".join(expressions)})
    except struct_error:  # a freed tensor (no handle) or an int beyond 64 bits: the general path says which
        return {general_call}
    handle = call(frame)
    if handle:  # the common case, inline: one new tensor
        tensor = new(Tensor)
        tensor._handle = handle
        return tensor{same_argument}
    return finish(frame, ({arguments}), {results})
"""
    exec(code, namespace)  # noqa: S102 - code made above from the schema, not from input
    return namespace["fast"]


def _decided_but_for_int_lists(overload: OpOverload, args: tuple, kwargs: dict) -> bool:
    """Whether the types of these arguments chose ``overload``, given that each of their lists
    holds exact ints: the other arguments are of types that decide alone (_CACHEABLE and
    tensors), and the overload fits strictly, so that the strict pass of _choose, where an exact
    int fits as its type alone says, chose it. A fast function for these types may then be kept
    for the operator, guarded: a call whose lists hold anything else is resolved again."""
    values = (*args, *kwargs.values())
    lists = [value for value in values if isinstance(value, (list, tuple))]
    return (
        bool(lists)
        and all(_INTS_ONLY(map(type, value)) for value in lists)
        and all(type(value) in _CACHEABLE or isinstance(value, (Tensor, list, tuple)) for value in values)
        and overload._fits(args, kwargs, True)
    )


_INTS_ONLY = {int}.issuperset


class _ArgumentTensors:
    """The tensors among a fast call's arguments, by handle (for results that are arguments)."""

    __slots__ = ("args",)

    def __init__(self, args: tuple):
        self.args = args

    def get(self, handle, default=None):
        for arg in self.args:
            if isinstance(arg, Tensor) and arg._handle == handle:
                return arg
        return default

    __getitem__ = get


def _result(op: OpOverload, frame, offset: int, tensors: dict):
    """The result at ``offset`` in the frame of the call just made, as a Python value."""
    tag, from_argument, _, int_value, real, imag, ptr, length = _VALUE.unpack_from(frame, offset)
    if tag == _native.VALUE_TENSOR:
        return tensors[ptr] if from_argument else _owned(ptr)
    if tag in (_native.VALUE_TENSOR_LIST, _native.VALUE_OPTIONAL_TENSOR_LIST):
        handles = (ctypes.c_void_p * length).from_address(ptr) if length else ()
        return [None if h is None else _owned(h) for h in handles]  # new handles, even for an argument
    if tag == _native.VALUE_NONE:
        return None
    if tag == _native.VALUE_BOOL:
        return bool(int_value)
    if tag == _native.VALUE_INT:
        return int_value
    if tag == _native.VALUE_FLOAT:
        return real
    if tag == _native.VALUE_COMPLEX:
        return complex(real, imag)
    if tag == _native.VALUE_SCALAR_TYPE:
        return DType.from_code(int_value)
    if tag == _native.VALUE_LAYOUT:
        return Layout(int_value)
    if tag == _native.VALUE_MEMORY_FORMAT:
        return MemoryFormat(int_value)
    if tag == _native.VALUE_DEVICE:
        return Device.from_code(int_value)
    if tag == _native.VALUE_INT_LIST:
        return list((ctypes.c_int64 * length).from_address(ptr)) if length else []
    if tag == _native.VALUE_STR:
        return ctypes.string_at(ptr).decode()
    raise SimpleTorchError(f"{op.qualified_name} returned a value with the unknown tag {tag}")


#: Argument types whose strict fit depends on the type alone, so that a packet can remember which
#: overload a call with these types picked.
_CACHEABLE = {int, float, bool, complex, str, type(None), DType, Layout, MemoryFormat, Device, Generator}


class OpOverloadPacket:
    """All overloads of one operator, e.g. ``st.ops.aten.add``: calling it picks the first
    overload whose schema the arguments fit exactly (a number for a Scalar, a tensor for a
    Tensor), else the first they fit after conversions (a number as a 0-d tensor), as
    ``torch.ops`` does. ``.Tensor``, ``.Scalar``, ``.default``, ... are the overloads.

    Example:
        >>> st.ops.aten.mul(st.ones(2), 3).tolist(), st.ops.aten.mul.overloads()
        ([3.0, 3.0], ['Scalar', 'Tensor', 'Scalar_out', 'out'])
    """

    def __init__(self, namespace: str, name: str, entries: list):
        self.namespace, self.name = namespace, name
        # default first, out= forms last: the order in which calls try them
        entries = sorted(entries, key=lambda entry: (entry[0] != "default", "out" in entry[0].lower().split("_")))
        self._overloads = {overload: OpOverload(namespace, name, overload, op_id, schema) for overload, op_id, schema in entries}
        self.__doc__ = "\n".join(entry[2] for entry in entries)
        self._chosen: dict = {}
        # argument types and keywords -> the fast function of the overload they choose (see _choose)
        self._fast: dict = {}
        # Overloads as plain attributes, so that st.ops.aten.add.Tensor costs no __getattr__ call
        # (a name the class uses itself stays reachable through __getattr__ only).
        for overload, op in self._overloads.items():
            if not hasattr(type(self), overload):
                setattr(self, overload, op)

    def __repr__(self) -> str:
        return f"<OpOverloadPacket {self.namespace}.{self.name}>"

    def overloads(self) -> list[str]:
        """The overload names, in the order calls try them.

        Example:
            >>> st.ops.aten.relu.overloads()
            ['default', 'out']
        """
        return list(self._overloads)

    def __getattr__(self, overload: str) -> OpOverload:
        try:
            return self._overloads[overload]
        except KeyError:
            raise AttributeError(
                f"{self.namespace}::{self.name} has no overload {overload!r}; its overloads are: {', '.join(self._overloads)}"
            ) from None

    def __dir__(self):
        return list(self._overloads)

    def resolve(self, args: tuple, kwargs: dict) -> OpOverload:
        """The overload a call with these arguments runs; TypeError listing every schema if
        none fits.

        Example:
            >>> st.ops.aten.add.resolve((st.ones(2), 1), {})
            <OpOverload aten.add.Scalar>
        """
        return self._choose(args, kwargs)[0]

    def _choose(self, args: tuple, kwargs: dict) -> tuple[OpOverload, bool]:
        """(the overload a call with these arguments runs, whether their types alone chose it:
        then every call with these types runs it)."""
        key = (*map(type, args), *kwargs, *map(type, kwargs.values())) if kwargs else tuple(map(type, args))
        chosen = self._chosen.get(key)  # only keys whose types alone decide are ever stored
        if chosen is not None:
            return chosen, True
        if not all(t in _CACHEABLE or issubclass(t, Tensor) for t in (*map(type, args), *map(type, kwargs.values()))):
            key = None
        for strict in (True, False):
            for overload in self._overloads.values():
                try:
                    fits = overload._fits(args, kwargs, strict)
                except ArgumentTypeError:
                    continue  # a schema torchgen cannot read
                if fits:
                    by_types = strict and key is not None
                    if by_types:
                        self._chosen[key] = overload
                    return overload, by_types
        given = ", ".join([_type_name(a) for a in args] + [f"{k}={_type_name(v)}" for k, v in kwargs.items()])
        schemas = "\n  ".join(o.schema for o in self._overloads.values())
        raise ArgumentTypeError(f"{self.namespace}::{self.name}() got ({given}), which fits none of its overloads:\n  {schemas}")

    def __call__(self, /, *args, **kwargs):  # '/': an operator's argument may be called self
        # The fast path: the chosen overload's fast function for these types and keywords, found
        # with one look-up.
        values = (*args, *kwargs.values()) if kwargs else args
        key = _key(values, kwargs)
        fast = self._fast.get(key)
        if fast is not None:
            return fast(*values)
        overload, by_types = self._choose(args, kwargs)
        if by_types:
            fast = overload._compiled(tuple(map(type, values)), len(args), tuple(kwargs))
            if fast is not None:
                self._fast[key] = fast
        elif _decided_but_for_int_lists(overload, args, kwargs):
            fast = _fast_call(overload, tuple(map(type, values)), len(args), tuple(kwargs), self._resolved)
            if fast is not None:
                self._fast[key] = fast
        return overload(*args, **kwargs)

    def _resolved(self, args: tuple, kwargs: dict):
        """Calls the overload that these arguments choose, without the fast path's look-up."""
        return self._choose(args, kwargs)[0](*args, **kwargs)


def _type_name(value) -> str:
    if isinstance(value, Tensor):
        return "Tensor(<freed>)" if value._handle is None else f"Tensor({value.dtype}{list(value.shape)})"
    return type(value).__name__


class _Namespace:
    """``st.ops.aten`` (or another namespace): its operators as attributes, made on first use.

    Example:
        >>> st.ops.aten.relu
        <OpOverloadPacket aten.relu>
    """

    def __init__(self, namespace: str):
        self._namespace = namespace
        self._packets: dict[str, OpOverloadPacket] = {}

    def __getattr__(self, name: str) -> OpOverloadPacket:
        if name.startswith("__"):
            raise AttributeError(name)
        packet = self._packets.get(name)
        if packet is None:
            names = _operators().get(self._namespace, {})
            if name not in names:
                import difflib

                close = difflib.get_close_matches(name, list(names), n=5)
                hint = f"; the closest names are: {', '.join(close)}" if close else ""
                raise AttributeError(f"there is no operator {self._namespace}::{name}{hint}")
            packet = self._packets[name] = OpOverloadPacket(self._namespace, name, names[name])
            setattr(self, name, packet)  # later look-ups are plain attribute reads
        return packet

    def __dir__(self):
        return sorted(_operators().get(self._namespace, {}))

    def __repr__(self) -> str:
        return f"<st.ops.{self._namespace}>"


_namespaces: dict[str, _Namespace] = {}


def __getattr__(namespace: str) -> _Namespace:
    """``st.ops.<namespace>``: aten, prim, quantized, ... as libtorch registers them."""
    if namespace.startswith("__"):
        raise AttributeError(namespace)
    if namespace not in _namespaces:
        if namespace not in _operators():
            raise AttributeError(f"libtorch registers no operator namespace {namespace!r}; it has: {', '.join(sorted(_operators()))}")
        _namespaces[namespace] = _Namespace(namespace)
    return _namespaces[namespace]


aten = _Namespace("aten")
_namespaces["aten"] = aten
