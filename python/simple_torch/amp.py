"""Mixed precision, as ``torch.amp``: :class:`autocast` runs eligible operators in a lower
precision through libtorch's own autocast state (per thread, as in libtorch), and
:class:`GradScaler` scales the loss so that float16 gradients do not underflow, with libtorch's
``_amp_foreach_non_finite_check_and_unscale_`` and ``_amp_update_scale_`` kernels.

Example:
    >>> scaler = st.amp.GradScaler("cuda")
    >>> with st.autocast("cuda", dtype=st.float16):
    ...     loss = loss_fn(model(x), y)
    >>> scaler.scale(loss).backward()
    >>> scaler.step(optimizer)
    >>> scaler.update()
"""

from __future__ import annotations

import ctypes
import warnings
from collections import defaultdict

from . import ops
from ._native import lib
from ._tensor import Tensor
from .autograd import _ContextDecorator, no_grad
from .dtypes import DType
from .library import torch_cuda_available

__all__ = ["GradScaler", "autocast"]

# torch's default autocast dtypes.
_DEFAULT_DTYPES = {"cpu": DType.bfloat16, "cuda": DType.float16}


class autocast(_ContextDecorator):
    """Inside, operators that autocast covers run in ``dtype`` on ``device_type`` ("cpu": bfloat16
    by default, "cuda": float16), as ``torch.autocast``; a context manager or decorator. Without a
    GPU, ``"cuda"`` warns and does nothing, as torch does.

    Example:
        >>> with st.autocast("cpu", dtype=st.bfloat16):
        ...     y = st.mm(a, b)          # bfloat16
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True, cache_enabled: bool | None = None):
        if device_type not in _DEFAULT_DTYPES:
            raise ValueError(f"autocast supports the device types 'cpu' and 'cuda', not {device_type!r}")
        self.device_type = device_type
        self.dtype = DType.from_any(dtype) if dtype is not None else _DEFAULT_DTYPES[device_type]
        self.enabled = bool(enabled)
        if self.enabled and device_type == "cuda" and not torch_cuda_available():
            warnings.warn("User provided device_type of 'cuda', but CUDA is not available. Disabling", stacklevel=2)
            self.enabled = False
        if cache_enabled is False:
            raise NotImplementedError("autocast(cache_enabled=False) is not supported: casts of weights are cached")
        self._previous: list[tuple[int, int]] = []

    def _fresh(self):
        return autocast(self.device_type, self.dtype, self.enabled)

    def __enter__(self):
        enabled, dtype = ctypes.c_int32(), ctypes.c_int32()
        lib.rt_torch_autocast_state(self.device_type.encode(), int(self.enabled), self.dtype.value, ctypes.byref(enabled), ctypes.byref(dtype))
        self._previous.append((enabled.value, dtype.value))
        lib.rt_torch_autocast_nesting(1)
        return self

    def __exit__(self, *exc_info):
        lib.rt_torch_autocast_nesting(-1)
        enabled, dtype = self._previous.pop()
        ignored = ctypes.c_int32()
        lib.rt_torch_autocast_state(self.device_type.encode(), enabled, dtype, ctypes.byref(ignored), ctypes.byref(ignored))


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """Whether autocast is on for ``device_type`` in the calling thread.

    Example:
        >>> with st.autocast("cpu"):
        ...     st.amp.is_autocast_enabled("cpu")
        True
    """
    enabled, dtype = ctypes.c_int32(), ctypes.c_int32()
    lib.rt_torch_autocast_state(device_type.encode(), -1, -1, ctypes.byref(enabled), ctypes.byref(dtype))
    return bool(enabled.value)


class GradScaler:
    """Scales the loss before backward and unscales the gradients before the optimizer step,
    skipping steps whose gradients overflowed and adapting the scale, as ``torch.amp.GradScaler``
    (the same numbers: the same libtorch kernels). ``"cuda"`` without a GPU warns and disables
    itself, as torch does; ``"cpu"`` works everywhere.

    Example:
        >>> scaler = st.amp.GradScaler("cpu")
        >>> scaler.scale(loss).backward(); scaler.step(optimizer); scaler.update()
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        self._device = device
        self._enabled = enabled
        if device == "cuda" and enabled and not torch_cuda_available():
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.", stacklevel=2)
            self._enabled = False
        if growth_factor <= 1.0:
            raise ValueError("The growth factor must be > 1.0.")
        if backoff_factor >= 1.0:
            raise ValueError("The backoff factor must be < 1.0.")
        self._init_scale, self._growth_factor, self._backoff_factor = init_scale, growth_factor, backoff_factor
        self._growth_interval = growth_interval
        self._init_growth_tracker = 0
        self._scale: Tensor | None = None
        self._growth_tracker: Tensor | None = None
        self._per_optimizer: dict[int, dict] = defaultdict(lambda: {"stage": "ready", "found_inf": None})

    def is_enabled(self) -> bool:
        """Whether scaling is on."""
        return self._enabled

    def _lazy_init(self, device) -> None:
        if self._scale is None:
            self._scale = ops.aten.full.default([], self._init_scale, dtype=DType.float32, device=device)
            self._growth_tracker = ops.aten.full.default([], self._init_growth_tracker, dtype=DType.int32, device=device)

    def _initialized(self, what: str) -> tuple[Tensor, Tensor]:
        if self._scale is None:
            raise RuntimeError(f"Attempted {what} but _scale is None.  This may indicate your script did not use "
                               "scaler.scale(loss or outputs) earlier in the iteration.")
        return self._scale, self._growth_tracker

    def scale(self, outputs):
        """``outputs`` (a tensor, or an iterable of them) multiplied by the scale.

        Example:
            >>> scaler.scale(loss).backward()
        """
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            self._lazy_init(outputs.device)
            return outputs * self._scale.to(outputs.device)
        scaled = [self.scale(output) for output in outputs]
        return type(outputs)(scaled) if isinstance(outputs, (list, tuple)) else scaled

    def unscale_(self, optimizer) -> None:
        """Divides the optimizer's gradients by the scale, in place, noting whether any is
        infinite or NaN (then ``step`` skips the update). Optional: ``step`` does it when needed.

        Example:
            >>> scaler.unscale_(optimizer); st.nn.utils.clip_grad_norm_(params, 1.0)
        """
        if not self._enabled:
            return
        scale, _ = self._initialized("unscale_")
        state = self._per_optimizer[id(optimizer)]
        if state["stage"] == "unscaled":
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] == "stepped":
            raise RuntimeError("unscale_() is being called after step().")
        inv_scale = scale.double().reciprocal().float()
        found_inf = ops.aten.full.default([], 0.0, dtype=DType.float32, device=scale.device)
        grouped: dict[tuple, list] = defaultdict(list)
        with no_grad():
            for group in optimizer.param_groups:
                for param in group["params"]:
                    grad = param.grad
                    if grad is None:
                        continue
                    if grad.dtype is DType.float16:
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    grouped[(str(grad.device), grad.dtype)].append(grad)
            for grads in grouped.values():
                ops.aten._amp_foreach_non_finite_check_and_unscale_.default(grads, found_inf, inv_scale)
        state["found_inf"] = found_inf
        state["stage"] = "unscaled"

    def step(self, optimizer, *args, **kwargs):
        """Unscales (unless done) and runs ``optimizer.step()`` if no gradient overflowed; returns
        what the step returned (None when skipped)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._initialized("step")
        state = self._per_optimizer[id(optimizer)]
        if state["stage"] == "stepped":
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] == "ready":
            self.unscale_(optimizer)
        result = None
        if not state["found_inf"].item():
            result = optimizer.step(*args, **kwargs)
        state["stage"] = "stepped"
        return result

    def update(self, new_scale=None) -> None:
        """Adapts the scale for the next iteration: times ``backoff_factor`` if a step was
        skipped, times ``growth_factor`` after ``growth_interval`` good steps in a row (or sets
        ``new_scale``)."""
        if not self._enabled:
            return
        scale, growth_tracker = self._initialized("update")
        if new_scale is not None:
            if isinstance(new_scale, Tensor):
                scale.copy_(new_scale)
            else:
                scale.fill_(float(new_scale))
        else:
            found = [state["found_inf"] for state in self._per_optimizer.values() if state["found_inf"] is not None]
            if not found:
                raise RuntimeError("No inf checks were recorded prior to update.")
            combined = found[0]
            for other in found[1:]:
                combined = combined + other
            ops.aten._amp_update_scale_.default(scale, growth_tracker, combined, self._growth_factor,
                                                self._backoff_factor, self._growth_interval)
        self._per_optimizer.clear()

    def get_scale(self) -> float:
        """The current scale (the initial one before the first ``scale``; 1.0 when disabled)."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else self._scale.item()

    def state_dict(self) -> dict:
        """The scaler's state, with torch's keys (empty when disabled)."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor, "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._init_growth_tracker if self._growth_tracker is None else self._growth_tracker.item()}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restores a state from :meth:`state_dict` (or torch's GradScaler's)."""
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled instance of GradScaler.")
        self._init_scale = state_dict["scale"]
        self._growth_factor, self._backoff_factor = state_dict["growth_factor"], state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._init_growth_tracker = state_dict["_growth_tracker"]
        if self._scale is not None:
            self._scale.fill_(state_dict["scale"])
            self._growth_tracker.fill_(state_dict["_growth_tracker"])
