"""``st.optim``: optimizers and learning-rate schedulers, as ``torch.optim``.

``SGD``, ``Adam`` and ``AdamW`` update parameters with torch's own operations in torch's order,
so a model trained with them follows the same trajectory as with torch's; ``lr_scheduler`` has
``StepLR``, ``CosineAnnealingLR``, ``LambdaLR`` and ``OneCycleLR``. State dicts have torch's
layout.

Example:
    >>> import simple_torch as st
    >>> w = st.randn(4, 3, requires_grad=True)
    >>> opt = st.optim.AdamW([w], lr=1e-3)
    >>> sched = st.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    >>> for _ in range(3):
    ...     opt.zero_grad()
    ...     (w ** 2).sum().backward()
    ...     opt.step(); sched.step()
"""

from . import lr_scheduler
from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Adam", "AdamW", "Optimizer", "SGD", "lr_scheduler"]
