"""Losses (``CrossEntropyLoss``, ``NLLLoss``, ``MSELoss``, ``L1Loss``, ``BCEWithLogitsLoss``), as
torch's ``torch/nn/modules/loss.py``: each keeps its settings (and class weights, as buffers) and
calls its function in :mod:`simple_torch.nn.functional`."""

from __future__ import annotations

from ..._tensor import TorchTensorWrapper as Tensor
from .. import functional as F
from .module import Module

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "NLLLoss"]


class _Loss(Module):
    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = F._legacy_reduction(size_average, reduce)
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)  # a buffer: it moves with .to() and is saved in state_dict


class L1Loss(_Loss):
    """The mean (``reduction="mean"``), sum or element-wise (``"none"``) absolute error, as
    ``torch.nn.L1Loss``.

    Example:
        >>> st.nn.L1Loss()(st.zeros(3), st.full((3,), 2.0)).item()
        2.0
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002 - torch's name
        return F.l1_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """The mean (``reduction="mean"``), sum or element-wise (``"none"``) squared error, as
    ``torch.nn.MSELoss``.

    Example:
        >>> st.nn.MSELoss(reduction="sum")(st.zeros(3), st.full((3,), 2.0)).item()
        12.0
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class NLLLoss(_WeightedLoss):
    """The negative log likelihood of log-probabilities ``(N, C)`` (or ``(N, C, d1, ...)``) at
    class indices, with optional class ``weight`` and an ``ignore_index`` that counts for nothing,
    as ``torch.nn.NLLLoss``.

    Example:
        >>> log_probs = st.nn.functional.log_softmax(st.randn(3, 5), dim=1)
        >>> st.nn.NLLLoss()(log_probs, st.tensor([1, 0, 4])).shape
        st.Size([])
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """The cross entropy between logits ``(N, C)`` (or ``(N, C, d1, ...)``) and class indices or
    class probabilities, as ``torch.nn.CrossEntropyLoss``: optional class ``weight``,
    ``ignore_index``, ``reduction`` and ``label_smoothing``.

    Example:
        >>> loss = st.nn.CrossEntropyLoss(label_smoothing=0.1)
        >>> loss(st.randn(3, 5), st.tensor([1, 0, 4])).shape
        st.Size([])
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class BCEWithLogitsLoss(_Loss):
    """Binary cross entropy on logits (a sigmoid and the loss in one stable step), with
    optional per-element ``weight`` and per-class ``pos_weight`` for the positive examples, as
    ``torch.nn.BCEWithLogitsLoss``.

    Example:
        >>> loss = st.nn.BCEWithLogitsLoss(pos_weight=st.full((4,), 3.0))
        >>> loss(st.randn(2, 4), st.ones(2, 4)).shape
        st.Size([])
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", pos_weight: Tensor | None = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, self.weight, pos_weight=self.pos_weight,
                                                  reduction=self.reduction)
