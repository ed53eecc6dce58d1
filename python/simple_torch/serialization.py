"""Checkpoints: ``save`` and ``load`` in PyTorch's own file format, and safetensors files.

``save(obj, f)`` writes what ``torch.save`` writes (its zip format, the default since PyTorch
1.6), so ``torch.load(f, weights_only=True)`` reads it; ``load(f)`` reads what ``torch.save``
wrote, restricted by default as ``torch.load(weights_only=True)`` is. ``save_file`` and
``load_file`` read and write safetensors files, with the ``safetensors`` package.

Example:
    >>> import simple_torch as st
    >>> from simple_torch.serialization import save, load
    >>> save({"w": st.randn(2, 3), "step": 10}, "/tmp/ckpt.pt")
    >>> load("/tmp/ckpt.pt")["w"].shape
    st.Size([2, 3])

The format, as torch/serialization.py writes it: a zip archive (entries stored, not
compressed) whose records all lie in one folder, ``<archive>/``:

- ``data.pkl``: the object, pickled with protocol 2. A tensor is pickled as a call to
  ``torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
  backward_hooks)`` (``_rebuild_tensor_v3``, with the dtype as one more argument, for dtypes
  without a legacy storage class, such as uint16). The storage is a persistent id,
  ``('storage', torch.FloatStorage, key, location, numel)``, whose bytes are the record
  ``data/<key>``: raw, in the byte order that the record ``byteorder`` names, each starting at a
  multiple of 64 bytes in the file (the ``FB`` padding field of the zip's local headers).
  Tensors that are views of one storage share its key, so they still share memory once loaded.
- ``.format_version``, ``.storage_alignment``, ``byteorder``, ``version`` and
  ``.data/serialization_id``: small text records.

Why this module pickles and unpickles in Python, with the standard library's ``zipfile`` and
``pickle``, rather than through libtorch's own pickler (``torch::pickle_save`` /
``torch::jit::pickle_load``): libtorch's loader fails with an internal assert on a real
``model.state_dict()``, an OrderedDict that carries a ``_metadata`` attribute (set by the BUILD
opcode). Pure Python also lets ``load`` restrict what a checkpoint may contain, exactly as
torch's weights-only unpickler does, without importing torch's Python module, which this module
never does.

Every failure to read a checkpoint raises :class:`CheckpointError` (a ``RuntimeError``, as
torch raises) naming the file and what is wrong; a checkpoint that asks for something
weights-only loading does not allow (a function such as ``os.system``) raises its subclass
:class:`UnsafeCheckpointError`, which is also a ``pickle.UnpicklingError``. A missing or
unreadable file raises the ``OSError`` that opening it raises.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import functools
import io
import json
import os
import pickle
import pickletools
import secrets
import struct
import sys
import warnings
import zipfile


from . import ops
from ._tensor import TorchTensorWrapper as Tensor
from .devices import Device
from .dtypes import DType
from .errors import SimpleTorchError
from .size import Size

__all__ = ["CheckpointError", "UnsafeCheckpointError", "load", "load_file", "save", "save_file"]

_aten = ops.aten


class CheckpointError(SimpleTorchError):
    """A checkpoint that cannot be read or written: not a PyTorch checkpoint, truncated or
    corrupt, or holding something simple_torch cannot build. The message names the file.

    Example:
        >>> load("/tmp/notes.txt")  # raises CheckpointError: /tmp/notes.txt: not a PyTorch checkpoint: ...
    """


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """A checkpoint asks for something that weights-only loading does not allow, such as
    calling ``os.system``; the message names it. ``load(f, weights_only=False)`` allows it, if
    you trust the file.

    Example:
        >>> load("evil.pt")  # raises UnsafeCheckpointError: evil.pt: GLOBAL posix.system is not allowed ...
    """


# ---- dtypes and the names torch pickles them under -------------------------------------------

#: The legacy storage classes of torch.save, by dtype (torch.storage._dtype_to_storage_type_map).
_STORAGE_NAMES = {
    DType.float64: "DoubleStorage", DType.float32: "FloatStorage", DType.float16: "HalfStorage",
    DType.int64: "LongStorage", DType.int32: "IntStorage", DType.int16: "ShortStorage",
    DType.int8: "CharStorage", DType.uint8: "ByteStorage", DType.bool: "BoolStorage",
    DType.bfloat16: "BFloat16Storage", DType.complex128: "ComplexDoubleStorage",
    DType.complex64: "ComplexFloatStorage",
}

#: safetensors' dtype codes, by dtype (safetensors has no complex128, complex32 or fnuz types
#: beyond the two below).
_SAFETENSORS_CODES = {
    DType.float64: "F64", DType.float32: "F32", DType.float16: "F16", DType.bfloat16: "BF16",
    DType.int64: "I64", DType.int32: "I32", DType.int16: "I16", DType.int8: "I8", DType.uint8: "U8",
    DType.uint16: "U16", DType.uint32: "U32", DType.uint64: "U64", DType.bool: "BOOL",
    DType.complex64: "C64", DType.float8_e4m3fn: "F8_E4M3", DType.float8_e5m2: "F8_E5M2",
    DType.float8_e4m3fnuz: "F8_E4M3FNUZ", DType.float8_e5m2fnuz: "F8_E5M2FNUZ",
}
_SAFETENSORS_DTYPES = {code: dtype for dtype, code in _SAFETENSORS_CODES.items()}


class _Global:
    """A name that the pickle refers to by GLOBAL (``torch._utils._rebuild_tensor_v2``, ...),
    written without importing the module that defines it."""

    __slots__ = ("module", "name")
    module: str
    name: str
    _cache: dict = {}

    def __new__(cls, module: str, name: str):
        # One object per name, so that the pickler's memo writes each name once.
        key = (module, name)
        if key not in cls._cache:
            instance = object.__new__(cls)
            instance.module, instance.name = module, name
            cls._cache[key] = instance
        return cls._cache[key]

    def __call__(self, *args):  # pickle's save_reduce insists on a callable
        raise TypeError(f"{self.module}.{self.name} is a name written into a checkpoint, not a function")


# ---- saving ----------------------------------------------------------------------------------


def save(obj, f) -> None:
    """Saves ``obj`` (tensors, and dicts, lists, tuples, OrderedDicts, numbers, strings, None
    and bools holding them, nested) to ``f`` in PyTorch's checkpoint format: what
    ``torch.save(obj, f)`` writes, so ``torch.load(f, weights_only=True)`` reads it back.

    ``f`` is a path (str or os.PathLike) or a binary file object open for writing. A path is
    written atomically: to a temporary file in the same folder, flushed to disk, then renamed
    over ``f``, so a failure midway leaves any earlier file as it was.

    Tensors are saved as torch saves them: each tensor's whole storage once, with views keeping
    their offset and strides, so tensors that share memory still share it when loaded; a CUDA
    tensor keeps its device (``load(f, map_location="cpu")`` moves it). Two tensors that view
    the same memory with different dtypes cannot be saved (torch refuses them too); nor can
    objects ``pickle`` cannot pickle, which raise pickle's error before anything is written.
    Other objects are pickled as pickle does, as torch.save does; ``load`` then reads them only
    with ``weights_only=False``.

    Example:
        >>> x = st.arange(6.0).view(2, 3)
        >>> save({"x": x, "row": x[1], "meta": {"epoch": 3}}, "ckpt.pt")
        >>> torch.load("ckpt.pt", weights_only=True)["row"]     # in PyTorch
        tensor([3., 4., 5.])
    """
    if hasattr(f, "write"):
        _write_checkpoint(obj, f, "archive")
        return
    path = os.path.realpath(os.fspath(f))  # through a symlink to its target, as open() would write
    archive = os.path.splitext(os.path.basename(path))[0] or "archive"  # torch's folder name
    _write_atomically(path, lambda file, _: _write_checkpoint(obj, file, archive))


class _SavedStorage:
    """A storage that ``save`` writes: a 1-d tensor over the whole storage (elements of
    ``dtype``), and the fields of its persistent id."""

    def __init__(self, key: str, whole, dtype: DType, numel: int):
        self.key, self.whole, self.dtype, self.numel = key, whole, dtype, numel
        self.location = str(whole.device)

    def persistent_id(self) -> tuple:
        if self.dtype in _STORAGE_NAMES:
            return ("storage", _Global("torch", _STORAGE_NAMES[self.dtype]), self.key, self.location, self.numel)
        # Newer dtypes (uint16, float8, ...) are pickled with an untyped storage: numel is in bytes.
        return ("storage", _Global("torch.storage", "UntypedStorage"), self.key, self.location,
                self.numel * self.dtype.itemsize)

    def as_bytes(self) -> numpy.ndarray:
        """The storage's bytes as a NumPy array (on the CPU; a CUDA storage is copied)."""
        if self.numel == 0:
            import numpy  # here, not at import: stub mode imports simple_torch without NumPy

            return numpy.empty(0, numpy.uint8)
        return _cpu_bytes(self.whole).numpy()


