"""Gradient clipping, as torch's ``torch/nn/utils/clip_grad.py``: the same aten calls
(``_foreach_norm`` and ``_foreach_mul_`` by default, per tensor with ``foreach=False``), so the
total norm and the clipped gradients are torch's."""

from __future__ import annotations

import types
import warnings
from typing import Iterable

import simple_torch as st
from ..._tensor import TorchTensorWrapper as Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]

aten = st.ops.aten


def _as_list(tensors: Tensor | Iterable[Tensor]) -> list[Tensor]:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _grouped(tensors: list[Tensor]) -> dict[tuple, list[Tensor]]:
    """The tensors by (device, dtype), in order of first appearance: each group goes through one
    foreach call, as torch groups them."""
    groups: dict[tuple, list[Tensor]] = {}
    for tensor in tensors:
        groups.setdefault((tensor.device, tensor.dtype), []).append(tensor)
    return groups


def get_total_norm(tensors: Tensor | Iterable[Tensor], norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The ``norm_type`` norm of all the tensors together, as if concatenated into one vector
    (``float("inf")`` for the largest absolute value), as ``torch.nn.utils.get_total_norm``.

    Example:
        >>> st.nn.utils.get_total_norm([st.full((4,), 1.0), st.full((5,), 2.0)]).item()
        4.898979663848877
    """
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return st.tensor(0.0)
    first_device = tensors[0].device
    with st.no_grad():
        norms: list[Tensor] = []
        for group in _grouped(tensors).values():
            if foreach is False:
                norms.extend(aten.linalg_vector_norm.default(t, norm_type) for t in group)
            else:  # None or True: libtorch has foreach kernels on the CPU and on GPUs
                norms.extend(aten._foreach_norm.Scalar(group, norm_type))
        total_norm = aten.linalg_vector_norm.default(st.stack([norm.to(first_device) for norm in norms]), norm_type)
    if error_if_nonfinite and bool(total_norm.isnan() | total_norm.isinf()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    return total_norm


def clip_grads_with_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, total_norm: Tensor,
                          foreach: bool | None = None) -> None:
    """Scales the parameters' gradients in place by ``max_norm / (total_norm + 1e-6)`` when that
    is below 1, as ``torch.nn.utils.clip_grads_with_norm_``. Parameters without a gradient are
    skipped.

    Example:
        >>> params = list(model.parameters())
        >>> st.nn.utils.clip_grads_with_norm_(params, 1.0, st.nn.utils.get_total_norm([p.grad for p in params]))
    """
    grads = [p.grad for p in _as_list(parameters)]
    grads = [g for g in grads if g is not None]
    if not grads:
        return
    with st.no_grad():
        clip_coef_clamped = (float(max_norm) / (total_norm + 1e-6)).clamp(max=1.0)
        for (device, _), group in _grouped(grads).items():
            coef = clip_coef_clamped.to(device)
            if foreach is False:
                for grad in group:
                    grad.mul_(coef)
            else:
                aten._foreach_mul_.Tensor(group, coef)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Clips the gradients of ``parameters`` in place so that their total ``norm_type`` norm is
    at most ``max_norm``, and returns the total norm before clipping, as
    ``torch.nn.utils.clip_grad_norm_``. Parameters whose ``.grad`` is None are skipped. With
    ``error_if_nonfinite=True`` a NaN or infinite total norm raises RuntimeError.

    Example:
        >>> loss = model(x).sum(); loss.backward()
        >>> total = st.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=2)
    grads = [p.grad for p in parameters]
    total_norm = get_total_norm([g for g in grads if g is not None], norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None) -> None:
    """Clamps every gradient of ``parameters`` in place to [-clip_value, clip_value], as
    ``torch.nn.utils.clip_grad_value_``.

    Example:
        >>> st.nn.utils.clip_grad_value_(model.parameters(), 0.5)
    """
    clip_value = float(clip_value)
    grads = [p.grad for p in _as_list(parameters)]
    grads = [g for g in grads if g is not None]
    with st.no_grad():
        for group in _grouped(grads).values():
            if foreach is False:
                for grad in group:
                    grad.clamp_(min=-clip_value, max=clip_value)
            else:
                aten._foreach_clamp_min_.Scalar(group, -clip_value)
                aten._foreach_clamp_max_.Scalar(group, clip_value)
