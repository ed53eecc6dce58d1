"""``st.Generator``: a random generator with its own seed and state, as ``torch.Generator``."""

from __future__ import annotations

import ctypes

from ._native import lib
from .devices import Device


class Generator:
    """A random number generator on a device, with its own seed and state: random operators take
    it as ``generator=`` (``st.randn(3, generator=g)``, ``x.normal_(generator=g)``) and leave the
    default generator (``st.manual_seed``) alone. The same seed gives the same numbers as a
    ``torch.Generator`` with that seed.

    Example:
        >>> g = st.Generator().manual_seed(42)
        >>> st.randn(2, generator=g).tolist() == st.randn(2, generator=st.Generator().manual_seed(42)).tolist()
        True
    """

    __slots__ = ("_handle",)

    def __init__(self, device="cpu"):
        self._handle = None
        self._handle = lib.rt_torch_generator_create(Device.parse(device).code)

    def manual_seed(self, seed: int) -> Generator:
        """Seeds the generator (its numbers start again from that seed) and returns it.

        Example:
            >>> g = st.Generator().manual_seed(0)
        """
        lib.rt_torch_torchgenerator_manual_seed(self._handle, int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
        return self

    def initial_seed(self) -> int:
        """The seed the generator was last seeded with.

        Example:
            >>> st.Generator().manual_seed(7).initial_seed()
            7
        """
        seed = ctypes.c_uint64()
        lib.rt_torch_torchgenerator_initial_seed(self._handle, ctypes.byref(seed))
        return seed.value

    def seed(self) -> int:
        """Seeds the generator from a non-deterministic source and returns that seed.

        Example:
            >>> g = st.Generator(); s = g.seed(); g.initial_seed() == s
            True
        """
        seed = ctypes.c_uint64()
        lib.rt_torch_torchgenerator_seed(self._handle, ctypes.byref(seed))
        return seed.value

    @property
    def device(self) -> Device:
        """The device whose random numbers it makes.

        Example:
            >>> st.Generator().device
            Device(kind='cpu', index=None)
        """
        return Device.from_code(lib.rt_torch_torchgenerator_device(self._handle))

    def __repr__(self) -> str:
        return f"Generator(device='{self.device}', initial_seed={self.initial_seed()})"

    def __del__(self):
        handle = self._handle
        if handle is not None:
            try:
                lib.unchecked.rt_torch_torchgenerator_finalize(handle)
            except Exception:  # nothing may be raised from here, not even at interpreter exit
                pass