def _cpu_bytes(tensor):
    """A contiguous tensor's memory as a 1-d uint8 tensor on the CPU (shared when it is there).

    The lazy conjugate and negative bits say how to read memory, not what it holds: they are
    cleared (as views) to reach the raw bytes.
    """
    if tensor.is_conj():
        tensor = _aten._conj(tensor)
    if tensor.is_neg():
        tensor = _aten._neg_view(tensor)
    data = _aten.view.dtype(tensor.reshape(-1), DType.uint8)
    return data if data.device.kind == "cpu" else data.cpu()


class _Pickler(pickle._Pickler):
    """The pure-Python pickler (its hooks let tensors and torch's names be written without
    torch), with tensors reduced as torch reduces them and their storages collected."""

    def __init__(self, file):
        super().__init__(file, protocol=2)  # torch.save's protocol; torch's weights-only reader expects it
        self.storages: list = []  # every _SavedStorage, in key order
        self.by_address: dict = {}  # (device, address of a storage's start) -> its _SavedStorage

    def save(self, obj, save_persistent_id=True):
        # A torch name, or a dtype (torch pickles torch.float32 as the global torch.float32).
        if type(obj) is _Global or isinstance(obj, DType):
            module, name = (obj.module, obj.name) if type(obj) is _Global else ("torch", obj.name)
            memo = self.memo.get(id(obj))
            if memo is not None:
                self.write(self.get(memo[0]))
            else:
                self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
                self.memoize(obj)
            return
        super().save(obj, save_persistent_id)

    def persistent_id(self, obj):
        return obj.persistent_id() if type(obj) is _SavedStorage else None

    def reducer_override(self, obj):
        if isinstance(obj, Tensor):
            return self._reduce_tensor(obj)
        if isinstance(obj, Size):  # as torch.Size, which torch's weights-only reader allows
            return _Global("torch", "Size"), (tuple(obj),)
        if isinstance(obj, Device):
            return _Global("torch", "device"), (obj.kind,) if obj.index is None else (obj.kind, obj.index)
        if type(obj) is bytes:
            # Protocol 2 pickles b"" as builtins.bytes(), which torch's weights-only reader
            # refuses; _codecs.encode, as pickle writes other bytes, it allows.
            return _Global("_codecs", "encode"), (obj.decode("latin-1"), "latin1")
        return NotImplemented

    def _reduce_tensor(self, tensor):
        """``(rebuild function, arguments)`` for a tensor, as torch's ``Tensor.__reduce_ex__``."""
        data = _aten.detach(tensor)  # a plain tensor with no autograd history, sharing the memory
        dtype, size, stride = data.dtype, tuple(data.shape), tuple(data.stride())
        storage, offset = self._storage_of(data)
        requires_grad = getattr(tensor, "requires_grad", False)
        requires_grad = bool(requires_grad) if isinstance(requires_grad, int) else False  # absent or a method: False
        args = (storage, offset, size, stride, requires_grad, collections.OrderedDict())
        if dtype in _STORAGE_NAMES:
            rebuild = _Global("torch._utils", "_rebuild_tensor_v2")
        else:
            rebuild, args = _Global("torch._utils", "_rebuild_tensor_v3"), args + (dtype,)
        metadata = {name: True for name, flag in (("conj", data.is_conj()), ("neg", data.is_neg())) if flag}
        if metadata:
            args += (metadata,)
        parameter = _parameter_class()
        if parameter is not None and isinstance(tensor, parameter):
            # As torch pickles an nn.Parameter: its data (without requires_grad) inside.
            state = dict(vars(tensor))
            if state:
                return _Global("torch._utils", "_rebuild_parameter_with_state"), (
                    data, requires_grad, collections.OrderedDict(), state)
            return _Global("torch._utils", "_rebuild_parameter"), (data, requires_grad, collections.OrderedDict())
        return rebuild, args

    def _storage_of(self, data):
        """The _SavedStorage holding ``data``'s memory, and ``data``'s offset in it (elements):
        tensors over one storage (the same ``untyped_storage()``) get one key, as torch gives
        them."""
        dtype = data.dtype
        if data.numel() == 0:
            # Nothing to read: an empty storage of its own (torch would write the whole storage).
            return self._new_storage(data, dtype, 0), 0
        memory = data.untyped_storage()
        # Two storages can start at one address (tensors over overlapping NumPy arrays): the
        # size tells them apart, and each gets a key of its own, as torch gives them.
        address = (str(data.device), memory.data_ptr(), memory.nbytes())
        storage = self.by_address.get(address)
        if storage is not None and storage.dtype != dtype:
            raise CheckpointError(
                f"cannot save tensors that view the same memory as different dtypes ({storage.dtype} "
                f"and {dtype}), as torch cannot: clone one of them first"
            )
        if storage is None:
            storage = self.by_address[address] = self._new_storage(data, dtype, memory.nbytes() // dtype.itemsize)
        return storage, _aten.sym_storage_offset(data)

    def _new_storage(self, data, dtype: DType, numel: int) -> _SavedStorage:
        whole = _aten.as_strided(data, [numel], [1], 0)
        storage = _SavedStorage(str(len(self.storages)), whole, dtype, numel)
        self.storages.append(storage)
        return storage


@functools.cache  # asked for each tensor saved: a missing module is looked for once
def _parameter_class():
    """simple_torch's ``nn.Parameter`` class, or None where this build has none."""
    try:
        from .nn.parameter import Parameter
    except ImportError:
        return None
    return Parameter


def _write_checkpoint(obj, file, archive: str) -> None:
    """Pickles ``obj``, then writes the zip archive with its records to ``file``."""
    pickled = io.BytesIO()
    pickler = _Pickler(pickled)
    pickler.dump(obj)  # first, so that an object pickle cannot pickle fails before any write
    stream = _ForwardOnly(file)
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive_file:
        def record(name: str, data) -> None:
            _write_record(archive_file, f"{archive}/{name}", data)

        record("data.pkl", pickled.getbuffer())
        record(".format_version", b"1")
        record(".storage_alignment", b"64")
        record("byteorder", sys.byteorder.encode())
        for storage in pickler.storages:
            record(f"data/{storage.key}", storage.as_bytes())
        record("version", b"3\n")
        record(".data/serialization_id", f"{secrets.randbits(128):040d}".encode())


class _ForwardOnly:
    """A file that zipfile cannot seek in, so that it writes each record as torch's writer
    (miniz) does: the local header without sizes, the data, then a 16-byte data descriptor with
    the CRC-32 and sizes. torch.load can then find records by computing their offsets
    (torch.utils.serialization.config.load.calculate_storage_offsets), which assumes that layout."""

    def __init__(self, file):
        self.file = file
        try:
            self.position = file.tell()
        except (AttributeError, OSError):
            self.position = 0

    def write(self, data) -> int:
        written = self.file.write(data)
        self.position += memoryview(data).nbytes
        return written

    def tell(self) -> int:
        return self.position

    def seek(self, *args):
        raise io.UnsupportedOperation("seek")

    def flush(self) -> None:
        self.file.flush()


def _write_record(archive_file: zipfile.ZipFile, name: str, data) -> None:
    """Writes one stored record whose data starts at a multiple of 64 bytes in the file, as
    torch's writer aligns them (so that torch.load(mmap=True) can map tensors in place)."""
    data = memoryview(data).cast("B")
    info = zipfile.ZipInfo(name)  # dated 1980-01-01, as torch's records are
    info.compress_type = zipfile.ZIP_STORED
    # Records over 2 GiB need zip64, whose 20-byte field zipfile appends to the local header;
    # asking for it explicitly makes the header's size known here.
    zip64 = data.nbytes > zipfile.ZIP64_LIMIT
    header = 30 + len(name.encode()) + 4 + (20 if zip64 else 0)  # fixed part, name, our field's head
    padding = -(archive_file.fp.tell() + header) % 64  # zipfile writes the header at fp.tell()
    info.extra = b"FB" + struct.pack("<H", padding) + b"Z" * padding  # torch's padding field
    with archive_file.open(info, "w", force_zip64=zip64) as out:
        out.write(data)


def _write_atomically(path: str, write) -> None:
    """Calls ``write(file, temporary_path)`` for a new temporary file next to ``path``, makes
    it durable (fsync), then renames it over ``path``; on any failure the temporary file is
    removed and ``path`` is left as it was."""
    folder, base = os.path.split(path)
    temporary = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never someone else's file; mode 0o666 lets the umask decide, as open() does.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file, temporary)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    """Makes a rename in ``folder`` durable (POSIX; elsewhere there is nothing to do)."""
    try:
        descriptor = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# ---- loading ---------------------------------------------------------------------------------


def load(f, map_location=None, weights_only: bool = True):
    """Loads a checkpoint that ``torch.save`` (or :func:`save`) wrote, with its tensors as
    simple_torch tensors: dicts, OrderedDicts (a ``state_dict()`` keeps its ``_metadata``),
    lists, tuples, numbers, strings and the like, as they were saved. Tensors that shared memory
    when saved share it again.

    ``f`` is a path or a binary file object. ``map_location`` says where tensors go, as in
    torch: None (where they were saved), a device ("cpu", "cuda:0", a Device), a dict mapping
    saved locations to new ones ({"cuda:1": "cuda:0"}), or a function ``(storage, location)``
    that returns the storage (a 1-d uint8 tensor of its bytes, on the CPU) moved, or None for
    the default. Tensors are read on the CPU, then moved.

    ``weights_only=True`` (the default, as in torch) allows only what torch's weights-only
    loading allows: tensors, containers, numbers, strings, dtypes, sizes and devices; anything
    else, such as a function call ``os.system(...)``, raises :class:`UnsafeCheckpointError`
    naming it. ``weights_only=False`` unpickles other objects as ``pickle`` does, importing and
    running their code: only for files you trust. Objects of torch's own Python classes (a
    pickled ``nn.Module``) cannot be built without torch either way.

    Raises :class:`CheckpointError` naming the file for anything wrong with it: not a
    checkpoint, truncated, corrupt (each record's CRC-32 is checked), a storage missing or too
    short, the old pre-zip torch.save format, or a TorchScript archive.

    Example:
        >>> state = load("resnet18.pth")                        # torch.save(model.state_dict(), ...)
        >>> list(state)[:2], state["conv1.weight"].shape
        (['conv1.weight', 'bn1.weight'], st.Size([64, 3, 7, 7]))
        >>> state = load("trained_on_gpu.pt", map_location="cpu")
    """
    if hasattr(f, "read"):
        return _load_from(f, _name_of(f), map_location, weights_only)
    path = os.fspath(f)
    with open(path, "rb") as file:
        return _load_from(file, path if isinstance(path, str) else os.fsdecode(path), map_location, weights_only)


def _name_of(file) -> str:
    name = getattr(file, "name", None)
    return name if isinstance(name, str) else f"<{type(file).__name__}>"


def _load_from(file, name: str, map_location, weights_only: bool):
    if not file.seekable():  # zipfile seeks: a pipe or a socket is read whole first
        file = io.BytesIO(file.read())
    with _Reader(file, name) as reader:
        unpickler_class = _WeightsOnlyUnpickler if weights_only else _Unpickler
        unpickler = unpickler_class(io.BytesIO(reader.read_record("data.pkl")), reader, map_location)
        try:
            return unpickler.load()
        except (CheckpointError, MemoryError):
            raise
        except _Malformed as error:
            raise CheckpointError(f"{name}: not a valid checkpoint: {error}") from None
        except Exception as error:  # whatever a corrupt data.pkl makes pickle or libtorch raise
            raise CheckpointError(f"{name}: not a valid checkpoint: {type(error).__name__}: {error}") from error


class _Reader:
    """The records of one checkpoint archive; reading one checks its CRC-32."""

    _CHUNK = 16 << 20  # bytes read at a time into a storage

    def __init__(self, file, name: str):
        self.name = name
        start = file.tell()
        head = file.read(64)
        self.size = file.seek(0, os.SEEK_END)
        file.seek(start)
        if not head:
            self.fail("the file is empty")
        if head.startswith(b"\x80") and b"\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19" in head:
            # The pickled magic number that starts torch.save's format of before PyTorch 1.6.
            raise CheckpointError(
                f"{name}: this checkpoint is in torch.save's legacy format (written with "
                "_use_new_zipfile_serialization=False or by PyTorch before 1.6), which simple_torch "
                "does not read: load it in PyTorch and save it again"
            )
        try:
            self.zip = zipfile.ZipFile(file)
        except Exception as error:  # BadZipFile mostly; a corrupt directory can make it raise others
            if not head.startswith(b"PK"):
                self.fail("the file is not a zip archive")
            self.fail(f"the file is truncated or corrupt ({type(error).__name__}: {error})")
        names = self.zip.namelist()
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            raise CheckpointError(
                f"{name}: this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; "
                "simple_torch reads torch.save checkpoints only"
            )
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pickles:
            self.fail("the zip archive has no <archive>/data.pkl record")
        self.prefix = pickles[0][: -len("data.pkl")]  # torch's records all lie in this folder
        self.byteorder = "little"  # torch's default for checkpoints without the record
        if self.has_record("byteorder"):
            self.byteorder = self.read_record("byteorder").decode("ascii", "replace")
            if self.byteorder not in ("little", "big"):
                self.fail(f"its byteorder record says {self.byteorder!r}, not 'little' or 'big'")

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.zip.close()

    def fail(self, reason: str):
        raise CheckpointError(f"{self.name}: not a PyTorch checkpoint: {reason}")

    def has_record(self, record: str) -> bool:
        return self.prefix + record in self.zip.NameToInfo

    def info(self, record: str) -> zipfile.ZipInfo:
        try:
            info = self.zip.getinfo(self.prefix + record)
        except KeyError:
            raise CheckpointError(f"{self.name}: the checkpoint has no record {self.prefix + record}") from None
        # Checked before reading, so that no size a corrupt directory claims is ever allocated.
        if info.header_offset + info.compress_size > self.size:
            raise CheckpointError(
                f"{self.name}: record {info.filename} claims {info.compress_size} bytes beyond the end of "
                f"the {self.size}-byte file (the file is truncated or corrupt)"
            )
        return info

    def read_record(self, record: str) -> bytes:
        info = self.info(record)
        try:
            return self.zip.read(info)
        except Exception as error:  # BadZipFile ("Bad CRC-32"), EOFError, zlib.error, ...
            raise self.corrupt(info, error) from error

    def read_storage(self, key: str, nbytes: int) -> numpy.ndarray:
        """The first ``nbytes`` bytes of record ``data/<key>``, in a new writable array."""
        info = self.info(f"data/{key}")
        if info.file_size < nbytes:
            raise CheckpointError(
                f"{self.name}: storage {info.filename} holds {info.file_size} bytes, but the checkpoint's "
                f"tensors need {nbytes}"
            )
        import numpy

        array = numpy.empty(nbytes, numpy.uint8)
        view = memoryview(array)
        try:
            with self.zip.open(info) as source:
                done = 0
                while done < nbytes:
                    chunk = source.read(min(self._CHUNK, nbytes - done))
                    if not chunk:
                        raise EOFError("the record ends early")
                    view[done : done + len(chunk)] = chunk
                    done += len(chunk)
                while source.read(self._CHUNK):  # to the record's end, where zipfile checks its CRC-32
                    pass
        except Exception as error:
            raise self.corrupt(info, error) from error
        return array

    def corrupt(self, info: zipfile.ZipInfo, error: Exception) -> CheckpointError:
        return CheckpointError(
            f"{self.name}: record {info.filename} is corrupt or truncated: {type(error).__name__}: {error}"
        )


class _Malformed(Exception):
    """Something in data.pkl that is not what torch writes; load() names the file."""


class _StorageType:
    """A torch storage class named in a checkpoint (``torch.FloatStorage``, or with dtype None,
    ``torch.UntypedStorage``)."""

    def __init__(self, dtype: DType | None):
        self.dtype = dtype


class _LoadedStorage:
    """A storage read from a checkpoint: its bytes as a 1-d uint8 tensor, on its device."""

    def __init__(self, data, dtype: DType | None):
        self.data, self.dtype = data, dtype

    def typed(self, dtype: DType):
        """The storage's elements as a 1-d tensor of ``dtype``, sharing its memory."""
        nbytes = self.data.numel()
        if nbytes == 0:  # (aten's empty takes every dtype; the typed factories only twelve)
            return _aten.empty.memory_format([0], dtype=dtype, device=str(self.data.device))
        whole = self.data[: nbytes - nbytes % dtype.itemsize]  # view.dtype needs whole elements
        return whole if dtype is DType.uint8 else _aten.view.dtype(whole, dtype)


class _Unpickler(pickle._Unpickler):
    """Unpickles data.pkl with torch's names mapped to simple_torch's: storages come from the
    archive, tensors are rebuilt over them. Other globals are imported as pickle does
    (``weights_only=False``)."""

    def __init__(self, file, reader: _Reader, map_location):
        super().__init__(file, encoding="utf-8")
        self.reader, self.map_location = reader, map_location
        self.storages: dict = {}

    def find_class(self, module: str, name: str):
        # Python 2 names (__builtin__.set), as both pickle and torch's reader map them.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        full = f"{module}.{name}"
        if full in _GLOBALS:
            return _GLOBALS[full]
        if full in _TORCH_ONLY:
            raise CheckpointError(f"{self.reader.name}: the checkpoint holds {_TORCH_ONLY[full]} ({full}), "
                                  "which simple_torch cannot build")
        self.check_global(full)
        if module == "torch" or module.startswith("torch."):
            raise CheckpointError(
                f"{self.reader.name}: the checkpoint holds {full}, an object of torch's Python API that "
                "simple_torch cannot build without torch (save model.state_dict() rather than the model)"
            )
        return super().find_class(module, name)

    def check_global(self, full: str) -> None:
        """Unrestricted loading imports any other global, as pickle does."""

    def persistent_load(self, pid):
        if type(pid) is not tuple or len(pid) != 5 or _ascii(pid[0]) != "storage":
            raise UnsafeCheckpointError(f"{self.reader.name}: persistent id {pid!r} is not a storage")
        _, storage_type, key, location, numel = pid
        location = _ascii(location)
        if (type(storage_type) is not _StorageType or type(key) is not str or type(location) is not str
                or type(numel) is not int or numel < 0):
            raise CheckpointError(f"{self.reader.name}: malformed storage id {pid!r}")
        if key not in self.storages:
            itemsize = 1 if storage_type.dtype is None else storage_type.dtype.itemsize
            array = self.reader.read_storage(key, numel * itemsize)
            if self.reader.byteorder != sys.byteorder and itemsize > 1:  # as torch byteswaps, by element
                unit = itemsize // 2 if storage_type.dtype.is_complex else itemsize
                array.view(f"u{unit}").byteswap(inplace=True)
            data = Tensor.from_numpy(array)  # shares the array's memory
            self.storages[key] = _LoadedStorage(self.place(data, location), storage_type.dtype)
        return self.storages[key]

    def place(self, data, location: str):
        """The storage's bytes on the device that ``map_location`` chooses for ``location``."""
        target = self.map_location
        if callable(target) and not isinstance(target, (str, Device)):
            moved = target(data, location)
            if moved is not None:
                if not isinstance(moved, Tensor) or moved.dtype != DType.uint8 or moved.numel() != data.numel():
                    raise CheckpointError(f"{self.reader.name}: map_location returned a {type(moved).__name__}, "
                                          "not the storage it was given, moved")
                return moved
            target = None
        if isinstance(target, dict):
            target = target.get(location, location)
        if target is None:
            target = location
        try:
            device = Device(target.decode() if isinstance(target, bytes) else target)
        except (TypeError, ValueError) as error:
            raise CheckpointError(
                f"{self.reader.name}: cannot place a storage saved on {location!r} on {target!r}: {error} "
                "(pass map_location='cpu')"
            ) from None
        if device.kind == "cpu":
            return data
        try:
            return data.to(device)
        except SimpleTorchError as error:
            raise CheckpointError(
                f"{self.reader.name}: the checkpoint has tensors on {location}, and moving them to {device} "
                f"failed: {error} (pass map_location='cpu' to load them on the CPU)"
            ) from error


class _Opcodes(dict):
    """A dispatch table that refuses the opcodes it lacks, naming them."""

    def __missing__(self, code: int):
        def refuse(unpickler):
            unpickler.refuse(f"pickle opcode {_OPCODE_NAMES.get(code, hex(code))}")

        return refuse


_OPCODE_NAMES = {ord(opcode.code): opcode.name for opcode in pickletools.opcodes}

#: The opcodes torch's weights-only unpickler reads (those of protocol 2 that torch.save
#: writes). Others are refused, as torch refuses them: some (BYTEARRAY8) would allocate
#: whatever size a damaged or hostile file claims before reading it.
_WEIGHTS_ONLY_OPCODES = {
    pickle.GLOBAL, pickle.NEWOBJ, pickle.REDUCE, pickle.BUILD, pickle.APPEND, pickle.APPENDS,
    pickle.SETITEM, pickle.SETITEMS, pickle.MARK, pickle.TUPLE, pickle.TUPLE1, pickle.TUPLE2,
    pickle.TUPLE3, pickle.NONE, pickle.NEWFALSE, pickle.NEWTRUE, pickle.EMPTY_TUPLE,
    pickle.EMPTY_LIST, pickle.EMPTY_DICT, pickle.EMPTY_SET, pickle.BININT, pickle.BININT1,
    pickle.BININT2, pickle.BINFLOAT, pickle.BINUNICODE, pickle.SHORT_BINSTRING, pickle.BINPERSID,
    pickle.BINGET, pickle.LONG_BINGET, pickle.BINPUT, pickle.LONG_BINPUT, pickle.LONG1,
    pickle.PROTO, pickle.STOP,
}


class _WeightsOnlyUnpickler(_Unpickler):
    """As torch's weights-only unpickler: only the opcodes and globals that torch allows by
    default, calls only to those, BUILD only on an OrderedDict (a state_dict's ``_metadata``),
    items only into lists and dicts."""

    dispatch = _Opcodes({code: load for code, load in _Unpickler.dispatch.items()
                         if bytes([code]) in _WEIGHTS_ONLY_OPCODES})

    def check_global(self, full: str) -> None:
        raise UnsafeCheckpointError(
            f"{self.reader.name}: GLOBAL {full} is not allowed when loading with weights_only=True "
            "(torch refuses it too); if you trust this file, load it with weights_only=False"
        )

    def refuse(self, what: str):
        raise UnsafeCheckpointError(f"{self.reader.name}: {what} is not allowed when loading with weights_only=True")

    def load_reduce(self):
        if not _is_safe_callable(self.stack[-2]):
            self.refuse(f"calling {self.stack[-2]!r}")
        super().load_reduce()

    def load_newobj(self):
        if not _is_safe_callable(self.stack[-2]) or not isinstance(self.stack[-2], type):
            self.refuse(f"creating an object of {self.stack[-2]!r}")
        super().load_newobj()

    def load_build(self):
        state, target = self.stack[-1], self.stack[-2]
        if type(target) is not collections.OrderedDict or type(state) is not dict:
            self.refuse(f"BUILD of a {type(target).__name__} with a {type(state).__name__}")
        target.__dict__.update(state)  # as torch's: how a state_dict gets its _metadata back
        self.stack.pop()

    def _check_target(self, kinds, opcode: str, target):
        if type(target) not in kinds:
            self.refuse(f"{opcode} into a {type(target).__name__}")

    def load_append(self):
        self._check_target((list,), "APPEND", self.stack[-2])
        super().load_append()

    def load_appends(self):
        self._check_target((list,), "APPENDS", self.metastack[-1][-1])
        super().load_appends()

    def load_setitem(self):
        self._check_target((dict, collections.OrderedDict, collections.Counter), "SETITEM", self.stack[-3])
        super().load_setitem()

    def load_setitems(self):
        self._check_target((dict, collections.OrderedDict, collections.Counter), "SETITEMS", self.metastack[-1][-1])
        super().load_setitems()

    for _opcode, _method in (
        (pickle.REDUCE, load_reduce), (pickle.NEWOBJ, load_newobj), (pickle.BUILD, load_build),
        (pickle.APPEND, load_append), (pickle.APPENDS, load_appends), (pickle.SETITEM, load_setitem),
        (pickle.SETITEMS, load_setitems),
    ):
        dispatch[_opcode[0]] = _method
    del _opcode, _method


def _ascii(value):
    return value.decode("ascii") if isinstance(value, bytes) else value


# ---- what a checkpoint may name, and the functions it may call -------------------------------


def _check_geometry(storage, offset, size, stride):
    if not isinstance(storage, _LoadedStorage):
        raise _Malformed(f"a tensor's storage is a {type(storage).__name__}, not a storage")
    if not (_is_int_sequence(size) and _is_int_sequence(stride) and type(offset) is int):
        raise _Malformed(f"malformed tensor: offset {offset!r}, size {size!r}, stride {stride!r}")


def _is_int_sequence(value) -> bool:
    return isinstance(value, (tuple, list)) and all(type(n) is int for n in value)


def _rebuild_tensor(storage, storage_offset, size, stride, dtype=None):
    """torch._utils._rebuild_tensor: a view of ``storage`` (with the storage's dtype)."""
    _check_geometry(storage, storage_offset, size, stride)
    dtype = dtype if dtype is not None else storage.dtype if storage.dtype is not None else DType.uint8
    return _aten.as_strided(storage.typed(dtype), list(size), list(stride), storage_offset)


def _finish(tensor, requires_grad, metadata):
    """Sets the lazy conjugate and negative bits and requires_grad that torch saved."""
    if metadata:
        if not isinstance(metadata, dict):
            raise _Malformed(f"malformed tensor metadata {metadata!r}")
        if metadata.get("conj"):
            tensor = _aten._conj(tensor)
        if metadata.get("neg"):
            tensor = _aten._neg_view(tensor)
    if requires_grad:
        _set_requires_grad(tensor)
    return tensor


def _set_requires_grad(tensor) -> None:
    # Only once simple_torch's autograd gives tensors a settable requires_grad, as torch's.
    attribute = getattr(type(tensor), "requires_grad", None)
    if isinstance(attribute, property) and attribute.fset is not None:
        tensor.requires_grad = True


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    """torch._utils._rebuild_tensor_v2 (backward hooks are never saved by torch; ignored)."""
    return _finish(_rebuild_tensor(storage, storage_offset, size, stride), requires_grad, metadata)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None):
    """torch._utils._rebuild_tensor_v3: the dtype comes as an argument (an untyped storage)."""
    if not isinstance(dtype, DType):
        raise _Malformed(f"malformed tensor: dtype {dtype!r}")
    return _finish(_rebuild_tensor(storage, storage_offset, size, stride, dtype), requires_grad, metadata)


