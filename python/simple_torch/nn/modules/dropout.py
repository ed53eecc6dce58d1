"""``Dropout``, as torch's ``torch/nn/modules/dropout.py``."""

from __future__ import annotations

from ..._tensor import TorchTensorWrapper as Tensor
from .. import functional as F
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """In training mode, zeroes each element with probability ``p`` and scales the others by
    ``1 / (1 - p)``; in evaluation mode, the identity. As ``torch.nn.Dropout``, with the same
    elements dropped as torch's after the same seed.

    Example:
        >>> drop = st.nn.Dropout(p=0.2)
        >>> drop(st.randn(20, 16)).shape
        st.Size([20, 16])
        >>> x = st.ones(3); drop.eval()(x) is x
        True
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
