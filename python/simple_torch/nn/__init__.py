"""``st.nn``: neural network layers, as ``torch.nn``.

:class:`Module` and its layers (``Linear``, ``Conv2d``, ``BatchNorm2d``, ``MultiheadAttention``,
losses, containers, ...) are spelled, initialized, named, saved and printed as torch's: after
``st.manual_seed(s)`` a model built here has exactly the parameters the same model built with
torch has after ``torch.manual_seed(s)``, and its ``state_dict()`` has the same keys.
:mod:`~simple_torch.nn.functional` holds the computations as functions, :mod:`~simple_torch.nn.init`
the initializers, and :mod:`~simple_torch.nn.utils` ``clip_grad_norm_``.

Example:
    >>> import simple_torch as st
    >>> from simple_torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    >>> loss = nn.CrossEntropyLoss()(model(st.randn(8, 4)), st.randint(0, 3, (8,)))
    >>> model
    Sequential(
      (0): Linear(in_features=4, out_features=16, bias=True)
      (1): ReLU()
      (2): Linear(in_features=16, out_features=3, bias=True)
    )
"""

from .parameter import Parameter
from .modules import *  # noqa: F403 - the layers, listed in modules/__init__.py
from .modules import __all__ as _modules_all
from . import functional, init, parallel, utils

__all__ = ["Parameter", "functional", "init", "parallel", "utils", *_modules_all]
