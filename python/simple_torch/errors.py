"""The exceptions simple_torch raises."""


class SimpleTorchError(RuntimeError):
    """A call into libtorch failed; the message is the library's own, naming the values involved.

    Example:
        >>> try:
        ...     tensor_zeros([2, 3]) @ tensor_zeros([4, 5])
        ... except SimpleTorchError as error:
        ...     print(error)  # rt_torch_torchtensor_matmul: float32[2, 3] on cpu with float32[4, 5] ...
    """


class TorchNotAvailableError(SimpleTorchError):
    """libtorch or ``libsimple_torch.so`` could not be loaded; the message says what to install.

    Example:
        >>> if not torch_available():
        ...     tensor_zeros([1])  # raises TorchNotAvailableError: ... pip install torch==2.11.0
    """


class FreedTensorError(SimpleTorchError):
    """The wrapper's handle was already freed, so there is no tensor left to use.

    Example:
        >>> t = tensor_zeros([2]); t.free()
        >>> t.relu()  # raises FreedTensorError
    """
