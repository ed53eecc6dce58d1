"""simple_torch: libtorch through a plain, checked C ABI, driven from Python, shaped like torch.

Example:
    >>> import simple_torch as st
    >>> x = st.randn(2, 3)
    >>> y = (x @ st.ones(3, 4)).relu().sum(dim=1, keepdim=True)
    >>> y.shape, y.dtype, y.device
    (st.Size([2, 1]), <DType.float32: 6>, Device(kind='cpu', index=None))

Every public aten operator is a function here (``st.cat``, ``st.where``, ...) or a Tensor method
when PyTorch makes it one, made from libtorch's schemas on first use; ``st.ops.aten`` has every
operator and overload.

Importing never fails for want of libtorch: ``torch_available()`` then returns False and the
first tensor operation raises :class:`TorchNotAvailableError` saying what to install.
"""

import importlib
from typing import TYPE_CHECKING

from .config import Config, auto_device, dl, load_local_config, resolve_device, user_config_dir
from . import ops
from .devices import Device
from .dtypes import DType, Layout, MemoryFormat
from .generators import Generator
from .errors import (
    ArgumentError,
    ArgumentTypeError,
    ConfigError,
    ConfigWarning,
    DeviceError,
    DeviceFallbackWarning,
    FreedTensorError,
    HandleError,
    OutOfMemoryError,
    SimpleTorchError,
    TensorIndexError,
    TorchNotAvailableError,
    UnsupportedError,
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
from .size import Size
from .streams import Event, Stream, synchronize
from ._tensor import Tensor, TorchTensorWrapper
from . import autograd
from . import amp
from .amp import autocast
from .autograd import enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad, set_grad_enabled
from . import _surface
from .functions import (
    arange,
    einsum,
    empty,
    eye,
    full,
    linspace,
    manual_seed,
    norm,
    ones,
    rand,
    randint,
    randn,
    tensor,
    unique,
    zeros,
)

tensor_zeros = TorchTensorWrapper.tensor_zeros
tensor_ones = TorchTensorWrapper.tensor_ones
tensor_randn = TorchTensorWrapper.tensor_randn
from_numpy = TorchTensorWrapper.from_numpy
from_dlpack = TorchTensorWrapper.from_dlpack
from_torch = TorchTensorWrapper.from_torch
from_list = TorchTensorWrapper.from_list

autograd.install(TorchTensorWrapper)

# Training's modules (nn, optim, utils) and checkpoint functions are imported on first use
# (__getattr__ below): starting needs none of them, and they take about 70 ms to import.
_LAZY_MODULES = {"cuda", "distributed", "nn", "optim", "utils"}
_CHECKPOINTS = {"CheckpointError", "UnsafeCheckpointError", "load", "load_file", "save", "save_file"}

# Methods that torch writes in Python, over the functions above.
TorchTensorWrapper.norm = norm
TorchTensorWrapper.unique = unique

# dtypes, layouts and memory formats under torch's names: st.float32, st.long, st.strided, ...
for _name, _dtype in {**DType.__members__, "float": DType.float32, "double": DType.float64, "half": DType.float16,
                      "long": DType.int64, "int": DType.int32, "short": DType.int16, "cfloat": DType.complex64,
                      "cdouble": DType.complex128}.items():
    globals()[_name] = _dtype
for _name, _value in {**Layout.__members__, **MemoryFormat.__members__}.items():
    if not _name.startswith("_"):
        globals()[_name] = _value
del _name, _dtype, _value


if TYPE_CHECKING:  # the functions made from schemas at run time, as generated stubs (_stubs.py)
    from ._generated import *  # noqa: F403
    from . import cuda, distributed, nn, optim, utils
    from .serialization import CheckpointError, UnsafeCheckpointError, load, load_file, save, save_file


def __getattr__(name: str):
    """Every public aten function (``st.cat``, ``st.where``, ``st.sum``, ...), made from its
    schemas on first use and then kept here; and the training modules and checkpoint
    functions, imported on first use."""
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)  # the import puts it in globals()
    if name in _CHECKPOINTS:
        from . import serialization

        value = globals()[name] = getattr(serialization, name)
        return value
    if name.startswith("_") or name not in _surface.variants()[1]:
        raise AttributeError(f"module 'simple_torch' has no attribute '{name}'")
    function = globals()[name] = _surface.function(name)
    return function


def __dir__():
    return sorted(set(globals()) | _surface.variants()[1] | _LAZY_MODULES | _CHECKPOINTS)


__version__ = "0.1.0"

__all__ = [
    "ArgumentError",
    "CheckpointError",
    "ArgumentTypeError",
    "Config",
    "ConfigError",
    "ConfigWarning",
    "Device",
    "DeviceError",
    "DeviceFallbackWarning",
    "DType",
    "Event",
    "FreedTensorError",
    "Generator",
    "HandleError",
    "Layout",
    "MemoryFormat",
    "OutOfMemoryError",
    "SimpleTorchError",
    "Size",
    "Stream",
    "Tensor",
    "TensorIndexError",
    "TorchNotAvailableError",
    "TorchTensorWrapper",
    "UnsafeCheckpointError",
    "UnsupportedError",
    "amp",
    "arange",
    "autocast",
    "autograd",
    "enable_grad",
    "inference_mode",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "no_grad",
    "set_grad_enabled",
    "auto_device",
    "cuda_device_count",
    "dl",
    "einsum",
    "empty",
    "eye",
    "empty_cache",
    "from_dlpack",
    "from_list",
    "from_numpy",
    "from_torch",
    "full",
    "get_include",
    "get_library",
    "live_dlpack_exports",
    "live_handles",
    "load",
    "load_file",
    "linspace",
    "load_local_config",
    "manual_seed",
    "max_memory_allocated",
    "max_memory_reserved",
    "mem_get_info",
    "memory_allocated",
    "memory_reserved",
    "nn",
    "norm",
    "ones",
    "ops",
    "optim",
    "rand",
    "randint",
    "randn",
    "reset_peak_memory_stats",
    "resolve_device",
    "save",
    "save_file",
    "synchronize",
    "tensor",
    "tensor_ones",
    "tensor_randn",
    "tensor_zeros",
    "torch_available",
    "torch_cuda_available",
    "torch_version",
    "unique",
    "user_config_dir",
    "utils",
    "zeros",
]