def _parameter(data, requires_grad, state=None):
    """A simple_torch ``nn.Parameter`` over ``data`` where that class exists (else ``data``
    itself, with requires_grad), with the Python attributes torch saved."""
    if not isinstance(data, Tensor):
        raise _Malformed(f"a Parameter's data is a {type(data).__name__}, not a tensor")
    Parameter = _parameter_class()
    if Parameter is None:
        if requires_grad:
            _set_requires_grad(data)
        if state:
            warnings.warn(f"a Parameter's attributes {sorted(state)} were dropped (simple_torch has no nn.Parameter)",
                          stacklevel=2)
        return data
    parameter = Parameter(data, bool(requires_grad))
    for name, value in (state or {}).items():
        setattr(parameter, name, value)
    return parameter


def _rebuild_parameter(data, requires_grad, backward_hooks):
    """torch._utils._rebuild_parameter."""
    return _parameter(data, requires_grad)


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    """torch._utils._rebuild_parameter_with_state: a Parameter with Python attributes."""
    if state is not None and not isinstance(state, dict):
        raise _Malformed(f"malformed Parameter state {state!r}")
    return _parameter(data, requires_grad, state)


class _TorchTensorClass:
    """``torch.Tensor`` as named in a checkpoint (only as _rebuild_from_type_v2's type)."""


