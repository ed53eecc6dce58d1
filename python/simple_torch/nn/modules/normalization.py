"""``LayerNorm`` and ``GroupNorm``, as torch's ``torch/nn/modules/normalization.py``."""

from __future__ import annotations

import numbers

import simple_torch as st
from ..._tensor import TorchTensorWrapper as Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["GroupNorm", "LayerNorm"]


class LayerNorm(Module):
    """Layer normalization over the last dimensions (``normalized_shape``: an int or a shape),
    with a learned element-wise ``weight`` (ones) and ``bias`` (zeros) unless
    ``elementwise_affine=False`` (``bias=False`` keeps only the weight), as ``torch.nn.LayerNorm``.

    Example:
        >>> st.nn.LayerNorm(10)(st.randn(20, 5, 10)).shape
        st.Size([20, 5, 10])
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if self.elementwise_affine:
            self.weight = Parameter(st.empty(self.normalized_shape, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(st.empty(self.normalized_shape, device=device, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight 1 and bias 0, as at construction.

        Example:
            >>> st.nn.LayerNorm(4).reset_parameters()
        """
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return "{normalized_shape}, eps={eps}, elementwise_affine={elementwise_affine}".format(**self.__dict__)


class GroupNorm(Module):
    """Group normalization: the ``num_channels`` channels (dimension 1) in ``num_groups`` groups,
    each normalized by its own statistics, with a per-channel affine transform unless
    ``affine=False``, as ``torch.nn.GroupNorm``.

    Example:
        >>> st.nn.GroupNorm(3, 6)(st.randn(20, 6, 10, 10)).shape
        st.Size([20, 6, 10, 10])
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if self.affine:
            self.weight = Parameter(st.empty(num_channels, device=device, dtype=dtype))
            self.bias = Parameter(st.empty(num_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight 1 and bias 0, as at construction.

        Example:
            >>> st.nn.GroupNorm(2, 4).reset_parameters()
        """
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return "{num_groups}, {num_channels}, eps={eps}, affine={affine}".format(**self.__dict__)
