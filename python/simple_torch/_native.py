"""Layer 2: load libtorch and ``libsimple_torch.so``, and declare every ``rt_torch_*`` export.

Everything ctypes-specific lives in this module. The rest of the package calls ``lib.<name>``
and gets plain Python values back, or a :class:`SimpleTorchError` carrying the library's own
message: the error convention of each export (ABI.md, "Errors") is part of its row in
``SIGNATURES`` and is checked here, once.

libtorch is loaded from the installed ``torch`` wheel without importing torch's Python module.
If anything is missing, importing this module still succeeds: ``lib`` then raises
:class:`TorchNotAvailableError`, which says what is missing and how to fix it.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
from ctypes import CFUNCTYPE, POINTER, c_bool, c_char_p, c_double, c_int32, c_int64, c_size_t, c_uint64, c_void_p
from importlib.util import find_spec
from pathlib import Path
from types import SimpleNamespace

from .errors import BY_KIND, SimpleTorchError, TorchNotAvailableError

#: The libtorch release the library is built against (tch 0.24.0 needs exactly this one).
REQUIRED_TORCH = "2.11.0"

#: Environment variable naming another build of ``libsimple_torch.so`` to load.
LIBRARY_ENV = "SIMPLE_TORCH_LIB"

#: Where the wheel puts the library: maturin's cffi layout, ``simple_torch/simple_torch/``.
BUNDLED_LIBRARY = Path(__file__).parent / "simple_torch" / "libsimple_torch.so"

# libtorch's own libraries, in dependency order; the CUDA ones exist only in CUDA builds.
_LIBTORCH = ("libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so")

# dims arguments (const int64_t*): c_void_p takes packed bytes (the fast path of tensor.py)
# as well as ctypes arrays.
DIMS = c_void_p
# Opaque handles: c_void_p keeps all 64 bits and turns NULL into None.
TENSOR = c_void_p
STREAM = c_void_p
EVENT = c_void_p
GENERATOR = c_void_p
STORE = c_void_p
GROUP = c_void_p
WORK = c_void_p
CUDA_GRAPH = c_void_p
_INT64_P = POINTER(c_int64)

# Integer arguments of the exports that factories call per tensor. ctypes converts a Python
# int for a c_void_p argument about 0.1 µs faster than for a c_int64 or c_int32 (a tenth of
# ``st.zeros(4)`` each), and the callee receives the same bits: on the ABIs the wheel is built
# for (Linux on x86-64 and AArch64, little-endian LP64) every integer argument takes a whole
# 64-bit register or stack slot, of which an int32_t parameter reads the low 32 bits, and
# ctypes truncates an int to 64 bits for a c_void_p as it does for a c_int64. (A c_void_p also
# takes None and bytes; the factories pass only ints.) Anywhere else, the exact types.
_REGISTER_WIDE = sys.platform == "linux" and os.uname().machine in ("x86_64", "aarch64") and ctypes.sizeof(c_void_p) == 8
INT64 = c_void_p if _REGISTER_WIDE else c_int64
INT32 = c_void_p if _REGISTER_WIDE else c_int32
_TENSORS = POINTER(TENSOR)  # an array of handles (const TorchTensor *const *)



class Value(ctypes.Structure):
    """``RtTorchValue``: one argument or result of ``rt_torch_op_call``, tagged ``VALUE_*``."""

    _fields_ = [
        ("tag", c_int32),
        ("from_argument", c_int32),
        ("name", c_void_p),
        ("int_value", c_int64),
        ("real", c_double),
        ("imag", c_double),
        ("ptr", c_void_p),
        ("len", c_int64),
    ]


class AutogradHost(ctypes.Structure):
    """``RtTorchAutogradHost``: the host's functions that libtorch's autograd engine calls for
    custom functions and tensor hooks (see autograd.py)."""

    BACKWARD = CFUNCTYPE(c_int32, c_int64, _TENSORS, c_int64, _TENSORS, c_int64, _TENSORS, c_int64, c_void_p, c_size_t)
    RELEASE = CFUNCTYPE(None, c_int64)
    _fields_ = [("backward", BACKWARD), ("release", RELEASE)]


# The tags of Value (RT_TORCH_VALUE_* in the header).
VALUE_NONE, VALUE_BOOL, VALUE_INT, VALUE_FLOAT, VALUE_COMPLEX, VALUE_STR, VALUE_TENSOR = range(7)
VALUE_INT_LIST, VALUE_FLOAT_LIST, VALUE_BOOL_LIST, VALUE_TENSOR_LIST, VALUE_OPTIONAL_TENSOR_LIST = range(7, 12)
VALUE_SCALAR_TYPE, VALUE_LAYOUT, VALUE_MEMORY_FORMAT, VALUE_DEVICE, VALUE_GENERATOR = range(12, 17)

# How each export reports failure (ABI.md, "Errors").
NULL = "NULL"  # a pointer result of NULL
MINUS_1 = "-1"  # a count, index or code of -1
MINUS_2 = "-2"  # a device code of -2 (-1 is the CPU)
FALSE = "false"  # false, with an error message recorded
VOID = "void"  # an error message recorded
MAYBE_NULL = "maybe NULL"  # NULL with an error message recorded (NULL alone can be a valid result)
NEVER = None  # cannot fail

# name: (result type, argument types, failure convention). The whole C ABI, as the header has it.
SIGNATURES = {
    # library
    "rt_torch_available": (c_bool, (), FALSE),
    "rt_torch_version": (c_char_p, (), NEVER),
    "rt_torch_cuda_available": (c_bool, (), FALSE),
    "rt_torch_cuda_device_count": (c_int32, (), MINUS_1),
    "rt_torch_live_handles": (c_int64, (), MINUS_1),
    "rt_torch_last_error": (c_char_p, (), NEVER),
    "rt_torch_last_error_kind": (c_int32, (), NEVER),
    "rt_torch_clear_error": (None, (), NEVER),
    "rt_torch_manual_seed": (None, (c_uint64,), VOID),
    # creation
    "rt_torch_tensor_zeros": (TENSOR, (DIMS, c_int64), NULL),
    "rt_torch_tensor_ones": (TENSOR, (DIMS, c_int64), NULL),
    "rt_torch_tensor_randn": (TENSOR, (DIMS, c_int64), NULL),
    "rt_torch_tensor_zeros_opts": (TENSOR, (DIMS, INT64, INT32, INT32), NULL),
    "rt_torch_tensor_ones_opts": (TENSOR, (DIMS, INT64, INT32, INT32), NULL),
    "rt_torch_tensor_randn_opts": (TENSOR, (DIMS, INT64, INT32, INT32), NULL),
    "rt_torch_tensor_from_data": (TENSOR, (c_void_p, DIMS, c_int64, c_int32), NULL),
    # methods
    "rt_torch_torchtensor_add": (TENSOR, (TENSOR, TENSOR), NULL),
    "rt_torch_torchtensor_sub": (TENSOR, (TENSOR, TENSOR), NULL),
    "rt_torch_torchtensor_mul": (TENSOR, (TENSOR, TENSOR), NULL),
    "rt_torch_torchtensor_div": (TENSOR, (TENSOR, TENSOR), NULL),
    "rt_torch_torchtensor_matmul": (TENSOR, (TENSOR, TENSOR), NULL),
    "rt_torch_torchtensor_relu": (TENSOR, (TENSOR,), NULL),
    "rt_torch_torchtensor_sigmoid": (TENSOR, (TENSOR,), NULL),
    "rt_torch_torchtensor_tanh": (TENSOR, (TENSOR,), NULL),
    "rt_torch_torchtensor_softmax": (TENSOR, (TENSOR, c_int64), NULL),
    "rt_torch_torchtensor_clone": (TENSOR, (TENSOR,), NULL),
    "rt_torch_torchtensor_to_dtype": (TENSOR, (TENSOR, c_int32), NULL),
    "rt_torch_torchtensor_reshape": (TENSOR, (TENSOR, DIMS, c_int64), NULL),
    "rt_torch_torchtensor_transpose": (TENSOR, (TENSOR, c_int64, c_int64), NULL),
    # properties
    "rt_torch_torchtensor_ndim": (c_int64, (TENSOR,), MINUS_1),
    "rt_torch_torchtensor_numel": (c_int64, (TENSOR,), MINUS_1),
    "rt_torch_torchtensor_shape": (c_int64, (TENSOR, _INT64_P, c_int64), MINUS_1),
    "rt_torch_torchtensor_strides": (c_int64, (TENSOR, _INT64_P, c_int64), MINUS_1),
    "rt_torch_torchtensor_data_ptr": (c_void_p, (TENSOR,), MAYBE_NULL),
    "rt_torch_torchtensor_storage": (c_bool, (TENSOR, POINTER(c_uint64), _INT64_P), FALSE),
    "rt_torch_torchtensor_dtype": (c_int32, (TENSOR,), MINUS_1),
    "rt_torch_torchtensor_copy_to": (c_int64, (TENSOR, c_void_p, c_int64), MINUS_1),
    # devices
    "rt_torch_torchtensor_cuda": (TENSOR, (TENSOR, c_int32), NULL),
    "rt_torch_torchtensor_cpu": (TENSOR, (TENSOR,), NULL),
    "rt_torch_torchtensor_is_cuda": (c_bool, (TENSOR,), FALSE),
    "rt_torch_torchtensor_device": (c_int32, (TENSOR,), MINUS_2),
    "rt_torch_torchtensor_to_device": (TENSOR, (TENSOR, c_int32, c_bool), NULL),
    "rt_torch_device_synchronize": (None, (c_int32,), VOID),
    "rt_torch_torchtensor_pin_memory": (TENSOR, (TENSOR,), NULL),
    "rt_torch_torchtensor_is_pinned": (c_bool, (TENSOR,), FALSE),
    "rt_torch_torchtensor_copy_from": (c_bool, (TENSOR, TENSOR, c_bool), FALSE),
    # streams
    "rt_torch_stream_create": (STREAM, (c_int32,), NULL),
    "rt_torch_torchstream_sync": (None, (STREAM,), VOID),
    "rt_torch_torchstream_query": (c_bool, (STREAM,), FALSE),
    "rt_torch_torchtensor_to_stream": (TENSOR, (TENSOR, c_int32, STREAM), NULL),
    "rt_torch_torchstream_free": (None, (STREAM,), VOID),
    "rt_torch_torchstream_finalize": (None, (STREAM,), NEVER),
    "rt_torch_stream_current": (STREAM, (c_int32,), NULL),
    "rt_torch_torchstream_set_current": (None, (STREAM,), VOID),
    "rt_torch_torchstream_device": (c_int32, (STREAM,), MINUS_2),
    "rt_torch_torchstream_cuda_stream": (c_void_p, (STREAM,), MAYBE_NULL),
    "rt_torch_torchstream_wait_event": (None, (STREAM, EVENT), VOID),
    # events
    "rt_torch_event_create": (EVENT, (c_bool,), NULL),
    "rt_torch_torchevent_record": (None, (EVENT, STREAM), VOID),
    "rt_torch_torchevent_query": (c_bool, (EVENT,), FALSE),
    "rt_torch_torchevent_synchronize": (None, (EVENT,), VOID),
    "rt_torch_torchevent_elapsed_time": (c_double, (EVENT, EVENT), MINUS_1),
    "rt_torch_torchevent_free": (None, (EVENT,), VOID),
    "rt_torch_torchevent_finalize": (None, (EVENT,), NEVER),
    # CUDA graphs (cuda.py): a graph pool id is two uint64 (first, second); (0, 0) a new private pool
    "rt_torch_cuda_graph_create": (CUDA_GRAPH, (c_int32,), NULL),
    "rt_torch_torchcudagraph_capture_begin": (c_bool, (CUDA_GRAPH, c_uint64, c_uint64, c_int32), FALSE),
    "rt_torch_torchcudagraph_capture_end": (c_bool, (CUDA_GRAPH,), FALSE),
    "rt_torch_torchcudagraph_replay": (c_bool, (CUDA_GRAPH,), FALSE),
    "rt_torch_torchcudagraph_reset": (c_bool, (CUDA_GRAPH,), FALSE),
    "rt_torch_torchcudagraph_pool": (c_bool, (CUDA_GRAPH, POINTER(c_uint64), POINTER(c_uint64)), FALSE),
    "rt_torch_cuda_graph_pool_handle": (c_bool, (POINTER(c_uint64), POINTER(c_uint64)), FALSE),
    "rt_torch_torchcudagraph_free": (None, (CUDA_GRAPH,), VOID),
    "rt_torch_torchcudagraph_finalize": (None, (CUDA_GRAPH,), NEVER),
    # CUDA memory
    "rt_torch_cuda_memory_allocated": (c_int64, (c_int32,), MINUS_1),
    "rt_torch_cuda_max_memory_allocated": (c_int64, (c_int32,), MINUS_1),
    "rt_torch_cuda_memory_reserved": (c_int64, (c_int32,), MINUS_1),
    "rt_torch_cuda_max_memory_reserved": (c_int64, (c_int32,), MINUS_1),
    "rt_torch_cuda_reset_peak_memory_stats": (None, (c_int32,), VOID),
    "rt_torch_cuda_empty_cache": (None, (), VOID),
    "rt_torch_cuda_memory_free": (c_int64, (c_int32,), MINUS_1),
    "rt_torch_cuda_memory_total": (c_int64, (c_int32,), MINUS_1),
    # DLPack
    "rt_torch_torchtensor_to_dlpack": (c_void_p, (TENSOR, c_bool), NULL),
    "rt_torch_tensor_from_dlpack": (TENSOR, (c_void_p, c_bool), NULL),
    "rt_torch_dlpack_live_exports": (c_int64, (), MINUS_1),
    # a PyCapsule destructor: Python passes its address, never calls it (and it leaves the error slot alone)
    "rt_torch_dlpack_capsule_destructor": (None, (c_void_p,), NEVER),
    # random generators
    "rt_torch_generator_create": (GENERATOR, (c_int32,), NULL),
    "rt_torch_torchgenerator_manual_seed": (c_bool, (GENERATOR, c_uint64), FALSE),
    "rt_torch_torchgenerator_initial_seed": (c_bool, (GENERATOR, POINTER(c_uint64)), FALSE),
    "rt_torch_torchgenerator_seed": (c_bool, (GENERATOR, POINTER(c_uint64)), FALSE),
    "rt_torch_torchgenerator_device": (c_int32, (GENERATOR,), MINUS_2),
    "rt_torch_torchgenerator_free": (None, (GENERATOR,), VOID),
    "rt_torch_torchgenerator_finalize": (None, (GENERATOR,), NEVER),
    # autograd (autograd.py): gradients, backward and grad, modes, the host's code in the graph
    "rt_torch_torchtensor_requires_grad": (c_int32, (TENSOR,), MINUS_1),
    "rt_torch_torchtensor_grad": (c_bool, (TENSOR, _TENSORS), FALSE),
    "rt_torch_torchtensor_set_grad": (c_bool, (TENSOR, TENSOR), FALSE),
    "rt_torch_torchtensor_grad_fn": (c_int64, (TENSOR, c_char_p, c_size_t), MINUS_1),
    "rt_torch_torchtensor_share": (TENSOR, (TENSOR,), NULL),
    "rt_torch_autograd_backward": (c_bool, (_TENSORS, c_int64, _TENSORS, c_int32, c_bool, _TENSORS, c_int64), FALSE),
    "rt_torch_autograd_grad": (c_bool, (_TENSORS, c_int64, _TENSORS, _TENSORS, c_int64, c_int32, c_bool, c_bool, _TENSORS), FALSE),
    "rt_torch_set_grad_enabled": (c_int32, (c_bool,), MINUS_1),
    "rt_torch_is_grad_enabled": (c_int32, (), MINUS_1),
    "rt_torch_inference_mode_enter": (c_bool, (c_bool,), FALSE),
    "rt_torch_inference_mode_exit": (c_bool, (), FALSE),
    "rt_torch_is_inference_mode_enabled": (c_int32, (), MINUS_1),
    "rt_torch_autocast_state": (c_bool, (c_char_p, c_int32, c_int32, POINTER(c_int32), POINTER(c_int32)), FALSE),
    "rt_torch_autocast_nesting": (c_int32, (c_int32,), MINUS_1),
    "rt_torch_autograd_function_apply": (c_bool, (POINTER(AutogradHost), c_int64, c_char_p, _TENSORS, c_int64, _TENSORS, c_int64,
                                                  _TENSORS, c_int64, _TENSORS, c_int64, _TENSORS, c_int64, c_bool, _TENSORS), FALSE),
    "rt_torch_torchtensor_register_hook": (c_int64, (TENSOR, POINTER(AutogradHost), c_int64), MINUS_1),
    "rt_torch_torchtensor_remove_hook": (c_bool, (TENSOR, c_int64), FALSE),
    "rt_torch_torchtensor_register_post_accumulate_grad_hook": (c_int64, (TENSOR, POINTER(AutogradHost), c_int64), MINUS_1),
    "rt_torch_torchtensor_remove_post_accumulate_grad_hook": (c_bool, (TENSOR, c_int64), FALSE),
    # distributed (distributed/): c10d stores, process groups, collectives and their works
    "rt_torch_store_tcp": (STORE, (c_char_p, c_int32, c_int32, c_bool, c_int64), NULL),
    "rt_torch_store_file": (STORE, (c_char_p, c_int32), NULL),
    "rt_torch_torchstore_prefix": (STORE, (STORE, c_char_p), NULL),
    "rt_torch_torchstore_clone": (STORE, (STORE,), NULL),
    "rt_torch_torchstore_port": (c_int32, (STORE,), MINUS_2),
    "rt_torch_torchstore_set": (c_bool, (STORE, c_char_p, c_char_p, c_size_t), FALSE),
    "rt_torch_torchstore_get": (c_int64, (STORE, c_char_p, c_void_p, c_size_t), MINUS_1),
    "rt_torch_torchstore_add": (c_bool, (STORE, c_char_p, c_int64, _INT64_P), FALSE),
    "rt_torch_torchstore_wait": (c_bool, (STORE, POINTER(c_char_p), c_size_t, c_int64), FALSE),
    "rt_torch_torchstore_check": (c_int32, (STORE, POINTER(c_char_p), c_size_t), MINUS_1),
    "rt_torch_torchstore_delete_key": (c_int32, (STORE, c_char_p), MINUS_1),
    "rt_torch_torchstore_set_timeout": (c_bool, (STORE, c_int64), FALSE),
    "rt_torch_torchstore_free": (None, (STORE,), VOID),
    "rt_torch_torchstore_finalize": (None, (STORE,), NEVER),
    "rt_torch_process_group_gloo": (GROUP, (STORE, c_int32, c_int32, c_int64, c_char_p, c_char_p, c_char_p, c_bool), NULL),
    "rt_torch_process_group_nccl": (GROUP, (STORE, c_int32, c_int32, c_int64, c_char_p, c_char_p, c_char_p, c_bool), NULL),
    "rt_torch_torchprocessgroup_rank": (c_int32, (GROUP,), MINUS_1),
    "rt_torch_torchprocessgroup_size": (c_int32, (GROUP,), MINUS_1),
    "rt_torch_torchprocessgroup_monitored_barrier": (c_bool, (GROUP, c_int64, c_bool), FALSE),
    "rt_torch_torchprocessgroup_all_reduce": (WORK, (GROUP, TENSOR, c_int32), NULL),
    "rt_torch_torchprocessgroup_reduce": (WORK, (GROUP, TENSOR, c_int32, c_int32), NULL),
    "rt_torch_torchprocessgroup_broadcast": (WORK, (GROUP, TENSOR, c_int32), NULL),
    "rt_torch_torchprocessgroup_all_gather": (WORK, (GROUP, _TENSORS, c_size_t, TENSOR), NULL),
    "rt_torch_torchprocessgroup_all_gather_into_tensor": (WORK, (GROUP, TENSOR, TENSOR), NULL),
    "rt_torch_torchprocessgroup_reduce_scatter_tensor": (WORK, (GROUP, TENSOR, TENSOR, c_int32), NULL),
    "rt_torch_torchprocessgroup_all_to_all_single": (WORK, (GROUP, TENSOR, TENSOR, _INT64_P, c_size_t, _INT64_P, c_size_t), NULL),
    "rt_torch_torchprocessgroup_barrier": (WORK, (GROUP,), NULL),
    "rt_torch_torchprocessgroup_send": (WORK, (GROUP, TENSOR, c_int32, c_int32), NULL),
    "rt_torch_torchprocessgroup_recv": (WORK, (GROUP, TENSOR, c_int32, c_int32), NULL),
    "rt_torch_torchprocessgroup_free": (None, (GROUP,), VOID),
    "rt_torch_torchprocessgroup_finalize": (None, (GROUP,), NEVER),
    "rt_torch_torchwork_wait": (c_int32, (WORK, c_int64), MINUS_1),
    "rt_torch_torchwork_is_completed": (c_int32, (WORK,), MINUS_1),
    "rt_torch_torchwork_source_rank": (c_int32, (WORK,), MINUS_1),
    "rt_torch_torchwork_free": (None, (WORK,), VOID),
    "rt_torch_torchwork_finalize": (None, (WORK,), NEVER),
    # every operator: ids, schemas, and the generic call (args and out are Value arrays)
    "rt_torch_op_count": (c_int64, (), MINUS_1),
    "rt_torch_op_find": (c_int64, (c_char_p, c_char_p), MINUS_1),
    "rt_torch_op_schema": (c_char_p, (c_int64,), NULL),
    "rt_torch_op_call": (c_int64, (c_int64, c_void_p, c_int64, c_void_p, c_int64), MINUS_1),
    # the same call packed in one buffer (RtTorchOpFrame + Values): NULL unless one new tensor
    "rt_torch_op_call_frame": (TENSOR, (c_void_p,), MAYBE_NULL),
    # memory
    "rt_torch_torchtensor_free": (None, (TENSOR,), VOID),
    # for finalizers: like _free, but it leaves the error slot alone and reports nothing
    "rt_torch_torchtensor_finalize": (None, (TENSOR,), NEVER),
    "rt_torch_torchtensor_finalize_many": (c_int64, (c_void_p, c_int64), NEVER),  # handles packed as uint64s
}


def int64_array(values) -> ctypes.Array:
    """A C ``int64_t[]`` holding ``values``, for the ``dims``/``out`` arguments."""
    return (c_int64 * len(values))(*values)


def torch_package_dir() -> Path:
    """The installed ``torch`` package's folder, found without importing it."""
    spec = find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        raise TorchNotAvailableError(
            f"simple_torch needs PyTorch's libtorch, but the torch package is not installed: "
            f"pip install torch=={REQUIRED_TORCH}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def torch_version(package_dir: Path) -> str:
    """The torch version, read from ``torch/version.py`` without running it."""
    text = (package_dir / "version.py").read_text(encoding="utf-8")
    match = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    if match is None:
        raise TorchNotAvailableError(f"cannot read the torch version from {package_dir / 'version.py'}")
    return match.group(1)


def _load_libtorch() -> None:
    package_dir = torch_package_dir()
    version = torch_version(package_dir)
    if version.split("+")[0] != REQUIRED_TORCH:
        raise TorchNotAvailableError(
            f"simple_torch is built against torch {REQUIRED_TORCH}, but torch {version} is "
            f"installed at {package_dir}: pip install torch=={REQUIRED_TORCH}"
        )
    for name in _LIBTORCH:
        path = package_dir / "lib" / name
        if path.exists() or name in ("libc10.so", "libtorch_cpu.so", "libtorch.so"):
            # RTLD_GLOBAL: the one libtorch instance that torch's Python module will reuse too.
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)


