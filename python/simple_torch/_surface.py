"""The torch-shaped surface, generated at run time from libtorch's schemas and PyTorch's
``native_functions.yaml`` (shipped in the torch wheel under ``torchgen/packaged``).

The YAML says which operators are functions (``st.cat``, ``st.where``, ...) and which are Tensor
methods (``x.sum(dim=1)``, ``x.add_(y)``, ...). Each becomes a callable over the operator's
overload packet (:mod:`simple_torch.ops`), made on first use and then kept, with torch's Python
conventions on top: sizes given as separate ints (``x.view(2, 3)``), tensors as separate
arguments where the operator takes a list (``st.meshgrid(x, y)``), ``input=`` as the name of
the first argument, and dtype and device defaults from the ``dl`` config for factories.

The YAML is read with two regular expressions rather than a YAML parser: every entry starts
with ``- func: name.overload(`` at the start of a line and says ``  variants: ...`` with two
spaces of indent (the default variant is ``function``). That keeps the first use under 20 ms,
where a pure-Python YAML parser would take seconds.
"""

from __future__ import annotations

import functools
import re
from importlib.util import find_spec
from pathlib import Path

from . import ops
from .errors import ArgumentTypeError
from .ops import _key


def native_functions_yaml() -> Path | None:
    """Where the torch wheel keeps ``native_functions.yaml`` (found without importing torch)."""
    spec = find_spec("torchgen")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "packaged" / "ATen" / "native" / "native_functions.yaml"


@functools.cache
def variants() -> tuple[frozenset, frozenset]:
    """(names of Tensor methods, names of module functions): every public aten operator with
    that variant in ``native_functions.yaml``."""
    path = native_functions_yaml()
    if path is None or not path.is_file():
        return frozenset(), frozenset()
    methods, functions = set(), set()
    for entry in re.split(r"^- func: ", path.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]:
        name = entry[: entry.index("(")].split(".")[0]
        found = re.search(r"^  variants: ([\w, ]+)", entry, re.MULTILINE)
        kinds = found.group(1).replace(" ", "").split(",") if found else ["function"]
        if name.startswith("_"):
            continue
        if "method" in kinds:
            methods.add(name)
        if "function" in kinds:
            functions.add(name)
    return frozenset(methods), frozenset(functions)


# torch's Python bindings give numbers to these operators' Tensor overloads, as wrapped numbers
# (python_arg_parser.cpp, should_allow_numbers_as_tensors): x.mul_(0.5) runs mul_.Tensor, and
# x.mul(2).grad_fn is MulBackward0, not the Scalar overload's MulBackward1.
_NUMBERS_AS_TENSORS = frozenset({
    "add", "add_", "sub", "sub_", "subtract", "subtract_", "mul", "mul_", "multiply", "multiply_", "div", "div_",
    "divide", "divide_", "true_divide", "true_divide_", "floor_divide", "floor_divide_",
})

# (operator, argument types, keywords) -> its Tensor overload that takes them, or None.
_TENSOR_OVERLOADS: dict[tuple, object] = {}


def _tensor_overload(packet: ops.OpOverloadPacket, args: tuple, kwargs: dict):
    """For one of _NUMBERS_AS_TENSORS: its first Tensor overload ("Tensor", "Tensor_mode") that
    these arguments fit, numbers included, else None."""
    key = (packet.name, *map(type, args), *kwargs, *map(type, kwargs.values()))
    if key not in _TENSOR_OVERLOADS:
        tensor_overloads = [o for name, o in packet._overloads.items() if name.startswith("Tensor")]
        _TENSOR_OVERLOADS[key] = next((o for o in tensor_overloads if o._fits(args, kwargs, strict=False)), None)
    return _TENSOR_OVERLOADS[key]


