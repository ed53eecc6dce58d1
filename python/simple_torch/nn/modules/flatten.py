"""``Flatten``, as torch's ``torch/nn/modules/flatten.py``."""

from __future__ import annotations

from ..._tensor import TorchTensorWrapper as Tensor
from .module import Module

__all__ = ["Flatten"]


class Flatten(Module):
    """Flattens dimensions ``start_dim`` to ``end_dim`` into one (by default all but the batch
    dimension), as ``torch.nn.Flatten``.

    Example:
        >>> st.nn.Flatten()(st.randn(32, 1, 5, 5)).shape
        st.Size([32, 25])
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