def library_path() -> Path:
    """The libsimple_torch.so to load: $SIMPLE_TORCH_LIB, else the one inside the package."""
    override = os.environ.get(LIBRARY_ENV)
    path = Path(override) if override else BUNDLED_LIBRARY
    if not path.is_file():
        where = f"{LIBRARY_ENV}={override}" if override else "the simple_torch package"
        raise TorchNotAvailableError(
            f"libsimple_torch.so is missing from {where} (looked for {path}): install the "
            f"simple-torch wheel, or build it (cargo build --release) and set {LIBRARY_ENV} to it"
        )
    return path


class _Checked:
    """Calls the exports and raises the library's message when one reports failure.

    ``unchecked`` holds the same functions without that check, for the hot paths of
    tensor.py: they test the result inline and call :meth:`raise_last_error`, which saves a
    Python-level call per operation.
    """

    def __init__(self, dll: ctypes.CDLL):
        self._last_error, self._last_error_kind = dll.rt_torch_last_error, dll.rt_torch_last_error_kind
        self._last_error.restype, self._last_error.argtypes = c_char_p, ()
        self._last_error_kind.restype, self._last_error_kind.argtypes = c_int32, ()
        self.unchecked = SimpleNamespace()
        for name, (result, arguments, failure) in SIGNATURES.items():
            function, unchecked = dll[name], dll[name]  # two function objects: errcheck is per object
            function.restype, function.argtypes = unchecked.restype, unchecked.argtypes = result, arguments
            if failure is not NEVER:
                function.errcheck = self._checker(failure)
            setattr(self, name, function)
            setattr(self.unchecked, name, unchecked)

    def raise_last_error(self, function_name: str = "a simple_torch call") -> None:
        """Raises the calling thread's last error, as the exception class of its kind."""
        raise self.last_exception(function_name)

    def last_exception(self, function_name: str = "a simple_torch call") -> SimpleTorchError:
        """The calling thread's last error as an exception of its kind, its message naming the
        Python operation rather than the C function (see :func:`python_message`)."""
        message, kind = self._last_error(), self._last_error_kind()
        if message and (raised := host_exception(message)) is not None:
            return raised
        text = python_message(message.decode("utf-8", "replace")) if message else f"{function_name} failed"
        return BY_KIND.get(kind, SimpleTorchError)(text)

    def _checker(self, failure: str):
        # Each check raises itself, so that a traceback shows one frame of this module.
        last_error, exception = self._last_error, self.last_exception
        if failure is NULL:
            def check(result, function, arguments):
                if result is None:
                    raise exception(function.__name__)
                return result
        elif failure in (MINUS_1, MINUS_2):
            sentinel = -1 if failure is MINUS_1 else -2
            def check(result, function, arguments):
                if result == sentinel:
                    raise exception(function.__name__)
                return result
        else:  # FALSE, VOID and MAYBE_NULL: the sentinel is also a valid result; the message decides
            def check(result, function, arguments):
                if not result and last_error() is not None:
                    raise exception(function.__name__)
                return result
        return check


