"""simple_torch: libtorch through a plain, checked C ABI, driven from Python.

Example:
    >>> import simple_torch as st
    >>> x = st.tensor_randn([2, 3])
    >>> y = (x @ st.tensor_ones([3, 4])).relu()
    >>> y.shape(), y.dtype, y.device()
    ([2, 4], <DType.float32: 6>, Device(kind='cpu', index=None))

Importing never fails for want of libtorch: ``torch_available()`` then returns False and the
first tensor operation raises :class:`TorchNotAvailableError` saying what to install.
"""

from .config import Config, auto_device, dl, load_local_config, resolve_device, user_config_dir
from .devices import Device
from .dtypes import DType
from .errors import (
    ArgumentError,
    ConfigError,
    ConfigWarning,
    DeviceError,
    DeviceFallbackWarning,
    FreedTensorError,
    HandleError,
    OutOfMemoryError,
    SimpleTorchError,
    TorchNotAvailableError,
)
from .library import (
    cuda_device_count,
    get_include,
    get_library,
    live_dlpack_exports,
    live_handles,
    torch_available,
    torch_cuda_available,
    torch_version,
)
from .memory import (
    empty_cache,
    max_memory_allocated,
    max_memory_reserved,
    mem_get_info,
    memory_allocated,
    memory_reserved,
    reset_peak_memory_stats,
)
from .streams import Event, Stream, synchronize
from .tensor import Tensor, TorchTensorWrapper

tensor_zeros = TorchTensorWrapper.tensor_zeros
tensor_ones = TorchTensorWrapper.tensor_ones
tensor_randn = TorchTensorWrapper.tensor_randn
from_numpy = TorchTensorWrapper.from_numpy
from_dlpack = TorchTensorWrapper.from_dlpack
from_torch = TorchTensorWrapper.from_torch
from_list = TorchTensorWrapper.from_list

__version__ = "0.1.0"

__all__ = [
    "ArgumentError",
    "Config",
    "ConfigError",
    "ConfigWarning",
    "Device",
    "DeviceError",
    "DeviceFallbackWarning",
    "DType",
    "Event",
    "FreedTensorError",
    "HandleError",
    "OutOfMemoryError",
    "SimpleTorchError",
    "Stream",
    "Tensor",
    "TorchNotAvailableError",
    "TorchTensorWrapper",
    "auto_device",
    "cuda_device_count",
    "dl",
    "empty_cache",
    "from_dlpack",
    "from_list",
    "from_numpy",
    "from_torch",
    "get_include",
    "get_library",
    "live_dlpack_exports",
    "live_handles",
    "load_local_config",
    "max_memory_allocated",
    "max_memory_reserved",
    "mem_get_info",
    "memory_allocated",
    "memory_reserved",
    "reset_peak_memory_stats",
    "resolve_device",
    "synchronize",
    "tensor_ones",
    "tensor_randn",
    "tensor_zeros",
    "torch_available",
    "torch_cuda_available",
    "torch_version",
    "user_config_dir",
]
