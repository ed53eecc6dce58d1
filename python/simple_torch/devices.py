"""Devices: the CPU and CUDA GPUs by index."""

from __future__ import annotations

import operator
import re

_CUDA_FORM = re.compile(r"cuda(?::(\d+))?")

# DLPack's DLDeviceType codes (dlpack.h) for the devices we have.
_DLPACK_CPU, _DLPACK_CUDA = 1, 2


_ACCEPTED = "'cpu', 'cuda', 'cuda:N', a Device, or an integer code (negative for the CPU, N for cuda:N)"


class Device:
    """Where a tensor lives: the CPU or a CUDA GPU by index. An immutable value: equal devices
    compare and hash equal, ``str`` gives "cpu" or "cuda:N", and it works with ``match``.

    ``Device(value)`` accepts "cpu", "cuda" (cuda:0), "cuda:N", a Device, a ``torch.device``,
    or the ABI's integer codes (negative for the CPU, N for cuda:N); ``Device("cuda", N)`` too.
    Every simple_torch function that takes a device takes any of these.

    Example:
        >>> Device("cuda:1") == Device.cuda(1) == Device(1) == Device("cuda", 1)
        True
        >>> match Device("cuda:1"):
        ...     case Device(kind="cuda", index=i):
        ...         print("GPU", i)
        GPU 1
    """

    __slots__ = ("kind", "index")
    __match_args__ = ("kind", "index")

    kind: str
    index: int | None

    def __init__(self, value="cpu", index=None):
        if index is not None:
            kind, index = _with_index(value, index)
        else:
            kind, index = _parse(value)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name, value):
        raise AttributeError("Device is immutable; make a new one, e.g. Device.cuda(1)")

    def __delattr__(self, name):
        raise AttributeError("Device is immutable")

    def __eq__(self, other):
        if not isinstance(other, Device):
            return NotImplemented
        return (self.kind, self.index) == (other.kind, other.index)

    def __call__(self) -> Device:
        """The device itself: ``x.device`` is a property as in torch, and the seed API's
        ``x.device()`` still works.

        Example:
            >>> st.zeros(1).device() == st.zeros(1).device
            True
        """
        return self

    def __hash__(self):
        return hash((self.kind, self.index))

    def __repr__(self):
        return f"Device(kind={self.kind!r}, index={self.index!r})"

    def __str__(self) -> str:
        return "cpu" if self.kind == "cpu" else f"cuda:{self.index}"


    def __reduce__(self):
        return (Device, (str(self),))

    @classmethod
    def cpu(cls) -> Device:
        """The CPU.

        Example:
            >>> tensor_zeros([2], device=Device.cpu()).device()
            Device(kind='cpu', index=None)
        """
        return _CPU

    @classmethod
    def cuda(cls, index: int = 0) -> Device:
        """The CUDA GPU with this index (whether or not this machine has it).

        Example:
            >>> str(Device.cuda(1))
            'cuda:1'
        """
        return cls("cuda", index)

    @classmethod
    def parse(cls, value) -> Device:
        """The device that ``value`` names, as ``Device(value)`` reads it.

        Example:
            >>> Device.parse("cuda"), Device.parse(0)
            (Device(kind='cuda', index=0), Device(kind='cuda', index=0))
        """
        return value if type(value) is Device else cls(value)

    @property
    def code(self) -> int:
        """The ABI's device code: -1 for the CPU, N for cuda:N.

        Example:
            >>> Device.cuda(2).code
            2
        """
        return -1 if self.kind == "cpu" else self.index

    @classmethod
    def from_code(cls, code: int) -> Device:
        """The device with the ABI's code (-1 the CPU, N cuda:N).

        Example:
            >>> Device.from_code(-1)
            Device(kind='cpu', index=None)
        """
        return cls.parse(code)

    @property
    def dlpack(self) -> tuple[int, int]:
        """The ``(DLDeviceType, index)`` pair of the DLPack protocol (``__dlpack_device__``).

        Example:
            >>> Device.cpu().dlpack, Device.cuda(1).dlpack
            ((1, 0), (2, 1))
        """
        return (_DLPACK_CPU, 0) if self.kind == "cpu" else (_DLPACK_CUDA, self.index)

    @classmethod
    def from_dlpack(cls, dl_device) -> Device:
        """The device of a DLPack ``(DLDeviceType, index)`` pair; other device types raise
        BufferError, as the DLPack protocol asks.

        Example:
            >>> Device.from_dlpack((2, 0))
            Device(kind='cuda', index=0)
        """
        kind, index = (int(part) for part in dl_device)
        if kind == _DLPACK_CPU:
            return cls.cpu()
        if kind == _DLPACK_CUDA and index >= 0:
            return cls.cuda(index)
        raise BufferError(f"DLPack device {tuple(dl_device)} is not supported: simple_torch has the CPU (1, 0) and CUDA (2, N)")


def _with_index(kind, index) -> tuple[str, int]:
    """``Device("cuda", N)``."""
    if kind != "cuda":
        raise ValueError(f"invalid device {kind!r} with index {index!r}: only 'cuda' takes an index; accepted: {_ACCEPTED}")
    try:
        number = None if isinstance(index, bool) else operator.index(index)
    except TypeError:
        number = None
    if number is None or number < 0:
        raise ValueError(f"invalid CUDA device index {index!r}: it must be an integer >= 0")
    return "cuda", number


def _parse(value) -> tuple[str, int | None]:
    """The (kind, index) that a device value names."""
    if type(value) is Device:
        return value.kind, value.index
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "cpu":
            return "cpu", None
        match = _CUDA_FORM.fullmatch(text)
        if match:
            return "cuda", int(match.group(1) or 0)
    elif type(value).__module__ == "torch" and type(value).__name__ == "device":  # without importing torch
        if value.type == "cpu":
            return "cpu", None
        if value.type == "cuda":
            return "cuda", value.index or 0
    elif not isinstance(value, bool):
        try:
            code = operator.index(value)
        except TypeError:
            pass
        else:
            return ("cpu", None) if code < 0 else ("cuda", code)
    raise ValueError(f"invalid device {value!r}; accepted: {_ACCEPTED}")


_CPU = Device("cpu")
