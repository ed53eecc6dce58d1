"""``Module``: the base class of every layer and model, as ``torch.nn.Module``.

A module keeps its state in three ordered dicts, filled by ``__setattr__`` as in torch:
``_parameters`` (each a :class:`~simple_torch.nn.Parameter`), ``_buffers`` (plain tensors such as
BatchNorm's running statistics) and ``_modules`` (its children). Everything else (``state_dict``,
``to``, ``train``, ``repr``, ...) walks those dicts in insertion order, so names, orders and
printed layouts come out as torch's.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple
from typing import Any, Callable, Iterator, Mapping

import simple_torch as st
from ..._tensor import TorchTensorWrapper as Tensor
from ...devices import Device
from ...dtypes import DType
from ..parameter import Parameter

__all__ = ["Module", "RemovableHandle"]


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What :meth:`Module.load_state_dict` returns: the keys it missed and the keys it did not
    expect, as torch's named tuple (printed as ``<All keys matched successfully>`` when both are
    empty)."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _addindent(text: str, spaces: int) -> str:
    """Indents every line but the first of ``text`` (torch's layout for nested reprs)."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    first = lines.pop(0)
    return first + "\n" + "\n".join(" " * spaces + line if line.strip() else "" for line in lines)


def _typename(value) -> str:
    """The type of ``value`` as torch's error messages spell it (``int``, ``mypackage.Thing``)."""
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _quoted(keys: list[str]) -> str:
    return ", ".join(f'"{key}"' for key in keys)


def _as_dtype(value) -> DType | None:
    """``value`` as a dtype, or None when it is not one (an int is a device code in simple_torch)."""
    if isinstance(value, DType):
        return value
    if value is None or isinstance(value, (bool, int, Device)):
        return None
    try:
        return DType.from_any(value)
    except (TypeError, ValueError):
        return None


class RemovableHandle:
    """What ``register_forward_hook`` and ``register_forward_pre_hook`` return: ``remove()`` takes
    the hook off again (also on leaving a ``with`` block).

    Example:
        >>> handle = model.register_forward_hook(lambda module, args, output: print(output.shape))
        >>> handle.remove()
    """

    _next_id = 0

    def __init__(self, *hooks_dicts: dict | set):
        self.hooks_dicts = hooks_dicts
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        for hooks in self.hooks_dicts:
            if isinstance(hooks, dict):
                hooks.pop(self.id, None)
            else:
                hooks.discard(self.id)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()


class Module:
    """Base class for all neural network modules, as ``torch.nn.Module``: subclass it, assign
    layers, parameters and buffers as attributes in ``__init__``, and write ``forward``. Calling
    the module runs ``forward`` (and any forward hooks).

    Example:
        >>> class Model(st.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc1 = st.nn.Linear(4, 8)
        ...         self.fc2 = st.nn.Linear(8, 2)
        ...
        ...     def forward(self, x):
        ...         return self.fc2(self.fc1(x).relu())
        >>> model = Model()
        >>> [name for name, _ in model.named_parameters()]
        ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
        >>> model(st.randn(3, 4)).shape
        st.Size([3, 2])
    """

    #: The version of this module's state_dict layout, saved in its metadata as torch saves it
    #: (BatchNorm uses it to load state dicts from before ``num_batches_tracked``).
    _version: int = 1

    training: bool

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these dicts to exist already.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks_with_kwargs", set())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks_with_kwargs", set())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation the module performs; every subclass defines it. Call the module
        itself (``model(x)``) rather than ``forward``, so that hooks run.

        Example:
            >>> st.nn.Linear(2, 3).forward(st.ones(1, 2)).shape
            st.Size([1, 3])
        """
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    # -- calling ------------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not (self._forward_pre_hooks or self._forward_hooks):
            return self.forward(*args, **kwargs)
        for hook_id, hook in list(self._forward_pre_hooks.items()):
            if hook_id in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            f"forward pre-hook must return None or a tuple of (new_args, new_kwargs), but got {result}."
                        )
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook_id, hook in list(self._forward_hooks.items()):
            if hook_id in self._forward_hooks_with_kwargs:
                result = hook(self, args, kwargs, output)
            else:
                result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Calls ``hook(module, args)`` before every ``forward`` (``hook(module, args, kwargs)``
        with ``with_kwargs=True``); a result other than None replaces the arguments. Hooks run in
        the order registered, unless ``prepend=True`` puts this one first.

        Example:
            >>> handle = model.register_forward_pre_hook(lambda module, args: (args[0] * 2,))
        """
        handle = RemovableHandle(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs)
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs.add(handle.id)
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Calls ``hook(module, args, output)`` after every ``forward`` (``hook(module, args,
        kwargs, output)`` with ``with_kwargs=True``); a result other than None replaces the output.

        Example:
            >>> shapes = []
            >>> handle = model.register_forward_hook(lambda module, args, output: shapes.append(output.shape))
        """
        if always_call:
            raise NotImplementedError("register_forward_hook(always_call=True) is not supported by simple_torch")
        handle = RemovableHandle(self._forward_hooks, self._forward_hooks_with_kwargs)
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs.add(handle.id)
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        return handle

    def _not_supported(self, what: str):
        raise NotImplementedError(f"Module.{what} is not supported by simple_torch")

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Not supported: module backward hooks (use ``Tensor.register_hook`` on an output)."""
        self._not_supported("register_full_backward_hook")

    def register_full_backward_pre_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Not supported: module backward hooks (use ``Tensor.register_hook`` on an output)."""
        self._not_supported("register_full_backward_pre_hook")

    def register_backward_hook(self, hook: Callable) -> RemovableHandle:
        """Not supported: module backward hooks (use ``Tensor.register_hook`` on an output)."""
        self._not_supported("register_backward_hook")

    def share_memory(self) -> Module:
        """Not supported: shared-memory tensors for torch.multiprocessing."""
        self._not_supported("share_memory")

    def to_empty(self, *, device=None, recurse: bool = True) -> Module:
        """Not supported: simple_torch has no meta tensors to materialize."""
        self._not_supported("to_empty")

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """Not supported: torch.compile needs torch's Python module."""
        self._not_supported("compile")

    # -- registration -------------------------------------------------------------------------

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Adds a buffer: a tensor that is part of the module's state but not a parameter (as
        BatchNorm's ``running_mean``). It moves with ``to()`` and is saved in ``state_dict()``
        unless ``persistent=False``. ``None`` registers the name with no tensor yet.

        Example:
            >>> self.register_buffer("running_mean", st.zeros(num_features))
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"buffer name should be a string. Got {_typename(name)}")
        if "." in name:
            raise KeyError('buffer name can\'t contain "."')
        if name == "":
            raise KeyError('buffer name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to buffer '{name}' (st.Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Adds a parameter (a :class:`Parameter`, or ``None`` for an optional one that is absent,
        as ``Linear(bias=False)``'s ``bias``). Assigning a Parameter as an attribute does the same.

        Example:
            >>> self.register_parameter("bias", None)
        """
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"parameter name should be a string. Got {_typename(name)}")
        if "." in name:
            raise KeyError('parameter name can\'t contain "."')
        if name == "":
            raise KeyError('parameter name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{_typename(param)}' object to parameter '{name}' (st.nn.Parameter or None required)"
            )
        if param is not None and param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be created explicitly. "
                f"To express '{name}' as a function of another Tensor, compute the value in the forward() method."
            )
        self._parameters[name] = param

    def add_module(self, name: str, module: Module | None) -> None:
        """Adds a child module, reachable as the attribute ``name`` (assigning a Module as an
        attribute does the same).

        Example:
            >>> model.add_module("head", st.nn.Linear(8, 2))
        """
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {_typename(name)}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    def register_module(self, name: str, module: Module | None) -> None:
        """The same as :meth:`add_module`.

        Example:
            >>> model.register_module("head", st.nn.Linear(8, 2))
        """
        self.add_module(name, module)

    def get_submodule(self, target: str) -> Module:
        """The submodule at the dotted path ``target`` (``""`` is this module).

        Example:
            >>> model.get_submodule("encoder.0")
        """
        module = self
        for item in target.split(".") if target else []:
            if not hasattr(module, item):
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`")
            module = getattr(module, item)
            if not isinstance(module, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at the dotted path ``target``.

        Example:
            >>> model.get_parameter("encoder.0.weight").shape
        """
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(f"{module._get_name()} has no attribute `{name}`")
        param = getattr(module, name)
        if not isinstance(param, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return param

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at the dotted path ``target``.

        Example:
            >>> model.get_buffer("bn.running_mean").shape
        """
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(f"{module._get_name()} has no attribute `{name}`")
        if name not in module._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return getattr(module, name)

    # -- attributes ---------------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # Only for names not found the usual way: the registered parameters, buffers and children.
        state = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in state and name in state[registry]:
                return state[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        def remove_from(*dicts_or_sets) -> None:
            for registry in dicts_or_sets:
                if name in registry:
                    if isinstance(registry, dict):
                        del registry[name]
                    else:
                        registry.discard(name)

        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            remove_from(self.__dict__, self._buffers, self._modules, self._non_persistent_buffers_set)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as parameter '{name}' (st.nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
        else:
            modules = self.__dict__.get("_modules")
            if isinstance(value, Module):
                if modules is None:
                    raise AttributeError("cannot assign module before Module.__init__() call")
                remove_from(self.__dict__, self._parameters, self._buffers, self._non_persistent_buffers_set)
                modules[name] = value
            elif modules is not None and name in modules:
                if value is not None:
                    raise TypeError(
                        f"cannot assign '{_typename(value)}' as child module '{name}' (st.nn.Module or None expected)"
                    )
                modules[name] = value
            else:
                buffers = self.__dict__.get("_buffers")
                if buffers is not None and name in buffers:
                    if value is not None and not isinstance(value, Tensor):
                        raise TypeError(
                            f"cannot assign '{_typename(value)}' as buffer '{name}' (st.Tensor or None expected)"
                        )
                    self.register_buffer(name, value, name not in self._non_persistent_buffers_set)
                else:
                    object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keys = [*dir(type(self)), *self.__dict__, *self._parameters, *self._modules, *self._buffers]
        return sorted(key for key in keys if not key[0].isdigit())

    # -- walking the tree ---------------------------------------------------------------------

    def _named_members(self, get_members: Callable, prefix: str = "", recurse: bool = True,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        seen = set()  # ids: a tensor shared by two modules is yielded once, under its first name
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in get_members(module):
                if value is None or id(value) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The module's parameters (and, with ``recurse``, its descendants'), each once: what an
        optimizer takes.

        Example:
            >>> sum(p.numel() for p in st.nn.Linear(4, 2).parameters())
            10
        """
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs, named by their dotted path (``"0.weight"``), in
        registration order, each shared parameter once unless ``remove_duplicate=False``.

        Example:
            >>> [name for name, _ in st.nn.Sequential(st.nn.Linear(2, 2)).named_parameters()]
            ['0.weight', '0.bias']
        """
        yield from self._named_members(lambda module: module._parameters.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """The module's buffers (and, with ``recurse``, its descendants').

        Example:
            >>> len(list(st.nn.BatchNorm1d(3).buffers()))
            3
        """
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """``(name, buffer)`` pairs, as :meth:`named_parameters`.

        Example:
            >>> [name for name, _ in st.nn.BatchNorm1d(3).named_buffers()]
            ['running_mean', 'running_var', 'num_batches_tracked']
        """
        yield from self._named_members(lambda module: module._buffers.items(), prefix, recurse, remove_duplicate)

    def children(self) -> Iterator[Module]:
        """The immediate child modules.

        Example:
            >>> len(list(st.nn.Sequential(st.nn.ReLU(), st.nn.Tanh()).children()))
            2
        """
        for _, module in self.named_children():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, child)`` pairs of the immediate children, each child once.

        Example:
            >>> [name for name, _ in st.nn.Sequential(st.nn.ReLU(), st.nn.Tanh()).named_children()]
            ['0', '1']
        """
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def modules(self, remove_duplicate: bool = True) -> Iterator[Module]:
        """This module and all its descendants, depth first, each once.

        Example:
            >>> [type(m).__name__ for m in st.nn.Sequential(st.nn.ReLU()).modules()]
            ['Sequential', 'ReLU']
        """
        for _, module in self.named_modules(remove_duplicate=remove_duplicate):
            yield module

    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """``(dotted path, module)`` pairs for this module (``""``) and its descendants.

        Example:
            >>> [name for name, _ in st.nn.Sequential(st.nn.ReLU()).named_modules()]
            ['', '0']
        """
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Calls ``fn`` on every child module (recursively), then on this one; returns self. Used
        to initialize a model's weights.

        Example:
            >>> def init_weights(m):
            ...     if isinstance(m, st.nn.Linear):
            ...         st.nn.init.xavier_uniform_(m.weight)
            >>> model = st.nn.Sequential(st.nn.Linear(2, 2)).apply(init_weights)
        """
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # -- modes and gradients ------------------------------------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Puts the module and its descendants in training mode (or evaluation mode with
        ``mode=False``): Dropout and BatchNorm behave differently in each. Returns self.

        Example:
            >>> st.nn.Dropout().train().training
            True
        """
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: the same as ``train(False)``.

        Example:
            >>> st.nn.Dropout().eval().training
            False
        """
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Sets ``requires_grad`` on every parameter (to freeze part of a model). Returns self.

        Example:
            >>> frozen = st.nn.Linear(2, 2).requires_grad_(False)
        """
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Resets the gradients of all parameters: to None (the default), or to zeros in place
        with ``set_to_none=False``.

        Example:
            >>> model(x).sum().backward(); model.zero_grad()
        """
        for param in self.parameters():
            grad = param.grad
            if grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                if grad.grad_fn is not None:
                    grad.detach_()
                else:
                    grad.requires_grad_(False)
                grad.zero_()

    # -- devices and dtypes -------------------------------------------------------------------

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Module:
        """Replaces every parameter's and buffer's values by ``fn`` of them (moves, casts)."""
        if recurse:
            for module in self.children():
                module._apply(fn)
        for param in self._parameters.values():
            if param is None:
                continue
            # As torch does (``param.data = fn(param)``): the Parameter stays the same object, so
            # an optimizer made before ``model.to(...)`` still holds the model's parameters.
            with st.no_grad():
                param.data = fn(param)
            grad = param.grad
            if grad is not None:
                with st.no_grad():
                    grad.data = fn(grad)
        for key, buffer in self._buffers.items():
            if buffer is not None:
                self._buffers[key] = fn(buffer)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Moves and/or casts the parameters and buffers in place, as torch's ``Module.to``:
        ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` (its device and dtype),
        and ``device=``, ``dtype=``, ``non_blocking=``. Only floating-point and complex tensors
        change dtype; integer buffers (``num_batches_tracked``) only move. Returns self.

        Example:
            >>> st.nn.Linear(2, 2).to(st.float64).weight.dtype
            <DType.float64: 7>
        """
        device, dtype, non_blocking = self._parse_to(args, kwargs)
        if dtype is not None and not (dtype.is_floating_point or dtype.is_complex):
            raise TypeError(
                f"nn.Module.to only accepts floating point or complex dtypes, but got desired dtype={dtype}"
            )

        def convert(t: Tensor) -> Tensor:
            if dtype is not None and (t.dtype.is_floating_point or t.dtype.is_complex):
                t = t.to(dtype)
            if device is not None:
                t = t.to(device, non_blocking=non_blocking)
            return t

        return self._apply(convert)

    @staticmethod
    def _parse_to(args: tuple, kwargs: dict) -> tuple[Device | None, DType | None, bool]:
        """The device, dtype and non_blocking of a ``to(...)`` call, given as torch's ``to`` takes them."""
        kwargs = dict(kwargs)
        device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        non_blocking = kwargs.pop("non_blocking", False)
        if kwargs.pop("memory_format", None) is not None:
            raise NotImplementedError("Module.to(memory_format=...) is not supported by simple_torch")
        if kwargs:
            raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
        for arg in args:
            if isinstance(arg, Tensor):
                device, dtype = arg.device, arg.dtype
            elif isinstance(arg, bool):
                non_blocking = arg
            elif arg is None:
                continue
            elif _as_dtype(arg) is not None:
                dtype = arg
            else:
                device = arg
        device = None if device is None else Device.parse(device)
        dtype = None if dtype is None else DType.from_any(dtype)
        return device, dtype, non_blocking

    def cuda(self, device: int | str | Device | None = None) -> Module:
        """Moves every parameter and buffer to a GPU (``device``: an index or a CUDA device;
        cuda:0 without it). Returns self.

        Example:
            >>> model.cuda()
        """
        return self._apply(lambda t: t.cuda() if device is None else t.cuda(device))

    def cpu(self) -> Module:
        """Moves every parameter and buffer to the CPU. Returns self.

        Example:
            >>> model.cpu()
        """
        return self._apply(lambda t: t.cpu())

    def float(self) -> Module:
        """Casts the floating-point parameters and buffers to float32. Returns self.

        Example:
            >>> st.nn.Linear(2, 2).double().float().weight.dtype
            <DType.float32: 6>
        """
        return self._apply(lambda t: t.float() if t.dtype.is_floating_point else t)

    def double(self) -> Module:
        """Casts the floating-point parameters and buffers to float64. Returns self.

        Example:
            >>> st.nn.Linear(2, 2).double().weight.dtype
            <DType.float64: 7>
        """
        return self._apply(lambda t: t.double() if t.dtype.is_floating_point else t)

    def half(self) -> Module:
        """Casts the floating-point parameters and buffers to float16. Returns self.

        Example:
            >>> st.nn.Linear(2, 2).half().weight.dtype
            <DType.float16: 5>
        """
        return self._apply(lambda t: t.half() if t.dtype.is_floating_point else t)

    def bfloat16(self) -> Module:
        """Casts the floating-point parameters and buffers to bfloat16. Returns self.

        Example:
            >>> st.nn.Linear(2, 2).bfloat16().weight.dtype
            <DType.bfloat16: 15>
        """
        return self._apply(lambda t: t.bfloat16() if t.dtype.is_floating_point else t)

    # -- state dicts --------------------------------------------------------------------------

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        """Puts this module's own parameters and persistent buffers (not its children's) into
        ``destination``."""
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buffer if keep_vars else buffer.detach()

    def state_dict(self, *, destination: dict | None = None, prefix: str = "", keep_vars: bool = False) -> dict:
        """An ``OrderedDict`` of every parameter and persistent buffer by dotted name, as torch's:
        the tensors share memory with the module's but are detached from autograd (unless
        ``keep_vars=True``). Buffers registered with ``persistent=False`` are left out.

        Example:
            >>> list(st.nn.Linear(2, 3).state_dict())
            ['weight', 'bias']
        """
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        metadata = getattr(destination, "_metadata", None)
        if metadata is not None:
            metadata[prefix[:-1]] = {"version": self._version}
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict: dict, prefix: str, local_metadata: dict, strict: bool,
                              missing_keys: list, unexpected_keys: list, error_msgs: list) -> None:
        """Copies this module's own entries of ``state_dict`` (those under ``prefix``) into its
        parameters and buffers, recording what is missing, unexpected or wrong, as torch's."""
        persistent_buffers = {k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set}
        local_state = {k: v for k, v in itertools.chain(self._parameters.items(), persistent_buffers.items())
                       if v is not None}
        assign = local_metadata.get("assign_to_params_buffers", False)

        for name, param in local_state.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            input_param = state_dict[key]
            if not isinstance(input_param, Tensor) and hasattr(input_param, "__dlpack__"):
                # A NumPy array or a torch tensor (a torch model's state_dict): shared, not copied.
                input_param = st.from_dlpack(input_param)
            if not isinstance(input_param, Tensor):
                error_msgs.append(
                    f'While copying the parameter named "{key}", expected torch.Tensor or Tensor-like object '
                    f"from checkpoint but received {type(input_param)}"
                )
                continue
            # A 0-d parameter takes a 1-element checkpoint (torch's backward compatibility).
            if len(param.shape) == 0 and len(input_param.shape) == 1 and input_param.shape[0] == 1:
                input_param = input_param[0]
            if input_param.shape != param.shape:
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {input_param.shape} from checkpoint, "
                    f"the shape in current model is {param.shape}."
                )
                continue
            try:
                with st.no_grad():
                    if assign:
                        if isinstance(param, Parameter):
                            input_param = Parameter(input_param, requires_grad=param.requires_grad)
                        setattr(self, name, input_param)
                    else:
                        param.copy_(input_param)
            except Exception as error:
                error_msgs.append(
                    f'While copying the parameter named "{key}", whose dimensions in the model are {param.size()} and '
                    f"whose dimensions in the checkpoint are {input_param.size()}, an exception occurred : {error.args}."
                )

        if strict:
            for key in state_dict:
                if key.startswith(prefix):
                    input_name = key[len(prefix):].split(".", 1)
                    if len(input_name) > 1:  # a key for a submodule: unexpected if there is none by that name
                        if input_name[0] not in self._modules:
                            unexpected_keys.append(key)
                    elif input_name[0] not in local_state:
                        unexpected_keys.append(key)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> _IncompatibleKeys:
        """Copies the tensors of ``state_dict`` into this module's parameters and buffers, in
        place and without recording gradients, as torch's. The values may be simple_torch
        tensors, or anything with ``__dlpack__`` (a torch model's ``state_dict()``, NumPy arrays).
        With ``strict=True`` (the default) the keys must match :meth:`state_dict`'s exactly;
        missing or unexpected keys and shape mismatches raise RuntimeError with torch's message.
        ``assign=True`` puts the given tensors in place of the module's instead of copying.
        Returns the named tuple ``(missing_keys, unexpected_keys)``.

        Example:
            >>> source, target = st.nn.Linear(2, 3), st.nn.Linear(2, 3)
            >>> target.load_state_dict(source.state_dict())
            <All keys matched successfully>
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing_keys: list[str] = []
        unexpected_keys: list[str] = []
        error_msgs: list[str] = []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)  # a copy: _load_from_state_dict may add keys (BatchNorm)

        def load(module: Module, local_state_dict: dict, prefix: str = "") -> None:
            local_metadata = {} if metadata is None else dict(metadata.get(prefix[:-1], {}))
            if assign:
                local_metadata["assign_to_params_buffers"] = assign
            module._load_from_state_dict(local_state_dict, prefix, local_metadata, True,
                                         missing_keys, unexpected_keys, error_msgs)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    load(child, {k: v for k, v in local_state_dict.items() if k.startswith(child_prefix)}, child_prefix)

        load(self, state_dict)

        # torch's message, word for word: the missing keys, then the unexpected ones, then the rest
        if strict:
            if unexpected_keys:
                error_msgs.insert(0, f"Unexpected key(s) in state_dict: {_quoted(unexpected_keys)}. ")
            if missing_keys:
                error_msgs.insert(0, f"Missing key(s) in state_dict: {_quoted(missing_keys)}. ")
        if error_msgs:
            errors = "\n\t".join(error_msgs)
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t{errors}")
        return _IncompatibleKeys(missing_keys, unexpected_keys)

    # -- printing -----------------------------------------------------------------------------

    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The module's own settings for its repr (``in_features=2, out_features=3, bias=True``);
        layers override it. One line or several.

        Example:
            >>> st.nn.Linear(2, 3).extra_repr()
            'in_features=2, out_features=3, bias=True'
        """
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(module), 2) for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"
