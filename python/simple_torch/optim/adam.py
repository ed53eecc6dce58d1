"""``Adam``: the Adam algorithm (with AMSGrad, L2 or decoupled weight decay), as
``torch.optim.Adam``.

The update is torch's, operation for operation (``torch/optim/adam.py``), so that parameters
and state after each step are bit for bit torch's: the single-tensor loop (torch's default for
CPU tensors), the ``aten::_foreach_*`` kernels (torch's default when every parameter is on a
GPU, or ``foreach=True``) and ``aten::_fused_adam_`` / ``_fused_adamw_`` (``fused=True``).

Example:
    >>> w = st.randn(3, requires_grad=True)
    >>> opt = st.optim.Adam([w], lr=1e-3, amsgrad=True)
    >>> (w * w).sum().backward(); opt.step()
    >>> opt.state[w]["step"]
    tensor(1.)
"""

from __future__ import annotations

from .. import ops
from .._tensor import TorchTensorWrapper as Tensor
from ..autograd import enable_grad
from ..functions import tensor, zeros
from .optimizer import (
    Optimizer,
    _check_scalar,
    _group_by_device_and_dtype,
    _scalar_dtype,
    _step_without_grad,
    _use_foreach,
    _view_as_real,
)

__all__ = ["Adam", "adam"]

aten = ops.aten


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``: for each parameter with a gradient ``g`` (negated when
    ``maximize``; plus ``weight_decay * p``, or with ``decoupled_weight_decay`` the parameter
    itself shrunk by ``1 - lr * weight_decay`` as AdamW), the moments
    ``m = lerp(m, g, 1 - beta1)`` and ``v = beta2 * v + (1 - beta2) * g * g`` (with
    ``amsgrad``, their running maximum is used), then
    ``p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``.

    The state of each parameter is torch's: ``step`` (a float32 0-d tensor on the CPU, or on the
    parameter's device when fused), ``exp_avg``, ``exp_avg_sq`` and, with ``amsgrad``,
    ``max_exp_avg_sq``. ``foreach`` and ``fused`` choose the implementation as in torch;
    ``capturable=True``, ``differentiable=True`` and tensor-valued ``lr``/``betas`` are not
    supported (NotImplementedError).

    Example:
        >>> opt = st.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4)
        >>> opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        _check_scalar("lr", lr)
        _check_scalar("betas[0]", betas[0])
        _check_scalar("betas[1]", betas[1])
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if capturable:
            raise NotImplementedError(f"{type(self).__name__}(capturable=True) is not supported by simple_torch (there is no graph capture)")
        if differentiable:
            raise NotImplementedError(f"{type(self).__name__}(differentiable=True) is not supported by simple_torch: "
                                      "the step always runs under no_grad()")

        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("decoupled_weight_decay", False)
            fused = group.setdefault("fused", None)
            for p in group["params"]:
                p_state = self.state.get(p, [])
                # a step saved as a number (old checkpoints) becomes torch's 0-d tensor
                if len(p_state) != 0 and not isinstance(p_state["step"], Tensor):
                    step = float(p_state["step"])
                    p_state["step"] = (tensor(step, dtype=_scalar_dtype(fused), device=p.device) if fused
                                       else tensor(step, dtype=_scalar_dtype(), device="cpu"))

    def _init_group(self, group, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps) -> bool:
        has_complex = False
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            has_complex |= p.dtype.is_complex
            params.append(p)
            grads.append(grad)
            state = self.state[p]
            if len(state) == 0:  # made lazily, at the parameter's first step
                if group["fused"]:
                    _check_fused(p)
                # torch keeps the step on the CPU (a float32 0-d tensor) unless fused
                state["step"] = (zeros((), dtype=_scalar_dtype(True), device=p.device) if group["fused"]
                                 else tensor(0.0, dtype=_scalar_dtype(), device="cpu"))
                state["exp_avg"] = aten.zeros_like.default(p, memory_format="preserve_format")
                state["exp_avg_sq"] = aten.zeros_like.default(p, memory_format="preserve_format")
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = aten.zeros_like.default(p, memory_format="preserve_format")
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            if group["amsgrad"]:
                max_exp_avg_sqs.append(state["max_exp_avg_sq"])
            state_steps.append(state["step"])
        return has_complex

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
            exp_avgs: list = []
            exp_avg_sqs: list = []
            max_exp_avg_sqs: list = []
            state_steps: list = []
            beta1, beta2 = group["betas"]
            has_complex = self._init_group(group, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps)
            adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, foreach=group["foreach"],
                 fused=group["fused"], has_complex=has_complex, decoupled_weight_decay=group["decoupled_weight_decay"],
                 amsgrad=group["amsgrad"], beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
                 eps=group["eps"], maximize=group["maximize"])
        return loss


def _check_fused(p) -> None:
    if not p.is_floating_point():
        raise RuntimeError(f"`fused=True` requires all the params to be floating point Tensors but {p.dtype} and {p.device.kind}")


def adam(params: list, grads: list, exp_avgs: list, exp_avg_sqs: list, max_exp_avg_sqs: list, state_steps: list,
         foreach: bool | None = None, fused: bool | None = None, has_complex: bool = False,
         decoupled_weight_decay: bool = False, *, amsgrad: bool, beta1: float, beta2: float, lr: float,
         weight_decay: float, eps: float, maximize: bool) -> None:
    """The Adam update of ``params`` and their state in place (the functional form of
    :class:`Adam`, as ``torch.optim.adam``); ``state_steps`` are 0-d float tensors.

    Example:
        >>> st.optim.adam.adam([w], [w.grad], [m], [v], [], [step], amsgrad=False, beta1=0.9,
        ...                    beta2=0.999, lr=1e-3, weight_decay=0, eps=1e-8, maximize=False)
    """
    fused, foreach = _use_foreach(params, foreach, fused)
    if fused:
        implementation = _fused_adam
    elif foreach:
        implementation = _multi_tensor_adam
    else:
        implementation = _single_tensor_adam
    implementation(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, amsgrad=amsgrad,
                   has_complex=has_complex, beta1=beta1, beta2=beta2, lr=lr, weight_decay=weight_decay, eps=eps,
                   maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)


