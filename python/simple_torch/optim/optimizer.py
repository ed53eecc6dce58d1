"""``Optimizer``: the base class of the optimizers, as ``torch.optim.Optimizer``.

It keeps the parameters in groups (``param_groups``, a list of dicts holding the tensors and
their options), each parameter's state (``state``, keyed by the parameter tensor itself), and
saves and loads both with torch's layout: ``state_dict()["state"]`` is keyed by the parameter's
position (counted across the groups) and each saved group's ``"params"`` is a list of those
positions, so an st optimizer's state dict has the keys and structure of torch's.

Example:
    >>> w = st.zeros(3, requires_grad=True)
    >>> opt = st.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> (w - 1).pow(2).sum().backward(); opt.step(); opt.zero_grad()
    >>> opt.state_dict()["param_groups"][0]["params"]
    [0]
"""

from __future__ import annotations

import collections
import copy
import functools
import warnings
from collections.abc import Iterable
from itertools import chain
from typing import Any

from .. import ops
from .._tensor import TorchTensorWrapper as Tensor
from ..autograd import no_grad
from ..config import dl
from ..dtypes import DType

__all__ = ["Optimizer", "required"]

aten = ops.aten


class _RequiredParameter:
    """The default of an option that every parameter group must give (torch's ``required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


#: Marks an optimizer option without a default, as ``torch.optim.optimizer.required``.
required = _RequiredParameter()


def _typename(value) -> str:
    """The name of ``value``'s type for error messages, as ``torch.typename`` spells it."""
    if isinstance(value, Tensor):
        return "simple_torch.Tensor"
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _scalar_dtype(fused: bool | None = None) -> DType:
    """The dtype of Adam's ``step`` counter, as torch's ``_get_scalar_dtype``: float32, or float64
    when that is the default dtype (fused kernels always want float32)."""
    if fused:
        return DType.float32
    return DType.float64 if dl.default_dtype == DType.float64 else DType.float32


def _use_foreach(params: list, foreach: bool | None, fused: bool | None) -> tuple[bool, bool]:
    """``(fused, foreach)``, as torch decides them: what the user asked for, else the foreach
    kernels when every parameter is on a GPU (torch's ``_default_to_fused_or_foreach``), else the
    single-tensor loop (the default on the CPU)."""
    if foreach is None and fused is None:
        foreach = bool(params) and all(p.device.kind == "cuda" for p in params)
    return bool(fused), bool(foreach)


def _group_by_device_and_dtype(tensorlists: list[list], with_indices: bool = False) -> dict:
    """Splits parallel tensor lists into runs that share the first list's device and dtype (a
    foreach kernel takes tensors of one device and dtype), as torch's
    ``_group_tensors_by_device_and_dtype``: ``{(device, dtype): (lists, indices)}``, in order of
    first appearance. The other lists may hold None (a momentum buffer not made yet)."""
    groups: dict = {}
    for i, first in enumerate(tensorlists[0]):
        key = (first.device, first.dtype)
        lists, indices = groups.setdefault(key, ([[] for _ in tensorlists], []))
        for group_list, tensorlist in zip(lists, tensorlists):
            if tensorlist:  # an empty list (no amsgrad buffers) stays empty
                group_list.append(tensorlist[i])
        indices.append(i)
    return groups


def _view_as_real(params: list, *state_and_grads: list) -> None:
    """Replaces each complex tensor in the lists by its real view (``(..., 2)`` floats), in
    place, so that the real arithmetic of the update applies to both parts."""
    for i, p in enumerate(params):
        if p.dtype.is_complex:
            params[i] = aten.view_as_real.default(p)
            for tensors in state_and_grads:
                tensors[i] = aten.view_as_real.default(tensors[i])


def _check_scalar(name: str, value) -> None:
    """Refuses a hyperparameter given as a tensor: only Python numbers are supported."""
    if isinstance(value, Tensor):
        raise NotImplementedError(f"{name} as a Tensor is not supported by simple_torch's optimizers: pass a Python float")