# The Python spelling of exports whose name does not say it (see python_message).
_PYTHON_NAMES = {
    "rt_torch_torchtensor_to_device": "Tensor.to",
    "rt_torch_torchtensor_to_dtype": "Tensor.to",
    "rt_torch_torchtensor_copy_from": "Tensor.copy_",
    "rt_torch_torchtensor_copy_to": "Tensor.numpy",
    "rt_torch_torchtensor_to_dlpack": "Tensor.__dlpack__",
    "rt_torch_tensor_from_data": "from_list",
    "rt_torch_tensor_from_dlpack": "from_dlpack",
    "rt_torch_stream_create": "Stream",
    "rt_torch_stream_current": "Stream.current",
    "rt_torch_event_create": "Event",
    "rt_torch_cuda_graph_create": "cuda.CUDAGraph",
    "rt_torch_generator_create": "Generator",
    "rt_torch_op_call": "",
    "rt_torch_op_call_frame": "",
    "rt_torch_autograd_backward": "backward",
    "rt_torch_autograd_grad": "autograd.grad",
    "rt_torch_autograd_function_apply": "Function.apply",
    "rt_torch_op_find": "st.ops",
    "rt_torch_store_tcp": "TCPStore",
    "rt_torch_store_file": "FileStore",
    "rt_torch_torchstore_prefix": "PrefixStore",
    "rt_torch_process_group_gloo": "init_process_group",
    "rt_torch_process_group_nccl": "init_process_group",
}
_PREFIXES = (("rt_torch_torchtensor_", "Tensor."), ("rt_torch_torchstream_", "Stream."), ("rt_torch_torchevent_", "Event."),
             ("rt_torch_torchgenerator_", "Generator."), ("rt_torch_torchstore_", "Store."),
             ("rt_torch_torchprocessgroup_", "distributed."), ("rt_torch_torchwork_", "Work."),
             ("rt_torch_torchcudagraph_", "CUDAGraph."),
             ("rt_torch_tensor_", "tensor_"), ("rt_torch_cuda_", "cuda."), ("rt_torch_", ""))
