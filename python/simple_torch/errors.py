"""The exceptions and warnings simple_torch raises.

Every failure of the library raises a subclass of :class:`SimpleTorchError` chosen by the
library's error kind; each also inherits the builtin a Python user would expect (``except
ValueError`` catches a shape mismatch, ``except MemoryError`` a failed allocation). The
message is the library's own and names the function and the values involved.
"""


class SimpleTorchError(RuntimeError):
    """A call into libtorch failed.

    Example:
        >>> try:
        ...     tensor_zeros([2, 3]) @ tensor_zeros([4, 5])
        ... except SimpleTorchError as error:
        ...     print(error)  # rt_torch_torchtensor_matmul: float32[2, 3] on cpu with float32[4, 5] ...
    """


class ArgumentError(SimpleTorchError, ValueError):
    """A bad value: mismatched shapes, negative dims, an unknown dtype, a dim out of range,
    or an operation libtorch refuses for these inputs.

    Example:
        >>> tensor_zeros([2, -3])  # raises ArgumentError: ... negative dimension in shape [2, -3]
    """


class DeviceError(SimpleTorchError):
    """A device that does not exist: no CUDA on this machine, or a GPU index out of range.

    Example:
        >>> tensor_zeros([2]).cuda(7)  # raises DeviceError: ... cannot use cuda:7: ...
    """


class HandleError(SimpleTorchError, ValueError):
    """A handle that is NULL, already freed, never handed out, or of the wrong kind.

    Example:
        >>> lib.rt_torch_torchtensor_numel(0xDEADBEEF)  # raises HandleError
    """


class FreedTensorError(HandleError):
    """The wrapper's handle was already freed, so there is no tensor left to use.

    Example:
        >>> t = tensor_zeros([2]); t.free()
        >>> t.relu()  # raises FreedTensorError
    """


class OutOfMemoryError(SimpleTorchError, MemoryError):
    """An allocation failed, on the CPU or a GPU; the process and every other tensor are fine.

    Example:
        >>> tensor_zeros([2**40])  # 4 TiB: raises OutOfMemoryError
    """


class TensorIndexError(SimpleTorchError, IndexError):
    """An index out of range, as libtorch reports it (torch raises ``IndexError`` there too).

    Example:
        >>> st.ops.aten.select.int(tensor_zeros([2]), 0, 5)  # raises TensorIndexError
    """


class ArgumentTypeError(SimpleTorchError, TypeError):
    """Arguments an operator cannot take: a value of the wrong type, a missing or unknown
    argument, or arguments that fit none of its overloads (torch raises ``TypeError`` there).

    Example:
        >>> st.ops.aten.add.Tensor(tensor_zeros([2]), "one")  # raises ArgumentTypeError
    """


class UnsupportedError(SimpleTorchError, NotImplementedError):
    """An operator that libtorch has not implemented for these inputs (for instance this dtype
    or device), or an argument type that the generic entry cannot pass.

    Example:
        >>> st.ops.aten.add.Tensor(bool_tensor, bool_tensor, alpha=2.5)  # may raise UnsupportedError
    """


class DistError(SimpleTorchError):
    """A distributed failure: a rank that died or never arrived, a timeout, collectives the
    ranks disagree on, a store that cannot be reached (``torch.distributed.DistError``'s role;
    ``st.distributed.DistError``).

    Example:
        >>> try:
        ...     st.distributed.all_reduce(t)
        ... except st.distributed.DistError as error:
        ...     print(error)  # names the missing rank(s) and the timeout
    """


class TorchNotAvailableError(SimpleTorchError):
    """libtorch or ``libsimple_torch.so`` could not be loaded; the message says what to install.

    Example:
        >>> if not torch_available():
        ...     tensor_zeros([1])  # raises TorchNotAvailableError: ... pip install torch==2.11.0
    """


class ConfigError(SimpleTorchError, ValueError):
    """A ``dl`` config that cannot be used: a syntax error or a bad value. The message names
    the file (or environment variable), the line and the key; so do ``path``, ``line`` and
    ``key`` (None where they do not apply).

    Example:
        >>> load_local_config()  # raises ConfigError: dl.config.sdn, line 2, key 'device': ...
    """

    def __init__(self, message: str, path=None, line: int | None = None, key: str | None = None):
        super().__init__(message)
        self.path, self.line, self.key = path, line, key


class ConfigWarning(UserWarning):
    """A ``dl`` config setting that is read but changes nothing: an unknown key, or a value
    simple_torch does not act on.

    Example:
        >>> warnings.simplefilter("error", ConfigWarning)  # make unknown keys fatal
    """


class DeviceFallbackWarning(UserWarning):
    """A GPU that was asked for does not exist, and the ``"cpu"`` fallback policy ran the work
    on the CPU instead. Issued once per missing device.

    Example:
        >>> tensor_zeros([2], device="cuda:3", policy="cpu")  # warns once, returns a CPU tensor
    """


#: Exception class for each of the library's error kinds (RT_TORCH_ERROR_* in the C header).
BY_KIND = {
    1: ArgumentError,
    2: DeviceError,
    3: HandleError,
    4: OutOfMemoryError,
    5: SimpleTorchError,
    6: TensorIndexError,
    7: ArgumentTypeError,
    8: UnsupportedError,
    9: DistError,
}
