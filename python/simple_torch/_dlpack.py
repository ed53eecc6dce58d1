"""Layer 2: DLPack capsules, made and opened through CPython's capsule API with ctypes.

The DLPack Python protocol hands over a ``PyCapsule`` named "dltensor_versioned" (DLPack 1.x)
or "dltensor" (older) that points to a managed tensor (dlpack.h). A consumer renames the capsule
("used_dltensor...") when it takes the tensor over; a capsule that dies unconsumed deletes the
tensor through its destructor. Ours is C code in libsimple_torch.so, so that no Python runs
while the interpreter frees objects (possibly with an exception in flight, or at exit).
"""

from __future__ import annotations

import ctypes
from ctypes import CFUNCTYPE, Structure, c_char_p, c_int, c_int32, c_uint8, c_uint16, c_uint32, c_uint64, c_void_p, py_object

from ._native import lib


class DLDevice(Structure):
    _fields_ = [("device_type", c_int32), ("device_id", c_int32)]


class DLDataType(Structure):
    _fields_ = [("code", c_uint8), ("bits", c_uint8), ("lanes", c_uint16)]


class DLTensor(Structure):
    _fields_ = [
        ("data", c_void_p),
        ("device", DLDevice),
        ("ndim", c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", c_uint64),
    ]


#: ``void (*deleter)(self)``; the argument is the managed tensor's address.
DELETER = CFUNCTYPE(None, c_void_p)


class DLManagedTensor(Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", c_void_p), ("deleter", DELETER)]


class DLPackVersion(Structure):
    _fields_ = [("major", c_uint32), ("minor", c_uint32)]


class DLManagedTensorVersioned(Structure):
    _fields_ = [
        ("version", DLPackVersion),
        ("manager_ctx", c_void_p),
        ("deleter", DELETER),
        ("flags", c_uint64),
        ("dl_tensor", DLTensor),
    ]


FLAG_READ_ONLY = 1 << 0
FLAG_IS_COPIED = 1 << 1

#: The newest DLPack we read, passed to producers as ``max_version``.
MAX_VERSION = (1, 0)

_VERSIONED, _LEGACY = b"dltensor_versioned", b"dltensor"
_USED = {True: b"used_dltensor_versioned", False: b"used_dltensor"}

# CPython's C API; PyDLL holds the GIL and raises the Python error a function sets.
_api = ctypes.PyDLL(None)


def _c_function(name: str, restype, argtypes):
    function = _api[name]  # a new function object: these settings never clash with ctypes.pythonapi's
    function.restype, function.argtypes = restype, argtypes
    return function


_capsule_new = _c_function("PyCapsule_New", py_object, (c_void_p, c_char_p, c_void_p))
_capsule_is_valid = _c_function("PyCapsule_IsValid", c_int, (py_object, c_char_p))
_capsule_get_pointer = _c_function("PyCapsule_GetPointer", c_void_p, (py_object, c_char_p))
_capsule_set_name = _c_function("PyCapsule_SetName", c_int, (py_object, c_char_p))

# A capsule keeps a pointer to its name, so the names must outlive every capsule, even those
# freed at interpreter exit after this module is gone: one extra reference each, never dropped.
for _name in (_VERSIONED, _LEGACY, *_USED.values()):
    _c_function("Py_IncRef", None, (py_object,))(_name)

_destructor = None


def to_capsule(managed: int, versioned: bool, copied: bool = False):
    """A capsule that owns the DLPack tensor at ``managed``; ``copied`` sets the versioned
    IS_COPIED flag (the producer made a copy for this export)."""
    global _destructor
    try:
        if _destructor is None:
            _destructor = ctypes.cast(lib.rt_torch_dlpack_capsule_destructor, c_void_p).value
        if versioned and copied:
            DLManagedTensorVersioned.from_address(managed).flags |= FLAG_IS_COPIED
        return _capsule_new(managed, _VERSIONED if versioned else _LEGACY, _destructor)
    except BaseException:
        delete(managed, versioned)
        raise


def delete(managed: int, versioned: bool) -> None:
    """Calls the deleter of the DLPack tensor at ``managed``."""
    tensor = (DLManagedTensorVersioned if versioned else DLManagedTensor).from_address(managed)
    if tensor.deleter:
        tensor.deleter(managed)


def from_capsule(capsule) -> tuple[int, bool]:
    """The DLPack tensor a capsule holds, and whether it is versioned. The capsule keeps it
    until :func:`mark_consumed`."""
    for versioned, name in ((True, _VERSIONED), (False, _LEGACY)):
        if _capsule_is_valid(capsule, name):
            return _capsule_get_pointer(capsule, name), versioned
    if any(_capsule_is_valid(capsule, name) for name in _USED.values()):
        raise BufferError("this DLPack capsule was already consumed: a capsule can be imported once")
    raise TypeError(
        f"expected an object with __dlpack__ or a DLPack capsule ('dltensor' or 'dltensor_versioned'), "
        f"got {type(capsule).__name__}"
    )


def is_read_only(managed: int) -> bool:
    """True if the versioned DLPack tensor at ``managed`` is flagged read-only by its producer."""
    return bool(DLManagedTensorVersioned.from_address(managed).flags & FLAG_READ_ONLY)


def mark_consumed(capsule, versioned: bool) -> None:
    """Renames the capsule as the protocol says, so that its destructor leaves the tensor alone."""
    _capsule_set_name(capsule, _USED[versioned])