_C_NAME = re.compile(r"^(rt_torch_\w+): ")


def python_message(text: str) -> str:
    """A library message as a Python user reads it: the C function it starts with becomes the
    Python operation (``rt_torch_torchtensor_matmul: ...`` -> ``Tensor.matmul: ...``,
    ``rt_torch_tensor_randn_opts: ...`` -> ``tensor_randn: ...``); the generic operator entry's
    messages already start with the operator, ``aten::mm(...)``.

    Example:
        >>> python_message("rt_torch_torchtensor_relu: the tensor handle is NULL")
        'Tensor.relu: the tensor handle is NULL'
    """
    match = _C_NAME.match(text)
    if match is None:
        return text
    name = match.group(1)
    python = _PYTHON_NAMES.get(name)
    if python is None:
        prefix, replacement = next((p, r) for p, r in _PREFIXES if name.startswith(p))
        python = replacement + name.removeprefix(prefix).removesuffix("_opts")
    rest = text[match.end():]
    return f"{python}: {rest}" if python else rest


#: Exceptions raised by host code that libtorch ran (a custom function's backward, a hook), by
#: number: the message libtorch passes back names the number, and the caller of backward gets
#: the exception itself (see autograd.py).
HOST_EXCEPTIONS: dict[int, BaseException] = {}
_HOST_EXCEPTION = re.compile(rb"simple_torch host exception #(\d+)")