def _rebuild_from_type_v2(func, new_type, args, state):
    """torch._tensor._rebuild_from_type_v2: a tensor that carried Python attributes, which a
    simple_torch tensor cannot hold (dropped with a warning)."""
    if func not in (_rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter) or new_type is not _TorchTensorClass:
        raise _Malformed(f"tensor subclass {new_type!r} rebuilt by {func!r} is not supported")
    if not isinstance(args, tuple):
        raise _Malformed(f"malformed tensor arguments {args!r}")
    tensor = func(*args)
    if state:
        names = sorted(state) if isinstance(state, dict) else state
        warnings.warn(f"a tensor's Python attributes {names} were dropped (simple_torch tensors have none)",
                      stacklevel=2)
    return tensor


def _encode(text, encoding="latin1"):
    """_codecs.encode as pickle uses it for bytes; only latin-1, which is all pickle writes."""
    if type(text) is not str or encoding not in ("latin1", "latin-1"):
        raise _Malformed(f"_codecs.encode({text!r:.40}, {encoding!r}) is not how pickle writes bytes")
    return codecs.encode(text, "latin1")


def _bytearray(*args):
    """builtins.bytearray as pickle uses it (from latin-1 text, or bytes): never ``bytearray(n)``,
    which a hostile file could use to allocate any amount of memory."""
    if not all(isinstance(arg, (str, bytes)) for arg in args):
        raise _Malformed(f"bytearray{args!r:.60} is not how pickle writes a bytearray")
    return bytearray(*args)


