"""``st.nn.functional``: the layers' computations as functions, as ``torch.nn.functional``.

Each function makes the aten call that torch's ``torch/nn/functional.py`` makes, with the same
argument handling (defaults, reductions as ``none=0, mean=1, sum=2``, ``stride=None`` as an empty
list, ...), so the results are torch's: the same kernels run on both sides.

Example:
    >>> import simple_torch as st
    >>> import simple_torch.nn.functional as F
    >>> x = st.randn(4, 10)
    >>> F.cross_entropy(F.linear(x, st.randn(3, 10)), st.tensor([0, 2, 1, 0])).shape
    st.Size([])
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import simple_torch as st
from .. import ops
from .._tensor import TorchTensorWrapper as Tensor
from ..dtypes import DType
from .modules.utils import _list_with_default

aten = ops.aten

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy_with_logits",
    "conv1d",
    "conv2d",
    "cross_entropy",
    "dropout",
    "embedding",
    "gelu",
    "group_norm",
    "l1_loss",
    "layer_norm",
    "linear",
    "log_softmax",
    "max_pool2d",
    "mse_loss",
    "multi_head_attention_forward",
    "nll_loss",
    "pad",
    "relu",
    "scaled_dot_product_attention",
    "sigmoid",
    "silu",
    "softmax",
    "tanh",
]


# -- reductions ------------------------------------------------------------------------------


def _reduction_enum(reduction: str) -> int:
    """A loss's ``reduction`` as aten's integer (torch's ``_Reduction.get_enum``)."""
    if reduction == "none":
        return 0
    if reduction == "mean":
        return 1
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.", stacklevel=3)
        return 1
    if reduction == "sum":
        return 2
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _legacy_reduction(size_average: bool | None, reduce: bool | None) -> str:
    """The reduction that torch's deprecated ``size_average`` and ``reduce`` flags stand for."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.",
                  stacklevel=3)
    return reduction


# -- linear and convolutions -----------------------------------------------------------------


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002 - torch's names
    """``input @ weight.T + bias``, as ``torch.nn.functional.linear``.

    Example:
        >>> F.linear(st.ones(2, 3), st.ones(4, 3)).shape
        st.Size([2, 4])
    """
    return aten.linear.default(input, weight, bias)


def _conv(packet, input, weight, bias, stride, padding, dilation, groups) -> Tensor:  # noqa: A002
    # padding "same" or "valid" is a separate overload of aten's convolutions
    if isinstance(padding, str):
        return packet.padding(input, weight, bias, stride, padding, dilation, groups)
    return packet.default(input, weight, bias, stride, padding, dilation, groups)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,  # noqa: A002
           groups: int = 1) -> Tensor:
    """A 1-D convolution over ``(N, C_in, L)`` (or ``(C_in, L)``), as ``torch.nn.functional.conv1d``;
    ``padding`` may also be ``"same"`` or ``"valid"``.

    Example:
        >>> F.conv1d(st.ones(1, 2, 5), st.ones(4, 2, 3), padding="same").shape
        st.Size([1, 4, 5])
    """
    return _conv(aten.conv1d, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,  # noqa: A002
           groups: int = 1) -> Tensor:
    """A 2-D convolution over ``(N, C_in, H, W)`` (or ``(C_in, H, W)``), as
    ``torch.nn.functional.conv2d``; ``padding`` may also be ``"same"`` or ``"valid"``.

    Example:
        >>> F.conv2d(st.ones(1, 3, 8, 8), st.ones(6, 3, 3, 3), padding=1).shape
        st.Size([1, 6, 8, 8])
    """
    return _conv(aten.conv2d, input, weight, bias, stride, padding, dilation, groups)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """Pads ``input``: ``pad`` gives (left, right) amounts for the last dimension, then the one
    before, ...; ``mode`` is ``"constant"`` (with ``value``, 0 by default), ``"reflect"``,
    ``"replicate"`` or ``"circular"``, as ``torch.nn.functional.pad``.

    Example:
        >>> F.pad(st.ones(2, 3), (1, 1)).shape
        st.Size([2, 5])
    """
    return aten.pad.default(input, list(pad), mode, value)


# -- pooling ---------------------------------------------------------------------------------


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
               return_indices: bool = False):
    """2-D max pooling, as ``torch.nn.functional.max_pool2d``: ``stride`` defaults to
    ``kernel_size``; with ``return_indices=True``, a tuple ``(output, indices)``.

    Example:
        >>> F.max_pool2d(st.randn(1, 1, 4, 4), 2).shape
        st.Size([1, 1, 2, 2])
    """
    stride = [] if stride is None else stride  # aten's empty stride means kernel_size
    if return_indices:
        return tuple(aten.max_pool2d_with_indices.default(input, kernel_size, stride, padding, dilation, ceil_mode))
    return aten.max_pool2d.default(input, kernel_size, stride, padding, dilation, ceil_mode)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,  # noqa: A002
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d`` (``stride`` defaults to
    ``kernel_size``).

    Example:
        >>> F.avg_pool2d(st.ones(1, 1, 4, 4), 2).shape
        st.Size([1, 1, 2, 2])
    """
    stride = [] if stride is None else stride
    return aten.avg_pool2d.default(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:  # noqa: A002
    """2-D average pooling to a fixed ``output_size`` (an int, or a pair in which None keeps the
    input's size), as ``torch.nn.functional.adaptive_avg_pool2d``.

    Example:
        >>> F.adaptive_avg_pool2d(st.ones(1, 3, 7, 5), (1, None)).shape
        st.Size([1, 3, 1, 5])
    """
    return aten.adaptive_avg_pool2d.default(input, _list_with_default(output_size, input.size()))


# -- normalization ---------------------------------------------------------------------------


def _verify_batch_size(size: Sequence[int]) -> None:
    count = size[0]
    for extent in size[2:]:
        count *= extent
    if count == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,  # noqa: A002
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization over dimension 1, as ``torch.nn.functional.batch_norm``. In training
    it normalizes by the batch's statistics and updates ``running_mean`` and ``running_var`` in
    place (``momentum`` is the weight of the new batch); otherwise it uses them.

    Example:
        >>> mean, var = st.zeros(3), st.ones(3)
        >>> F.batch_norm(st.randn(8, 3), mean, var, training=True).shape
        st.Size([8, 3])
    """
    if training:
        _verify_batch_size(input.size())
    if eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive, but got {eps}")
    # The last argument is torch.backends.cudnn.enabled, True unless a user turned cuDNN off.
    return aten.batch_norm.default(input, weight, bias, running_mean, running_var, training, momentum, eps, True)


def layer_norm(input: Tensor, normalized_shape: Sequence[int], weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer normalization over the last ``len(normalized_shape)`` dimensions, as
    ``torch.nn.functional.layer_norm``.

    Example:
        >>> F.layer_norm(st.randn(2, 5), (5,)).shape
        st.Size([2, 5])
    """
    shape = [normalized_shape] if isinstance(normalized_shape, int) else list(normalized_shape)
    return aten.layer_norm.default(input, shape, weight, bias, eps, True)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,  # noqa: A002
               eps: float = 1e-5) -> Tensor:
    """Group normalization: the channels (dimension 1) in ``num_groups`` groups, as
    ``torch.nn.functional.group_norm``.

    Example:
        >>> F.group_norm(st.randn(2, 6, 4), 3).shape
        st.Size([2, 6, 4])
    """
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.dim()}")
    _verify_batch_size([input.size(0) * input.size(1) // num_groups, num_groups, *input.size()[2:]])
    return aten.group_norm.default(input, num_groups, weight, bias, eps, True)


# -- dropout and embeddings ------------------------------------------------------------------


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """Zeroes each element with probability ``p`` and scales the rest by ``1 / (1 - p)`` when
    ``training``, as ``torch.nn.functional.dropout`` (the same elements as torch's after the same
    seed).

    Example:
        >>> st.manual_seed(0); F.dropout(st.ones(4), 0.5).tolist()
        [0.0, 0.0, 2.0, 0.0]
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    return aten.dropout_.default(input, p, training) if inplace else aten.dropout.default(input, p, training)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,  # noqa: A002
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """The rows of ``weight`` at the indices in ``input``, as ``torch.nn.functional.embedding``.
    ``padding_idx``'s row gets no gradient; with ``max_norm``, the rows looked up are first
    renormalized in place to at most that norm.

    Example:
        >>> F.embedding(st.tensor([[0, 2]]), st.randn(3, 4)).shape
        st.Size([1, 2, 4])
    """
    if padding_idx is not None:
        if padding_idx > 0 and padding_idx >= weight.size(0):
            raise AssertionError("Padding_idx must be within num_embeddings")
        if padding_idx < 0:
            if padding_idx < -weight.size(0):
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = weight.size(0) + padding_idx
    else:
        padding_idx = -1
    if max_norm is not None:
        input = input.contiguous()  # noqa: A001 - embedding_renorm_ makes it contiguous anyway
        # Through a detached alias, as torch does: the renormalization is not recorded by autograd.
        aten.embedding_renorm_.default(weight.detach(), input, max_norm, norm_type)
    return aten.embedding.default(weight, input, padding_idx, scale_grad_by_freq, sparse)


# -- activations -----------------------------------------------------------------------------


def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """``max(x, 0)`` element-wise, as ``torch.nn.functional.relu``.

    Example:
        >>> F.relu(st.tensor([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """
    return aten.relu_.default(input) if inplace else aten.relu.default(input)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    """The Gaussian error linear unit, exact or with ``approximate="tanh"``, as
    ``torch.nn.functional.gelu``.

    Example:
        >>> round(F.gelu(st.tensor([1.0])).item(), 4)
        0.8413
    """
    return aten.gelu.default(input, approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x * sigmoid(x)``, as ``torch.nn.functional.silu``.

    Example:
        >>> round(F.silu(st.tensor([1.0])).item(), 4)
        0.7311
    """
    return aten.silu_.default(input) if inplace else aten.silu.default(input)


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    """The hyperbolic tangent, element-wise.

    Example:
        >>> F.tanh(st.zeros(2)).tolist()
        [0.0, 0.0]
    """
    return input.tanh()


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """``1 / (1 + exp(-x))``, element-wise.

    Example:
        >>> F.sigmoid(st.zeros(2)).tolist()
        [0.5, 0.5]
    """
    return input.sigmoid()


def _get_softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                  "Change the call to include dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:  # noqa: A002
    """``exp(x) / sum(exp(x))`` along ``dim`` (computed in ``dtype`` if given), as
    ``torch.nn.functional.softmax``.

    Example:
        >>> F.softmax(st.zeros(2, 2), dim=1).tolist()
        [[0.5, 0.5], [0.5, 0.5]]
    """
    if dim is None:
        dim = _get_softmax_dim("softmax", input.dim(), _stacklevel)
    return aten.softmax.int(input, dim, None if dtype is None else DType.from_any(dtype))


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:  # noqa: A002
    """The log of :func:`softmax`, computed stably, as ``torch.nn.functional.log_softmax``.

    Example:
        >>> F.log_softmax(st.zeros(1, 2), dim=1).exp().tolist()
        [[0.5, 0.5]]
    """
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.dim(), _stacklevel)
    return aten.log_softmax.int(input, dim, None if dtype is None else DType.from_any(dtype))


# -- losses ----------------------------------------------------------------------------------


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: bool | None = None,  # noqa: A002
                  ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """The cross entropy between logits ``input`` (``(N, C)`` or ``(N, C, d1, ...)``) and class
    indices or class probabilities ``target``, as ``torch.nn.functional.cross_entropy``.

    Example:
        >>> round(F.cross_entropy(st.zeros(2, 4), st.tensor([1, 3])).item(), 4)  # log(4)
        1.3863
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    return aten.cross_entropy_loss.default(input, target, weight, _reduction_enum(reduction), ignore_index,
                                           label_smoothing)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: bool | None = None,  # noqa: A002
             ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """The negative log likelihood of log-probabilities ``input`` at class indices ``target``,
    as ``torch.nn.functional.nll_loss``.

    Example:
        >>> round(F.nll_loss(F.log_softmax(st.zeros(2, 4), 1), st.tensor([1, 3])).item(), 4)  # log(4)
        1.3863
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    return aten.nll_loss_nd.default(input, target, weight, _reduction_enum(reduction), ignore_index)


def _warn_if_sizes_differ(input: Tensor, target: Tensor) -> None:  # noqa: A002
    if target.size() != input.size():
        warnings.warn(f"Using a target size ({target.size()}) that is different to the input size ({input.size()}). "
                      "This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", stacklevel=3)


def _pointwise_loss(aten_loss, errors, input, target, size_average, reduce, reduction, weight) -> Tensor:  # noqa: A002
    """mse_loss and l1_loss, as torch writes them: broadcast, then aten's loss, or (with
    ``weight``) the weighted errors reduced in Python."""
    _warn_if_sizes_differ(input, target)
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    expanded_input, expanded_target = aten.broadcast_tensors.default([input, target])
    if weight is None:
        return aten_loss(expanded_input, expanded_target, _reduction_enum(reduction))
    if weight.size() != input.size():
        raise ValueError("Weights and input must have the same size.")
    weighted = errors(expanded_input - expanded_target) * weight
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    if reduction == "mean":
        return weighted.sum() / weight.sum()
    raise ValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")


def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,  # noqa: A002
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """The (optionally weighted) mean squared error, as ``torch.nn.functional.mse_loss``.

    Example:
        >>> F.mse_loss(st.zeros(3), st.full((3,), 2.0)).item()
        4.0
    """
    return _pointwise_loss(aten.mse_loss.default, lambda d: d.pow(2), input, target, size_average, reduce,
                           reduction, weight)


def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,  # noqa: A002
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """The (optionally weighted) mean absolute error, as ``torch.nn.functional.l1_loss``.

    Example:
        >>> F.l1_loss(st.zeros(3), st.full((3,), -2.0)).item()
        2.0
    """
    return _pointwise_loss(aten.l1_loss.default, lambda d: d.abs(), input, target, size_average, reduce,
                           reduction, weight)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                                     size_average: bool | None = None, reduce: bool | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross entropy of ``sigmoid(input)`` against ``target`` (0 to 1), computed stably;
    ``pos_weight`` weighs the positive examples of each class, as
    ``torch.nn.functional.binary_cross_entropy_with_logits``.

    Example:
        >>> round(F.binary_cross_entropy_with_logits(st.zeros(2), st.ones(2)).item(), 4)  # log(2)
        0.6931
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    reduction_enum = _reduction_enum(reduction)
    if target.size() != input.size():
        raise ValueError(f"Target size ({target.size()}) must be the same as input size ({input.size()})")
    return aten.binary_cross_entropy_with_logits.default(input, target, weight, pos_weight, reduction_enum)


# -- attention -------------------------------------------------------------------------------


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(query @ key.mT * scale + mask) @ value`` over the last two dimensions, with
    libtorch's fused kernels, as ``torch.nn.functional.scaled_dot_product_attention``. A bool
    ``attn_mask`` says which positions may attend; a float one is added to the scores.

    Example:
        >>> q = st.randn(2, 4, 5, 8)
        >>> F.scaled_dot_product_attention(q, q, q, is_causal=True).shape
        st.Size([2, 4, 5, 8])
    """
    return aten.scaled_dot_product_attention.default(query, key, value, attn_mask, dropout_p, is_causal,
                                                     scale=scale, enable_gqa=enable_gqa)


def _canonical_mask(mask: Tensor | None, mask_name: str, other_type, other_name: str, target_type,
                    check_other: bool = True) -> Tensor | None:
    """A bool mask (True: masked out) as the float mask it stands for (-inf where masked)."""
    if mask is None:
        return None
    is_float = mask.dtype.is_floating_point
    if mask.dtype != DType.bool and not is_float:
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. "
                      "Use same type for both instead.", stacklevel=3)
    if not is_float:
        mask = st.zeros_like(mask, dtype=target_type).masked_fill_(mask, float("-inf"))
    return mask


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads) -> bool:
    """Whether the attention's inputs are batched (3-D query); checks the shapes as torch does."""
    if query.dim() == 3:
        if key.dim() != 3 or value.dim() != 3:
            raise AssertionError("For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                                 f"{key.dim()}-D and {value.dim()}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 2:
            raise AssertionError("For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but found "
                                 f"{key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None and attn_mask.dim() not in (2, 3):
            raise AssertionError("For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found "
                                 f"{attn_mask.dim()}-D tensor instead")
        return True
    if query.dim() == 2:
        if key.dim() != 2 or value.dim() != 2:
            raise AssertionError("For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                                 f"{key.dim()}-D and {value.dim()}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 1:
            raise AssertionError("For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D but "
                                 f"found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None:
            if attn_mask.dim() not in (2, 3):
                raise AssertionError("For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but "
                                     f"found {attn_mask.dim()}-D tensor instead")
            if attn_mask.dim() == 3:
                expected = (num_heads, query.shape[0], key.shape[0])
                if attn_mask.shape != expected:
                    raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got {attn_mask.shape}")
        return False
    raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received {query.dim()}-D query tensor")


def _in_projection_packed(q: Tensor, k: Tensor, v: Tensor, w: Tensor, b: Tensor | None) -> tuple:
    """q, k and v through the packed ``in_proj_weight`` (its three blocks of rows), with one
    matrix product when q, k and v are the same tensor (self-attention), as torch does."""
    E = q.size(-1)  # noqa: N806 - torch's name
    if k is v:
        if q is k:
            proj = linear(q, w, b)
            proj = proj.unflatten(-1, (3, E)).unsqueeze(0).transpose(0, -2).squeeze(-2).contiguous()
            return proj[0], proj[1], proj[2]
        w_q, w_kv = aten.split_with_sizes.default(w, [E, E * 2])
        b_q, b_kv = (None, None) if b is None else aten.split_with_sizes.default(b, [E, E * 2])
        kv_proj = linear(k, w_kv, b_kv)
        kv_proj = kv_proj.unflatten(-1, (2, E)).unsqueeze(0).transpose(0, -2).squeeze(-2).contiguous()
        return linear(q, w_q, b_q), kv_proj[0], kv_proj[1]
    w_q, w_k, w_v = w.chunk(3)
    b_q, b_k, b_v = (None, None, None) if b is None else b.chunk(3)
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def _in_projection(q, k, v, w_q, w_k, w_v, b_q, b_k, b_v) -> tuple:
    """q, k and v through separate projection weights (a MultiheadAttention with kdim or vdim)."""
    Eq, Ek, Ev = q.size(-1), k.size(-1), v.size(-1)  # noqa: N806 - torch's names
    for name, weight, expected in (("query", w_q, (Eq, Eq)), ("key", w_k, (Eq, Ek)), ("value", w_v, (Eq, Ev))):
        if weight.shape != expected:
            raise AssertionError(f"expecting {name} weights shape of {expected}, but got {weight.shape}")
    for name, bias in (("query", b_q), ("key", b_k), ("value", b_v)):
        if bias is not None and bias.shape != (Eq,):
            raise AssertionError(f"expecting {name} bias shape of {(Eq,)}, but got {bias.shape}")
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def multi_head_attention_forward(query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
                                 in_proj_weight: Tensor | None, in_proj_bias: Tensor | None, bias_k: Tensor | None,
                                 bias_v: Tensor | None, add_zero_attn: bool, dropout_p: float,
                                 out_proj_weight: Tensor, out_proj_bias: Tensor | None, training: bool = True,
                                 key_padding_mask: Tensor | None = None, need_weights: bool = True,
                                 attn_mask: Tensor | None = None, use_separate_proj_weight: bool = False,
                                 q_proj_weight: Tensor | None = None, k_proj_weight: Tensor | None = None,
                                 v_proj_weight: Tensor | None = None, static_k: Tensor | None = None,
                                 static_v: Tensor | None = None, average_attn_weights: bool = True,
                                 is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
    """Multi-head attention on sequence-first inputs (``(L, N, E)``, or ``(L, E)`` unbatched), as
    ``torch.nn.functional.multi_head_attention_forward`` (what ``nn.MultiheadAttention`` runs).
    With ``need_weights`` the attention weights are computed explicitly and returned (averaged
    over the heads unless ``average_attn_weights=False``); otherwise the heads go through
    :func:`scaled_dot_product_attention` and the weights are None.

    Example:
        >>> x = st.randn(5, 2, 8)
        >>> out, weights = F.multi_head_attention_forward(x, x, x, 8, 2, st.randn(24, 8), None, None, None,
        ...                                               False, 0.0, st.randn(8, 8), None)
        >>> out.shape, weights.shape
        (st.Size([5, 2, 8]), st.Size([2, 5, 5]))
    """
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:  # a batch of one, taken off again at the end
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]

    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask",
                                       None if attn_mask is None else attn_mask.dtype, "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        # scaled_dot_product_attention makes the causal mask itself
        attn_mask = None
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, check_other=False)
        if key_padding_mask is not None:
            is_causal = False  # the mask given carries the causality, merged with the padding below

    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if key.shape[:2] != value.shape[:2]:
            raise AssertionError(f"key's sequence and batch dims {key.shape[:2]} do not match value's {value.shape[:2]}")
    elif key.shape != value.shape:
        raise AssertionError(f"key shape {key.shape} does not match value shape {value.shape}")

    # in-projection
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        q, k, v = _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)
    else:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is True but q_proj_weight, k_proj_weight or "
                                 "v_proj_weight is None")
        b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
        q, k, v = _in_projection(query, key, value, q_proj_weight, k_proj_weight, v_proj_weight, b_q, b_k, b_v)

    # the attention mask as (1 or N * num_heads, L, S)
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if attn_mask.shape != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                                   f"{(tgt_len, src_len)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.dim() == 3:
            if attn_mask.shape != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                                   f"{(bsz * num_heads, tgt_len, src_len)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")

    # learned biases appended to the keys and values (add_bias_kv)
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError("bias cannot be added to static key or value.")
        k = st.cat([k, bias_k.repeat(1, bsz, 1)])
        v = st.cat([v, bias_v.repeat(1, bsz, 1)])
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))
    elif bias_k is not None or bias_v is not None:
        raise AssertionError("bias_k and bias_v must both be given, or neither")

    # split into heads: (N * num_heads, L or S, head_dim)
    q = q.view(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    if static_k is None:
        k = k.view(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        if static_k.size(0) != bsz * num_heads or static_k.size(2) != head_dim:
            raise AssertionError(f"expecting static_k of shape ({bsz * num_heads}, *, {head_dim}), "
                                 f"but got {static_k.shape}")
        k = static_k
    if static_v is None:
        v = v.view(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        if static_v.size(0) != bsz * num_heads or static_v.size(2) != head_dim:
            raise AssertionError(f"expecting static_v of shape ({bsz * num_heads}, *, {head_dim}), "
                                 f"but got {static_v.shape}")
        v = static_v

    if add_zero_attn:  # a zero key and value that every query may attend to
        zero_attn_shape = (bsz * num_heads, 1, head_dim)
        k = st.cat([k, st.zeros(zero_attn_shape, dtype=k.dtype, device=k.device)], dim=1)
        v = st.cat([v, st.zeros(zero_attn_shape, dtype=v.dtype, device=v.device)], dim=1)
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))

    src_len = k.size(1)
    if key_padding_mask is not None:  # merged into the attention mask, per head
        if key_padding_mask.shape[0] != bsz:
            raise AssertionError(f"Expected key_padded_mask.shape[0] to be {bsz}, but got {key_padding_mask.shape[0]}")
        if key_padding_mask.shape[1] != src_len:
            raise AssertionError(f"Expected key_padded_mask.shape[1] to be {src_len}, but got "
                                 f"{key_padding_mask.shape[1]}")
        key_padding_mask = (key_padding_mask.view(bsz, 1, 1, src_len).expand(-1, num_heads, -1, -1)
                            .reshape(bsz * num_heads, 1, src_len))
        attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask

    if not training:
        dropout_p = 0.0

    if need_weights:
        E = q.shape[-1]  # noqa: N806 - torch's name
        q_scaled = q * math.sqrt(1.0 / float(E))
        if is_causal and attn_mask is None:
            raise AssertionError("is_causal without an attn_mask is not implemented when need_weights=True")
        if attn_mask is not None:
            attn_output_weights = st.baddbmm(attn_mask, q_scaled, k.transpose(-2, -1))
        else:
            attn_output_weights = st.bmm(q_scaled, k.transpose(-2, -1))
        attn_output_weights = softmax(attn_output_weights, dim=-1)
        if dropout_p > 0.0:
            attn_output_weights = dropout(attn_output_weights, p=dropout_p)
        attn_output = st.bmm(attn_output_weights, v)
        attn_output = attn_output.transpose(0, 1).contiguous().view(tgt_len * bsz, embed_dim)
        attn_output = linear(attn_output, out_proj_weight, out_proj_bias)
        attn_output = attn_output.view(tgt_len, bsz, attn_output.size(1))
        attn_output_weights = attn_output_weights.view(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            attn_output_weights = attn_output_weights.mean(dim=1)
        if not is_batched:
            attn_output, attn_output_weights = attn_output.squeeze(1), attn_output_weights.squeeze(0)
        return attn_output, attn_output_weights

    # without the weights: the fused kernel, on (N, num_heads, L or S, head_dim)
    if attn_mask is not None:
        if attn_mask.size(0) == 1 and attn_mask.dim() == 3:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.view(bsz, num_heads, -1, src_len)
    q = q.view(bsz, num_heads, tgt_len, head_dim)
    k = k.view(bsz, num_heads, src_len, head_dim)
    v = v.view(bsz, num_heads, src_len, head_dim)
    attn_output = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    attn_output = attn_output.permute(2, 0, 1, 3).contiguous().view(bsz * tgt_len, embed_dim)
    attn_output = linear(attn_output, out_proj_weight, out_proj_bias)
    attn_output = attn_output.view(tgt_len, bsz, attn_output.size(1))
    if not is_batched:
        attn_output = attn_output.squeeze(1)
    return attn_output, None
