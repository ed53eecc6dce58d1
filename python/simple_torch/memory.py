"""GPU memory, as libtorch's CUDA caching allocator counts it (the figures torch.cuda reports).

Each function takes a CUDA device as any device value (an index, "cuda:N", a Device); without
CUDA, or for a GPU this machine lacks, it raises :class:`DeviceError`.
"""

from __future__ import annotations

from ._native import lib
from .devices import Device


def _cuda_index(device) -> int:
    device = Device.parse(device)
    if device.kind != "cuda":
        raise ValueError(f"GPU memory is counted per CUDA device, not for {device}: pass an index or 'cuda:N'")
    return device.index


def memory_allocated(device=0) -> int:
    """Bytes that tensors occupy on the GPU now.

    Example:
        >>> before = memory_allocated(0); x = tensor_zeros([1024], device="cuda:0")
        >>> memory_allocated(0) - before
        4096
    """
    return lib.rt_torch_cuda_memory_allocated(_cuda_index(device))


def max_memory_allocated(device=0) -> int:
    """The most bytes tensors occupied on the GPU since start-up or :func:`reset_peak_memory_stats`.

    Example:
        >>> reset_peak_memory_stats(0); run_model(); peak = max_memory_allocated(0)
    """
    return lib.rt_torch_cuda_max_memory_allocated(_cuda_index(device))


def memory_reserved(device=0) -> int:
    """Bytes the caching allocator holds on the GPU: in use plus cached for reuse.

    Example:
        >>> memory_reserved(0) >= memory_allocated(0)
        True
    """
    return lib.rt_torch_cuda_memory_reserved(_cuda_index(device))


def max_memory_reserved(device=0) -> int:
    """The most bytes the caching allocator held on the GPU.

    Example:
        >>> max_memory_reserved(0) >= memory_reserved(0)
        True
    """
    return lib.rt_torch_cuda_max_memory_reserved(_cuda_index(device))


def reset_peak_memory_stats(device=0) -> None:
    """Starts the peaks (``max_memory_*``) again from the current values.

    Example:
        >>> reset_peak_memory_stats("cuda:0")
    """
    lib.rt_torch_cuda_reset_peak_memory_stats(_cuda_index(device))


def empty_cache() -> None:
    """Returns cached GPU memory that no tensor uses to the driver, on every GPU, so that other
    processes can use it; memory that tensors use stays.

    Example:
        >>> del big; empty_cache()
    """
    lib.rt_torch_cuda_empty_cache()


def mem_get_info(device=0) -> tuple[int, int]:
    """``(free, total)`` bytes on the GPU as the driver sees them, other processes included.

    Example:
        >>> free, total = mem_get_info(0)
    """
    index = _cuda_index(device)
    return lib.rt_torch_cuda_memory_free(index), lib.rt_torch_cuda_memory_total(index)