def _device(*args):
    """torch.device as pickled: ("cpu",), ("cuda", 0) or ("cuda:0",)."""
    return Device(*args)


#: The globals a checkpoint may name, as torch's weights-only unpickler allows them by default
#: (torch/_weights_only_unpickler.py, _get_allowed_globals), each as what simple_torch builds.
_GLOBALS = {
    "collections.OrderedDict": collections.OrderedDict,
    "collections.Counter": collections.Counter,
    "builtins.set": set,
    "builtins.complex": complex,
    "builtins.bytearray": _bytearray,
    "_codecs.encode": _encode,
    "torch.Size": Size,
    "torch.device": _device,
    "torch.Tensor": _TorchTensorClass,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter_with_state,
    "torch.UntypedStorage": _StorageType(None),
    "torch.storage.UntypedStorage": _StorageType(None),
    **{f"torch.{dtype.name}": dtype for dtype in DType},  # torch.float32, ...
    **{f"{module}.{name}": _StorageType(dtype)  # torch.FloatStorage, and torch.cuda's in old checkpoints
       for dtype, name in _STORAGE_NAMES.items() for module in ("torch", "torch.cuda")},
}

#: The functions among them that a checkpoint may call (REDUCE, NEWOBJ).
_SAFE_CALLABLES = {id(value): value for value in _GLOBALS.values()
                   if callable(value) and not isinstance(value, (DType, _StorageType)) and value is not _TorchTensorClass}