def _single_tensor_adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, amsgrad, has_complex,
                        beta1, beta2, lr, weight_decay, eps, maximize, decoupled_weight_decay):
    # torch's _single_tensor_adam (capturable=False, differentiable=False), one operation for one
    for i, param in enumerate(params):
        grad = grads[i] if not maximize else -grads[i]
        exp_avg = exp_avgs[i]
        exp_avg_sq = exp_avg_sqs[i]
        step_t = state_steps[i]

        step_t += 1

        if weight_decay != 0:
            if decoupled_weight_decay:
                param.mul_(1 - lr * weight_decay)
            else:
                grad = aten.add.Tensor(grad, param, alpha=weight_decay)

        is_complex = param.dtype.is_complex
        if is_complex:  # the real arithmetic below then updates both parts
            grad = aten.view_as_real.default(grad)
            exp_avg = aten.view_as_real.default(exp_avg)
            exp_avg_sq = aten.view_as_real.default(exp_avg_sq)
            param = aten.view_as_real.default(param)
        max_exp_avg_sq = None
        if amsgrad:
            max_exp_avg_sq = aten.view_as_real.default(max_exp_avg_sqs[i]) if is_complex else max_exp_avg_sqs[i]

        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)

        # the bias corrections in Python floats (double), from the step's value
        step = step_t.item()
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5

        if amsgrad:
            aten.maximum.out(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
            denom = (max_exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        else:
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)

        param.addcdiv_(exp_avg, denom, value=-step_size)


def _multi_tensor_adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, amsgrad, has_complex,
                       beta1, beta2, lr, weight_decay, eps, maximize, decoupled_weight_decay):
    # torch's _multi_tensor_adam (capturable=False): the same foreach kernels in the same order
    if not params:
        return
    groups = _group_by_device_and_dtype([params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps])
    for (device_params, device_grads, device_exp_avgs, device_exp_avg_sqs, device_max_exp_avg_sqs,
         device_state_steps), _ in groups.values():
        if has_complex:
            if amsgrad:
                _view_as_real(device_params, device_grads, device_exp_avgs, device_exp_avg_sqs, device_max_exp_avg_sqs)
            else:
                _view_as_real(device_params, device_grads, device_exp_avgs, device_exp_avg_sqs)

        if maximize:
            device_grads = aten._foreach_neg.default(device_grads)

        # Steps on the CPU: one tensor for the increment, not a number wrapped once per step.
        if device_state_steps[0].device.kind == "cpu":
            aten._foreach_add_.Tensor(device_state_steps, tensor(1.0, device="cpu"), alpha=1.0)
        else:
            aten._foreach_add_.Scalar(device_state_steps, 1)

        if weight_decay != 0:
            if decoupled_weight_decay:
                aten._foreach_mul_.Scalar(device_params, 1 - lr * weight_decay)
            elif maximize:  # the negated copies are ours to write into
                aten._foreach_add_.List(device_grads, device_params, alpha=weight_decay)
            else:
                device_grads = aten._foreach_add.List(device_grads, device_params, alpha=weight_decay)

        aten._foreach_lerp_.Scalar(device_exp_avgs, device_grads, 1 - beta1)
        aten._foreach_mul_.Scalar(device_exp_avg_sqs, beta2)
        aten._foreach_addcmul_.Scalar(device_exp_avg_sqs, device_grads, device_grads, 1 - beta2)
        del device_grads

        bias_correction1 = [1 - beta1 ** step.item() for step in device_state_steps]
        bias_correction2 = [1 - beta2 ** step.item() for step in device_state_steps]
        step_size = [(lr / bc) * -1 for bc in bias_correction1]
        bias_correction2_sqrt = [bc**0.5 for bc in bias_correction2]

        if amsgrad:
            aten._foreach_maximum_.List(device_max_exp_avg_sqs, device_exp_avg_sqs)
            exp_avg_sq_sqrt = aten._foreach_sqrt.default(device_max_exp_avg_sqs)
        else:
            exp_avg_sq_sqrt = aten._foreach_sqrt.default(device_exp_avg_sqs)

        aten._foreach_div_.ScalarList(exp_avg_sq_sqrt, bias_correction2_sqrt)
        aten._foreach_add_.Scalar(exp_avg_sq_sqrt, eps)
        aten._foreach_addcdiv_.ScalarList(device_params, device_exp_avgs, exp_avg_sq_sqrt, step_size)


def _fused_adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, amsgrad, has_complex,
                beta1, beta2, lr, weight_decay, eps, maximize, decoupled_weight_decay):
    # torch's _fused_adam: one aten::_fused_adam_ (or _fused_adamw_) per device and dtype
    if not params:
        return
    kernel = aten._fused_adamw_.default if decoupled_weight_decay else aten._fused_adam_.default
    groups = _group_by_device_and_dtype([params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps])
    for (device_params, device_grads, device_exp_avgs, device_exp_avg_sqs, device_max_exp_avg_sqs,
         device_state_steps), _ in groups.values():
        aten._foreach_add_.Scalar(device_state_steps, 1)
        kernel(device_params, device_grads, device_exp_avgs, device_exp_avg_sqs, device_max_exp_avg_sqs,
               device_state_steps, amsgrad=amsgrad, lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay,
               eps=eps, maximize=maximize)
