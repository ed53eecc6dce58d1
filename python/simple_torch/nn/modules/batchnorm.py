"""``BatchNorm1d`` and ``BatchNorm2d``, as torch's ``torch/nn/modules/batchnorm.py``."""

from __future__ import annotations

import simple_torch as st
from ..._tensor import TorchTensorWrapper as Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _NormBase(Module):
    """The parameters and running statistics the batch norms share."""

    # Version 2 added num_batches_tracked: a state dict saved before it still loads (see below).
    _version = 2

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if self.affine:
            self.weight = Parameter(st.empty(num_features, device=device, dtype=dtype))
            self.bias = Parameter(st.empty(num_features, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", st.zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", st.ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked", st.tensor(0, dtype=st.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen.

        Example:
            >>> st.nn.BatchNorm1d(3).reset_running_stats()
        """
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Running statistics reset, weight 1, bias 0, as at construction.

        Example:
            >>> st.nn.BatchNorm1d(3).reset_parameters()
        """
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002 - torch's name
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ("{num_features}, eps={eps}, momentum={momentum}, affine={affine}, "
                "track_running_stats={track_running_stats}".format(**self.__dict__))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        version = local_metadata.get("version", None)
        if (version is None or version < 2) and self.track_running_stats:
            # A state dict from before num_batches_tracked existed: keep ours rather than call it missing.
            key = prefix + "num_batches_tracked"
            if key not in state_dict:
                state_dict[key] = self.num_batches_tracked if self.num_batches_tracked is not None else st.tensor(0)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)


class _BatchNorm(_NormBase):
    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        self._check_input_dim(input)
        exponential_average_factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # a cumulative moving average: every batch weighs the same
                exponential_average_factor = 1.0 / float(self.num_batches_tracked)
            else:  # an exponential moving average
                exponential_average_factor = self.momentum
        # Batch statistics in training, and in evaluation when there are no running ones.
        bn_training = True if self.training else (self.running_mean is None and self.running_var is None)
        # The running statistics are updated only in training with track_running_stats, and used
        # (when not None) in evaluation.
        use_running = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if use_running else None,
                            self.running_var if use_running else None, self.weight, self.bias, bn_training,
                            exponential_average_factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalization over ``(N, C)`` or ``(N, C, L)`` inputs, as ``torch.nn.BatchNorm1d``:
    in training it normalizes each channel by the batch's mean and (biased) variance and updates
    the running statistics (``momentum`` is the weight of the new batch; None for a cumulative
    average); in evaluation it uses the running statistics.

    Example:
        >>> bn = st.nn.BatchNorm1d(100)
        >>> bn(st.randn(20, 100)).shape
        st.Size([20, 100])
        >>> int(bn.num_batches_tracked)
        1
    """

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002
        if input.dim() != 2 and input.dim() != 3:
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")


class BatchNorm2d(_BatchNorm):
    """Batch normalization over ``(N, C, H, W)`` inputs, per channel, as ``torch.nn.BatchNorm2d``
    (see :class:`BatchNorm1d`).

    Example:
        >>> st.nn.BatchNorm2d(16, affine=False)(st.randn(4, 16, 8, 8)).shape
        st.Size([4, 16, 8, 8])
    """

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")