def _is_safe_callable(value) -> bool:
    return _SAFE_CALLABLES.get(id(value)) is value


#: Globals torch allows that simple_torch cannot build, and what they are.
_TORCH_ONLY = {
    **{f"torch._utils.{name}": what for name, what in (
        ("_rebuild_sparse_tensor", "a sparse tensor"), ("_rebuild_qtensor", "a quantized tensor"),
        ("_rebuild_nested_tensor", "a nested tensor"), ("_rebuild_meta_tensor_no_storage", "a meta tensor"),
        ("_rebuild_wrapper_subclass", "a tensor subclass"), ("_rebuild_device_tensor_from_cpu_tensor",
                                                             "a tensor of an XLA-like device"),
        ("_rebuild_device_tensor_from_numpy", "a tensor of an XLA-like device"),
    )},
    "torch.serialization._get_layout": "a sparse tensor layout",
    "torch.nn.parameter.Parameter": "an nn.Parameter created by NEWOBJ",
    **{f"torch.{name}": "a quantized storage" for name in
       ("QInt8Storage", "QInt32Storage", "QUInt8Storage", "QUInt4x2Storage", "QUInt2x4Storage")},
    **{f"torch.{name}": f"the dtype torch.{name}" for name in (
        "qint8", "qint32", "quint8", "quint4x2", "quint2x4", "float8_e8m0fnu", "float4_e2m1fn_x2", "bits8",
        "bits16", "bits1x8", "bits2x4", "bits4x2", *(f"uint{n}" for n in range(1, 8)),
        *(f"int{n}" for n in range(1, 8)))},
    **{f"torch.{name}": "a quantization scheme" for name in (
        "per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
        "per_channel_affine_float_qparams")},
}