def host_exception(message: bytes) -> BaseException | None:
    """The host's exception that ``message`` names, if any (taken: it is raised once)."""
    match = _HOST_EXCEPTION.search(message)
    return HOST_EXCEPTIONS.pop(int(match.group(1)), None) if match else None


class _Unavailable:
    """Stands in for the library when it cannot be loaded: every use says why."""

    def __init__(self, reason: TorchNotAvailableError):
        self.reason = reason
        self.unchecked = self  # so that tensor.py can bind functions at import; calls raise

    def __call__(self, *arguments):
        raise TorchNotAvailableError(str(self.reason))

    def __getattr__(self, name: str):
        if name.startswith("rt_torch_"):
            return self  # a stand-in function: calling it raises
        raise TorchNotAvailableError(str(self.reason))


def _load():
    try:
        _load_libtorch()
        return _Checked(ctypes.CDLL(str(library_path()), mode=ctypes.RTLD_GLOBAL))
    except TorchNotAvailableError as error:
        return _Unavailable(error)
    except OSError as error:  # dlopen failed: a broken or mismatched install
        return _Unavailable(TorchNotAvailableError(f"cannot load libtorch or libsimple_torch.so: {error}"))


#: The loaded library (or a stand-in that raises TorchNotAvailableError on use).
lib = _load()

