"""``SGD``: stochastic gradient descent, optionally with momentum, as ``torch.optim.SGD``.

The update is torch's, operation for operation (``torch/optim/sgd.py``), so that the parameters
after each step are bit for bit torch's: the single-tensor loop (torch's default for CPU
tensors), the ``aten::_foreach_*`` kernels (torch's default when every parameter is on a GPU, or
``foreach=True``) and ``aten::_fused_sgd_`` (``fused=True``).

Example:
    >>> w = st.randn(3, requires_grad=True)
    >>> opt = st.optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True)
    >>> (w * w).sum().backward(); opt.step()
"""

from __future__ import annotations

from .. import ops
from ..autograd import enable_grad
from .optimizer import Optimizer, _check_scalar, _group_by_device_and_dtype, _step_without_grad, _use_foreach

__all__ = ["SGD", "sgd"]

aten = ops.aten


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``: for each parameter ``p`` with a
    gradient ``g`` (negated when ``maximize``), ``g += weight_decay * p``; with ``momentum``,
    the buffer ``b = momentum * b + (1 - dampening) * g`` (``b = g`` at the first step) and
    ``g = g + momentum * b`` (``nesterov``) or ``g = b``; then ``p -= lr * g``.

    ``foreach`` and ``fused`` choose the implementation as in torch (all give torch's numbers
    for the same choice); ``differentiable=True`` is not supported.

    Example:
        >>> opt = st.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)
        >>> opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0, weight_decay: float = 0,
                 nesterov: bool = False, *, maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        for name, value in (("lr", lr), ("weight_decay", weight_decay)):
            _check_scalar(name, value)
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if differentiable:
            raise NotImplementedError("SGD(differentiable=True) is not supported by simple_torch: the step always runs under no_grad()")

        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", False)

    def _init_group(self, group, params: list, grads: list, momentum_buffers: list) -> None:
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if group["fused"]:
                _check_fused(p)
            params.append(p)
            grads.append(grad)
            if group["momentum"] != 0:
                momentum_buffers.append(self.state[p].get("momentum_buffer"))

    @_step_without_grad
    def step(self, closure=None):
        """Updates every parameter that has a gradient, once. ``closure`` (optional) re-evaluates
        the loss with gradients enabled; its result is returned.

        Example:
            >>> opt.step()
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()

        for group in self.param_groups:
            params: list = []
            grads: list = []
            momentum_buffers: list = []
            self._init_group(group, params, grads, momentum_buffers)
            sgd(params, grads, momentum_buffers, weight_decay=group["weight_decay"], momentum=group["momentum"],
                lr=group["lr"], dampening=group["dampening"], nesterov=group["nesterov"], maximize=group["maximize"],
                foreach=group["foreach"], fused=group["fused"])
            if group["momentum"] != 0:
                # the buffers made at the first step go into the state
                for p, buffer in zip(params, momentum_buffers):
                    self.state[p]["momentum_buffer"] = buffer
        return loss


def _check_fused(p) -> None:
    if not p.is_floating_point():
        raise RuntimeError(f"`fused=True` requires all the params to be floating point Tensors but {p.dtype} and {p.device.kind}")


def sgd(params: list, grads: list, momentum_buffers: list, *, weight_decay: float, momentum: float, lr: float,
        dampening: float, nesterov: bool, maximize: bool, foreach: bool | None = None, fused: bool | None = None) -> None:
    """The SGD update of ``params`` in place (the functional form of :class:`SGD`, as
    ``torch.optim.sgd``); ``momentum_buffers`` holds one buffer or None per parameter when
    ``momentum != 0``, and the buffers made here are written into it.

    Example:
        >>> bufs = [None]
        >>> st.optim.sgd.sgd([w], [w.grad], bufs, weight_decay=0, momentum=0.9, lr=0.1,
        ...                  dampening=0, nesterov=False, maximize=False)
    """
    fused, foreach = _use_foreach(params, foreach, fused)
    if foreach:
        implementation = _multi_tensor_sgd
    elif fused:
        implementation = _fused_sgd
    else:
        implementation = _single_tensor_sgd
    implementation(params, grads, momentum_buffers, weight_decay=weight_decay, momentum=momentum, lr=lr,
                   dampening=dampening, nesterov=nesterov, maximize=maximize)


def _single_tensor_sgd(params, grads, momentum_buffers, *, weight_decay, momentum, lr, dampening, nesterov, maximize):
    # torch's _single_tensor_sgd, one operation for one operation
    for i, param in enumerate(params):
        grad = grads[i] if not maximize else -grads[i]
        if weight_decay != 0:
            grad = aten.add.Tensor(grad, param, alpha=weight_decay)
        if momentum != 0:
            buf = momentum_buffers[i]
            if buf is None:
                buf = grad.detach().clone()
                momentum_buffers[i] = buf
            else:
                buf.mul_(momentum).add_(grad, alpha=1 - dampening)
            grad = aten.add.Tensor(grad, buf, alpha=momentum) if nesterov else buf
        param.add_(grad, alpha=-lr)


def _multi_tensor_sgd(params, grads, momentum_buffers, *, weight_decay, momentum, lr, dampening, nesterov, maximize):
    # torch's _multi_tensor_sgd: the same foreach kernels in the same order
    if not params:
        return
    groups = _group_by_device_and_dtype([params, grads, momentum_buffers], with_indices=True)
    for (device_params, device_grads, device_buffers), indices in groups.values():
        if maximize:
            device_grads = aten._foreach_neg.default(device_grads)
        if weight_decay != 0:
            if maximize:  # the negated copies are ours to write into
                aten._foreach_add_.List(device_grads, device_params, alpha=weight_decay)
            else:
                device_grads = aten._foreach_add.List(device_grads, device_params, alpha=weight_decay)
        if momentum != 0:
            if all(b is not None for b in device_buffers):
                bufs = list(device_buffers)
                aten._foreach_mul_.Scalar(bufs, momentum)
                aten._foreach_add_.List(bufs, device_grads, alpha=1 - dampening)
            else:
                bufs = []
                for i, buf in enumerate(device_buffers):
                    if buf is None:
                        buf = device_buffers[i] = momentum_buffers[indices[i]] = device_grads[i].detach().clone()
                    else:
                        buf.mul_(momentum).add_(device_grads[i], alpha=1 - dampening)
                    bufs.append(buf)
            if nesterov:
                aten._foreach_add_.List(device_grads, bufs, alpha=momentum)
            else:
                device_grads = bufs
        aten._foreach_add_.List(device_params, device_grads, alpha=-lr)


def _fused_sgd(params, grads, momentum_buffers, *, weight_decay, momentum, lr, dampening, nesterov, maximize):
    # torch's _fused_sgd: one aten::_fused_sgd_ per device and dtype
    if not params:
        return
    no_momentum_buffer = momentum == 0
    is_first_step = all(b is None for b in momentum_buffers) and not no_momentum_buffer
    if is_first_step:
        for i, g in enumerate(grads):
            momentum_buffers[i] = aten.empty_like.default(g)
    groups = _group_by_device_and_dtype([params, grads, momentum_buffers])
    for (device_params, device_grads, device_buffers), _ in groups.values():
        aten._fused_sgd_.default(device_params, device_grads, [] if no_momentum_buffer else device_buffers,
                                 weight_decay=weight_decay, momentum=momentum, lr=lr, dampening=dampening,
                                 nesterov=nesterov, maximize=maximize, is_first_step=is_first_step)