# ---- safetensors -----------------------------------------------------------------------------


def save_file(tensors: dict, filename, metadata: dict | None = None) -> None:
    """Saves a dict of named tensors as a safetensors file, with the ``safetensors`` package
    (as ``safetensors.torch.save_file``, whose ``load_file`` reads it), atomically as
    :func:`save`. ``metadata`` is an optional dict of strings stored in the header.

    Each tensor is written contiguously, from the CPU (a CUDA tensor is copied); tensors that
    share memory are each written whole (safetensors has no views). safetensors has no
    complex128 or complex32: those raise CheckpointError.

    Example:
        >>> save_file({"w": st.randn(4, 4), "b": st.zeros(4)}, "model.safetensors", {"format": "pt"})
        >>> safetensors.torch.load_file("model.safetensors")["b"]     # in PyTorch
        tensor([0., 0., 0., 0.])
    """
    import safetensors

    if not isinstance(tensors, dict):
        raise TypeError(f"save_file needs a dict of name -> tensor, got {type(tensors).__name__}")
    specs, keep_alive = {}, []
    for name, tensor in tensors.items():
        if not isinstance(name, str) or not isinstance(tensor, Tensor):
            raise TypeError(f"save_file needs str names and simple_torch tensors, got {name!r}: {type(tensor).__name__}")
        if tensor.dtype not in _SAFETENSORS_CODES:
            raise CheckpointError(f"{os.fspath(filename)}: safetensors has no {tensor.dtype} type (tensor {name!r})")
        # safetensors has no lazy conjugate or negative bit: materialize them, then the bytes.
        data = _cpu_bytes(_aten.resolve_neg(_aten.resolve_conj(_aten.detach(tensor))).contiguous())
        keep_alive.append(data)  # the package reads the memory by address: keep it alive until written
        specs[name] = safetensors.TensorSpec(
            dtype=tensor.dtype.name, shape=list(tensor.shape), data_ptr=int(data.data_ptr), data_len=data.numel(),
        )

    def write(file, temporary: str) -> None:
        # The package writes by path, into our temporary file (truncating it, so the same
        # file, which _write_atomically then fsyncs through ``file``).
        safetensors.serialize_file(specs, temporary, metadata=metadata)

    _write_atomically(os.path.realpath(os.fspath(filename)), write)


