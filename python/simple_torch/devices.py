"""Devices: the CPU and CUDA GPUs by index."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CUDA_FORM = re.compile(r"cuda(?::(\d+))?")

# DLPack's DLDeviceType codes (dlpack.h) for the devices we have.
_DLPACK_CPU, _DLPACK_CUDA = 1, 2


@dataclass(frozen=True)
class Device:
    """Where a tensor lives: ``Device("cpu")`` or ``Device("cuda", index)``.

    Example:
        >>> Device.parse("cuda:1")
        Device(kind='cuda', index=1)
        >>> str(Device.cpu()), Device.parse(-1) == Device.cpu()
        ('cpu', True)
    """

    kind: str
    index: int | None = None

    def __post_init__(self):
        if self.kind == "cpu" and self.index is None:
            return
        if self.kind == "cuda" and type(self.index) is int and self.index >= 0:
            return
        raise ValueError(f"invalid device {self.kind!r} index {self.index!r}: use Device('cpu') or Device('cuda', N >= 0)")

    @classmethod
    def cpu(cls) -> Device:
        """The CPU.

        Example:
            >>> tensor_zeros([2], device=Device.cpu()).device()
            Device(kind='cpu', index=None)
        """
        return cls("cpu")

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
        """The device that ``value`` names: a Device, "cpu", "cuda", "cuda:N", or the ABI's
        integer codes (negative is the CPU, N >= 0 is cuda:N).

        Example:
            >>> Device.parse("cuda"), Device.parse(0)
            (Device(kind='cuda', index=0), Device(kind='cuda', index=0))
        """
        if isinstance(value, Device):
            return value
        if type(value) is int:
            return cls.cpu() if value < 0 else cls.cuda(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if text == "cpu":
                return cls.cpu()
            match = _CUDA_FORM.fullmatch(text)
            if match:
                return cls.cuda(int(match.group(1) or 0))
        raise ValueError(
            f"invalid device {value!r}; accepted: 'cpu', 'cuda', 'cuda:N', a Device, "
            f"or an integer code (negative for the CPU, N for cuda:N)"
        )

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

    def __str__(self) -> str:
        return "cpu" if self.kind == "cpu" else f"cuda:{self.index}"