def _call(packet: ops.OpOverloadPacket, args: tuple, kwargs: dict, compiled: dict | None = None, key=None, method: bool = False):
    """Calls ``packet`` as torch's Python bindings would: ``input=`` names ``self``, and sizes may
    come as separate ints (``x.view(2, 3)`` for ``view(Tensor self, SymInt[] size)``). When the
    argument types alone chose the overload, its fast function for them goes into
    ``compiled[key]``, for the next call with these types (see method and function); so does a
    method's, for sizes given as separate ints (the types, all ints after ``self``, decide that
    they are sizes)."""
    if "input" in kwargs:
        kwargs = dict(kwargs)
        kwargs["self"] = kwargs.pop("input")
        compiled = None  # the renaming is not in the fast function
    if "requires_grad" in kwargs:
        return _factory_requiring_grad(packet, args, kwargs)
    repacked = False
    if packet.name in _NUMBERS_AS_TENSORS and (overload := _tensor_overload(packet, args, kwargs)) is not None:
        by_types = True  # _tensor_overload chooses by the types
    else:
        try:
            overload, by_types = packet._choose(args, kwargs)
        except ArgumentTypeError as error:
            for packed in _varargs(args):
                try:
                    overload = packet.resolve(packed, kwargs)
                except ArgumentTypeError:
                    continue
                if method and compiled is not None and not kwargs and len(packed) == 2:  # (self, the sizes)
                    sizes = overload._compiled((type(args[0]), tuple), 2)
                    if sizes is not None:
                        compiled[key] = lambda self, *ints: sizes(self, ints)
                args, by_types, repacked = packed, False, True
                break
            else:
                raise error from None
    if compiled is not None and (by_types or (not repacked and ops._decided_but_for_int_lists(overload, args, kwargs))):
        types = tuple(map(type, (*args, *kwargs.values())))
        if by_types:
            fast = overload._compiled(types, len(args), tuple(kwargs))
        else:  # a call whose lists hold anything but ints is resolved again
            fast = ops._fast_call(overload, types, len(args), tuple(kwargs), lambda args, kwargs: _call(packet, args, kwargs))
        if fast is not None:
            compiled[key] = fast
    return overload(*args, **kwargs)


def _factory_requiring_grad(packet: ops.OpOverloadPacket, args: tuple, kwargs: dict):
    """A factory's ``requires_grad=`` (torch's bindings add it to every factory: the operators
    that take ``pin_memory``): the new tensor is a leaf that requires grad."""
    kwargs = dict(kwargs)
    requires_grad = kwargs.pop("requires_grad")
    if "pin_memory" not in (packet.__doc__ or ""):
        raise ArgumentTypeError(f"{packet.name}() got an unexpected keyword argument 'requires_grad'")
    made = _call(packet, args, kwargs)
    return made.requires_grad_() if requires_grad else made


def _varargs(args: tuple):
    """The arguments as torch's Python bindings also read them: sizes after the tensor as
    separate ints (``x.view(2, 3)``), and tensors as separate arguments where the operator takes
    one list of them (``st.meshgrid(x, y)``, ``st.broadcast_tensors(a, b)``)."""
    if len(args) >= 3 and all(type(item) is int for item in args[1:]):
        yield (args[0], args[1:])
    if args and all(isinstance(item, ops.Tensor) for item in args):
        yield (list(args),)


def method(name: str):
    """The Tensor method ``name``, over ``aten::name``.

    Example:
        >>> method("sum")(st.ones(2, 3), dim=1).tolist()
        [3.0, 3.0]
    """
    packet = getattr(ops.aten, name)
    compiled: dict = {}  # the types of a call (self's, the arguments', then the keywords') -> its fast function

    # The fast path: one look-up of the types, then the overload's compiled function (see _call).
    def call(self, /, *args, **kwargs):
        values = (self, *args, *kwargs.values()) if kwargs else (self, *args)
        key = _key(values, kwargs)
        fast = compiled.get(key)
        if fast is not None:
            return fast(*values)
        return _call(packet, (self, *args), kwargs, compiled, key, method=True)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``aten::{name}`` as a Tensor method (``self`` is this tensor). Its schemas:\n\n{packet.__doc__}"
    return call


def function(name: str):
    """The module function ``st.name``, over ``aten::name``.

    Example:
        >>> function("cat")([st.ones(1), st.zeros(1)]).tolist()
        [1.0, 0.0]
    """
    packet = getattr(ops.aten, name)
    compiled: dict = {}  # the types of a call (the arguments', then the keywords') -> its fast function

    # The fast path, as in method().
    def call(*args, **kwargs):
        values = (*args, *kwargs.values()) if kwargs else args
        key = _key(values, kwargs)
        fast = compiled.get(key)
        if fast is not None:
            return fast(*values)
        return _call(packet, args, kwargs, compiled, key)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``aten::{name}``. Its schemas:\n\n{packet.__doc__}"
    return call