def load_file(filename, device="cpu") -> dict:
    """Loads a safetensors file as a dict of named tensors (in the file's order), on
    ``device``. On the CPU the tensors map the file without copying it: each is a copy-on-write
    memory map of its bytes, so loading is instant, memory is only used for what is written
    to, and writes never reach the file. Other devices get a copy of each tensor.

    Example:
        >>> state = load_file("model.safetensors")               # safetensors.torch.save_file wrote it
        >>> state["w"].dtype, state["w"].shape
        (<DType.bfloat16: 15>, st.Size([4, 4]))
    """
    from safetensors import safe_open

    path = os.fspath(filename)
    name = path if isinstance(path, str) else os.fsdecode(path)
    size = os.stat(path).st_size  # a missing file raises FileNotFoundError, as for load()
    try:
        # The package validates the header (sizes, offsets, overlaps); it has no way to give
        # tensors without copying them (its numpy arrays are copies), so the bytes are mapped
        # here, at the offsets the header gives.
        with safe_open(path, framework="numpy") as opened:
            names = opened.offset_keys()
        with open(path, "rb") as file:
            (header_size,) = struct.unpack("<Q", file.read(8))
            header = json.loads(file.read(header_size))
    except Exception as error:
        raise CheckpointError(f"{name}: not a valid safetensors file: {type(error).__name__}: {error}") from error
    start = 8 + header_size
    import numpy

    mapped = numpy.memmap(path, dtype=numpy.uint8, mode="c") if size > start else numpy.empty(0, numpy.uint8)
    target = Device(device)
    tensors = {}
    for key in names:
        entry = header.get(key)
        try:
            dtype = _SAFETENSORS_DTYPES[entry["dtype"]]
            shape = [int(n) for n in entry["shape"]]
            begin, end = (start + int(n) for n in entry["data_offsets"])
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"{name}: tensor {key!r}: unsupported or malformed entry {entry!r} ({error})") from None
        numel = 1
        for n in shape:
            numel *= n
        if end - begin != numel * dtype.itemsize or not start <= begin <= end <= size:
            raise CheckpointError(f"{name}: tensor {key!r}: its bytes {begin}..{end} do not fit its shape or the file")
        raw = mapped[begin:end]
        if begin % dtype.itemsize:
            raw = raw.copy()  # a misaligned element address: libtorch's kernels assume alignment
        tensors[key] = _tensor_from_bytes(raw, dtype, shape, target)
    return tensors


def _tensor_from_bytes(raw: numpy.ndarray, dtype: DType, shape: list, device: Device):
    """A tensor of ``dtype`` and ``shape`` over the bytes of ``raw`` (shared on the CPU, else
    copied to ``device``: as uint8 bytes, which every path of the library moves)."""
    if raw.size == 0:
        return _aten.empty.memory_format(shape, dtype=dtype, device=str(device))
    data = Tensor.from_numpy(raw)
    if device.kind != "cpu":
        data = data.to(device)
    typed = data if dtype is DType.uint8 else _aten.view.dtype(data, dtype)
    return typed.view(shape)