def _clone_tree(value):
    """A deep copy of a saved param group: containers copied, tensors cloned (a plain
    ``copy.deepcopy`` of a tensor wrapper would copy its handle, not the tensor)."""
    if isinstance(value, Tensor):
        return value.clone()
    if isinstance(value, dict):
        return type(value)((k, _clone_tree(v)) for k, v in value.items())
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return type(value)(*(_clone_tree(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_clone_tree(v) for v in value)
    return copy.deepcopy(value)


def _step_without_grad(step):
    """Runs an optimizer's ``step`` under ``no_grad()`` (its in-place updates of leaves that
    require grad must not be recorded), as torch's ``_use_grad_for_differentiable``."""

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        with no_grad():
            return step(self, *args, **kwargs)

    return wrapper


class Optimizer:
    """The base class of the optimizers, as ``torch.optim.Optimizer``: ``params`` is an iterable
    of tensors (or of ``(name, tensor)`` pairs), or of dicts each defining a parameter group
    (``{"params": [...], "lr": 0.01}``: options missing there come from ``defaults``).

    A subclass implements ``step``. ``state[p]`` is the per-parameter state (a dict, made on
    first use); ``zero_grad()``, ``add_param_group()``, ``state_dict()`` and
    ``load_state_dict()`` work as torch's.

    Example:
        >>> opt = st.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.01}], lr=0.1)
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]
    """

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {_typename(params)}")
        if not isinstance(params, Iterable):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {_typename(params)}")
        self.state: collections.defaultdict = collections.defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []

        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.defaults.setdefault("differentiable", False)

    def __repr__(self) -> str:
        text = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a group of parameters with its own options (the others from ``defaults``), as
        torch's: for instance to train layers unfrozen later in training.

        Example:
            >>> opt.add_param_group({"params": [head.weight], "lr": 1e-3})
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {_typename(param_group)}")

        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                            "tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)

        tensors, names = [], []
        for param in param_group["params"]:
            if isinstance(param, tuple):  # from named_parameters(): (name, tensor)
                names.append(param[0])
                tensors.append(param[1])
            else:
                tensors.append(param)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names

        for param in tensors:
            if not isinstance(param, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {_typename(param)}")
            # is_leaf and retains_grad are properties (autograd.install); the generated stubs see methods
            if not self.defaults.get("differentiable", None) and not (param.is_leaf or param.retains_grad):  # type: ignore[truthy-function]
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)

        # Tensors compare element-wise: sets of their ids say which ones are the same object.
        ids = [id(p) for p in tensors]
        if len(ids) != len(set(ids)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)

        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")

        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears the gradients of every parameter: sets them to None (the default), or fills
        them with zeros (``set_to_none=False``), as torch's.

        Example:
            >>> opt.zero_grad()
            >>> w.grad is None
            True
        """
        foreach = self.defaults.get("foreach", False) or self.defaults.get("fused", False)
        to_zero: dict = {}
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if grad.grad_fn is not None:
                    grad.detach_()
                else:
                    grad.requires_grad_(False)
                if foreach:
                    to_zero.setdefault((grad.device, grad.dtype), []).append(grad)
                else:
                    grad.zero_()
        for grads in to_zero.values():
            aten._foreach_zero_.default(grads)

    def step(self, closure=None):
        """Updates the parameters once from their gradients (a subclass implements it).
        ``closure``, if given, re-evaluates the model with gradients enabled and returns the
        loss, which ``step`` returns.

        Example:
            >>> loss = opt.step(lambda: model_loss())
        """
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state, as torch lays it out: ``{"state": {index: {...}},
        "param_groups": [{..., "params": [index, ...]}]}``, a parameter's index being its
        position counted across the groups. As in torch, the state's tensors are the
        optimizer's own (not copies): save or clone them before stepping again if you keep them.

        Example:
            >>> sd = opt.state_dict()
            >>> sorted(sd["state"][0])                 # Adam
            ['exp_avg', 'exp_avg_sq', 'step']
        """
        index_of: dict[int, int] = {}
        start = 0

        def pack_group(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            index_of.update({id(p): i for i, p in enumerate(group["params"], start) if id(p) not in index_of})
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {(index_of[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": packed_state, "param_groups": param_groups}

    @staticmethod
    def _cast_state_value(param: Tensor, value: Tensor, param_id, param_groups: list, key) -> Tensor:
        """A loaded state tensor on the parameter's device, in its dtype if it is a floating
        one; Adam's ``step`` keeps its own dtype unless the group is fused or capturable. As in
        torch, a tensor that needs no conversion is used as it is (``to`` shares it)."""
        fused = capturable = False
        for group in param_groups:
            if param_id in group["params"]:
                fused, capturable = group.get("fused", False), group.get("capturable", False)
                break
        if key == "step":
            return value.to(DType.float32).to(param.device) if (fused or capturable) else value
        if param.is_floating_point():
            return value.to(param.dtype).to(param.device)
        return value.to(param.device)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Loads a state dict made by :meth:`state_dict` (of this or an equally built optimizer;
        the groups must have as many parameters as this one's), as torch's: the state is matched
        to this optimizer's parameters by position, and each group's options are replaced by
        the saved ones.

        Example:
            >>> new_opt = st.optim.Adam(model_params, lr=1e-3)
            >>> new_opt.load_state_dict(opt.state_dict())
        """
        state_dict = state_dict.copy()
        groups = self.param_groups
        saved_groups = _clone_tree(state_dict["param_groups"])

        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of optimizer's group")

        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        def cast(param, value, param_id=None, key=None):
            if isinstance(value, Tensor):
                return Optimizer._cast_state_value(param, value, param_id, state_dict["param_groups"], key)
            if isinstance(value, dict):
                return {k: cast(param, v, param_id, key=k) for k, v in value.items()}
            if isinstance(value, (str, bytes)):
                return value
            if isinstance(value, Iterable):
                return type(value)(cast(param, v, param_id) for v in value)
            return value

        state: collections.defaultdict = collections.defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = cast(param, v, param_id=k)
            else:
                state[k] = v  # state not tied to a parameter is kept as it is, as in torch

        def update_group(group: dict[str, Any], new_group: dict[str, Any]) -> dict[str, Any]:
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self.__setstate__({"state": state, "param_groups": param_groups})
