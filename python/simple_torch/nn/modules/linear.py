"""``Identity`` and ``Linear``, as torch's ``torch/nn/modules/linear.py``."""

from __future__ import annotations

import math
from typing import Any

import simple_torch as st
from ..._tensor import TorchTensorWrapper as Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Identity", "Linear"]


class Identity(Module):
    """Returns its input unchanged (any constructor arguments are ignored), as ``torch.nn.Identity``.

    Example:
        >>> x = st.randn(2, 3)
        >>> st.nn.Identity(54, unused="argument")(x) is x
        True
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        return input


class Linear(Module):
    """``y = x @ weight.T + bias``, as ``torch.nn.Linear``: ``weight`` is ``(out_features,
    in_features)``, initialized (as torch does) from U(-1/sqrt(in_features), 1/sqrt(in_features)),
    and so is ``bias``.

    Example:
        >>> layer = st.nn.Linear(20, 30)
        >>> layer(st.randn(128, 20)).shape
        st.Size([128, 30])
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(st.empty((out_features, in_features), device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(st.empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draws new weights and biases, as at construction.

        Example:
            >>> st.nn.Linear(2, 3).reset_parameters()
        """
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class NonDynamicallyQuantizableLinear(Linear):
    """A :class:`Linear` under the name torch gives ``MultiheadAttention``'s ``out_proj`` (so that
    the two print alike).

    Example:
        >>> st.nn.MultiheadAttention(8, 2).out_proj
        NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=True)
    """
