"""``AdamW``: Adam with decoupled weight decay, as ``torch.optim.AdamW``.

As in torch, it is :class:`~simple_torch.optim.Adam` with ``decoupled_weight_decay=True`` (the
parameter shrinks by ``1 - lr * weight_decay`` before the Adam update, instead of the decay
being added to the gradient) and a default ``weight_decay`` of 0.01.

Example:
    >>> w = st.randn(3, requires_grad=True)
    >>> opt = st.optim.AdamW([w], lr=1e-3, weight_decay=0.05)
    >>> (w * w).sum().backward(); opt.step()
"""

from __future__ import annotations

from .adam import Adam

__all__ = ["AdamW"]


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam whose weight decay is decoupled from the
    gradient (``p *= 1 - lr * weight_decay``, then Adam's update). Options and state as
    :class:`~simple_torch.optim.Adam`'s; its param groups keep ``decoupled_weight_decay=True``.

    Example:
        >>> opt = st.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
        >>> opt.zero_grad(); loss.backward(); opt.step()
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        # whatever a loaded state dict says, AdamW's decay stays decoupled (as in torch)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
