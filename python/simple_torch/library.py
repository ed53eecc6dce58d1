"""The library itself: is libtorch loaded, which version, which GPUs, live handles, and where
the shared library and its C header are."""

from __future__ import annotations

from pathlib import Path

from . import _release
from ._native import lib, library_path
from .errors import SimpleTorchError, TorchNotAvailableError


def torch_available() -> bool:
    """True when libtorch and libsimple_torch.so are loaded and can run an operation.

    Example:
        >>> torch_available()
        True
    """
    try:
        return lib.rt_torch_available()
    except SimpleTorchError:  # includes TorchNotAvailableError
        return False


def torch_version() -> str | None:
    """The libtorch release in use, e.g. "2.11.0", or None when it could not be loaded.

    Example:
        >>> torch_version()
        '2.11.0'
    """
    try:
        return lib.rt_torch_version().decode()
    except TorchNotAvailableError:
        return None


def torch_cuda_available() -> bool:
    """True when libtorch sees at least one CUDA GPU.

    Example:
        >>> device = "cuda:0" if torch_cuda_available() else "cpu"
    """
    try:
        return lib.rt_torch_cuda_available()
    except TorchNotAvailableError:
        return False


def cuda_device_count() -> int:
    """The number of CUDA GPUs libtorch sees (0 without CUDA).

    Example:
        >>> devices = [Device.cuda(i) for i in range(cuda_device_count())]
    """
    try:
        return lib.rt_torch_cuda_device_count()
    except TorchNotAvailableError:
        return 0


def live_handles() -> int:
    """How many handles exist and are not yet freed, across the whole process. The handles of
    collected tensors that wait to be released together (see ``_release.py``) are released
    first, so the count is exact.

    Example:
        >>> before = live_handles(); t = tensor_zeros([2]); live_handles() - before
        1
    """
    _release.drain()
    return lib.rt_torch_live_handles()


def live_dlpack_exports() -> int:
    """How many DLPack tensors this library exported (``__dlpack__``, ``numpy()``,
    ``to_torch()``) are still held by a consumer or an unconsumed capsule.

    Example:
        >>> n = tensor_ones([2]).numpy(); live_dlpack_exports()
        1
    """
    return lib.rt_torch_dlpack_live_exports()


def get_include() -> str:
    """The folder holding ``simple_torch.h``, the C header of the library, for programs in C
    and other languages that call the same functions.

    Example:
        >>> subprocess.run(["cc", f"-I{get_include()}", "client.c", get_library()])
    """
    return str(Path(__file__).parent / "include")


def get_library() -> str:
    """The path of the ``libsimple_torch.so`` this package loads (``SIMPLE_TORCH_LIB`` if set).

    Example:
        >>> ctypes.CDLL(get_library())
    """
    return str(library_path())
