"""``MaxPool2d``, ``AvgPool2d`` and ``AdaptiveAvgPool2d``, as torch's ``torch/nn/modules/pooling.py``."""

from __future__ import annotations

from ..._tensor import TorchTensorWrapper as Tensor
from .. import functional as F
from .module import Module

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "MaxPool2d"]


class MaxPool2d(Module):
    """2-D max pooling over ``(N, C, H, W)`` (or ``(C, H, W)``) inputs, as ``torch.nn.MaxPool2d``;
    ``stride`` defaults to ``kernel_size``. With ``return_indices=True`` it returns
    ``(output, indices)``.

    Example:
        >>> st.nn.MaxPool2d(3, stride=2)(st.randn(20, 16, 50, 32)).shape
        st.Size([20, 16, 24, 15])
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor):  # noqa: A002 - torch's name
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return ("kernel_size={kernel_size}, stride={stride}, padding={padding}, dilation={dilation}, "
                "ceil_mode={ceil_mode}".format(**self.__dict__))


class AvgPool2d(Module):
    """2-D average pooling over ``(N, C, H, W)`` (or ``(C, H, W)``) inputs, as
    ``torch.nn.AvgPool2d``; ``stride`` defaults to ``kernel_size``.

    Example:
        >>> st.nn.AvgPool2d(2)(st.ones(1, 1, 4, 4)).shape
        st.Size([1, 1, 2, 2])
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """2-D average pooling to a fixed output size (an int, or a pair in which None keeps the
    input's size), whatever the input's, as ``torch.nn.AdaptiveAvgPool2d``.

    Example:
        >>> st.nn.AdaptiveAvgPool2d((5, 7))(st.randn(1, 64, 8, 9)).shape
        st.Size([1, 64, 5, 7])
    """

    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
