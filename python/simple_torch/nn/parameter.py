"""``Parameter``: a tensor that a :class:`~simple_torch.nn.Module` registers as one of its
parameters, as ``torch.nn.Parameter``."""

from __future__ import annotations

import simple_torch as st
from .._tensor import TorchTensorWrapper


class Parameter(TorchTensorWrapper):
    """A tensor that is a module parameter: assigned as an attribute of a
    :class:`~simple_torch.nn.Module`, it is registered in the module's ``parameters()`` and
    ``state_dict()``, as torch's ``nn.Parameter``.

    ``Parameter(data, requires_grad=True)`` is a new leaf tensor that shares ``data``'s memory
    (made by ``data.detach()``, as torch makes it), with ``requires_grad`` set. Operations on a
    parameter return plain tensors; only in-place ones (``p.uniform_()``, ``p.mul_(2)``) return the
    parameter itself.

    Example:
        >>> w = st.nn.Parameter(st.zeros(2, 3))
        >>> isinstance(w, st.Tensor), w.shape
        (True, st.Size([2, 3]))
        >>> (w * 2).__class__.__name__
        'TorchTensorWrapper'
    """

    # No __slots__: like torch's parameters, a Parameter may carry attributes of its own
    # (optimizers and training code sometimes tag parameters).

    def __new__(cls, data: TorchTensorWrapper | None = None, requires_grad: bool = True):
        if data is None:
            data = st.empty(0)
        if not isinstance(data, TorchTensorWrapper):
            raise TypeError(f"Parameter needs a tensor, got {type(data).__name__}")
        # A new handle over a new tensor that shares data's memory and has no autograd history;
        # the Parameter takes that handle over, and the temporary wrapper is left empty so that
        # it never frees it.
        leaf = data.detach()
        param = TorchTensorWrapper.__new__(cls)
        param._handle, leaf._handle = leaf._handle, None
        param.requires_grad_(requires_grad)
        return param

    def __init__(self, data: TorchTensorWrapper | None = None, requires_grad: bool = True):
        pass  # everything was done in __new__ (TorchTensorWrapper.__init__ takes a raw handle)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> Parameter:
        """A Parameter over a copy of the values, as torch's ``copy.deepcopy`` of a parameter."""
        if id(self) in memo:
            return memo[id(self)]
        with st.no_grad():
            result = Parameter(self.clone(), self.requires_grad)
        memo[id(self)] = result
        return result
