"""Python's protocols for tensors, written over aten operators: the operators the wrapper class
does not define itself (comparisons, bitwise, ``//``, ``%``, ``**``, in-place and reflected
forms), indexing and assignment as torch's, conversions to Python numbers, iteration, ``T``,
``mT``, ``H``, ``mH`` and torch-style printing. :func:`install` puts them on the class, so the
class itself keeps only what the schemas cannot give (ownership, devices, DLPack, NumPy).
"""

from __future__ import annotations

import itertools
import numbers
import operator

from . import ops
from ._native import lib
from .dtypes import DType
from .errors import ArgumentError, SimpleTorchError

#: ``repr`` shows every value of tensors with at most this many elements, and a summary (the
#: first and last three along each dimension) of larger ones, as torch does.
REPR_MAX_VALUES = 1000

#: The wrapper class (set by install).
Tensor = None


class _Protocols:
    """The methods :func:`install` copies onto the wrapper class."""

    def __len__(self) -> int:
        shape = self._per_dim(lib.rt_torch_torchtensor_shape)
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        return shape[0]

    def __iter__(self):
        if self.dim() == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(ops.aten.unbind.int(self, 0))

    def __contains__(self, element) -> bool:
        return bool((self == element).any())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise ArgumentError(f"Boolean value of Tensor with {self.numel()} elements is ambiguous")
        return bool(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __complex__(self) -> complex:
        return complex(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self.dtype.is_complex or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __format__(self, spec: str) -> str:
        if self.dim() == 0 and spec:
            return format(self.item(), spec)
        return format(repr(self), spec)

    @property
    def T(self) -> Tensor:  # noqa: N802 - torch's name
        """The dimensions in reverse order, as torch's ``x.T``.

        Example:
            >>> st.zeros(2, 3).T.shape
            st.Size([3, 2])
        """
        return ops.aten.numpy_T.default(self)

    @property
    def mT(self) -> Tensor:  # noqa: N802 - torch's name
        """The last two dimensions swapped (a batch of transposed matrices), as torch's ``x.mT``.

        Example:
            >>> st.zeros(4, 2, 3).mT.shape
            st.Size([4, 3, 2])
        """
        return ops.aten.mT.default(self)

    @property
    def H(self) -> Tensor:  # noqa: N802 - torch's name
        """The conjugate transpose of a matrix, as torch's ``x.H``.

        Example:
            >>> st.zeros(2, 3).H.shape
            st.Size([3, 2])
        """
        return ops.aten.matrix_H.default(self)

    @property
    def mH(self) -> Tensor:  # noqa: N802 - torch's name
        """The conjugate transpose of a batch of matrices, as torch's ``x.mH``.

        Example:
            >>> st.zeros(4, 2, 3).mH.shape
            st.Size([4, 3, 2])
        """
        return ops.aten.mH.default(self)

    def __getitem__(self, index) -> Tensor:
        # The most common indices, a slice and an int, as the one aten call each that _indexed
        # below would make, through its compiled function. If it fails, _indexed runs and raises
        # what torch raises for that index (a 0-d tensor has no dimension to index, for instance).
        kind = type(index)
        if kind is slice:
            start, stop, step = index.start, index.stop, index.step
            fast = (_INDEXERS or _indexers()).get((type(start), type(stop), type(step)))
            if fast is not None and (step is None or step > 0):
                try:
                    return fast(self, 0, start, stop, 1 if step is None else step)
                except (SimpleTorchError, OverflowError):
                    pass
        elif kind is int:
            fast = (_INDEXERS or _indexers())[int]
            if fast is not None:
                try:
                    return fast(self, 0, index)
                except (SimpleTorchError, OverflowError):
                    pass
        view, advanced = _indexed(self, index)
        if advanced is None:
            return view if view is not self else ops.aten.alias.default(self)
        return ops.aten.index.Tensor(view, advanced)

    def __setitem__(self, index, value) -> None:
        view, advanced = _indexed(self, index)
        if not isinstance(value, Tensor):
            value = Tensor.from_list(value, dtype=self.dtype) if not isinstance(value, numbers.Number) else value
        if advanced is not None:
            if isinstance(value, numbers.Number):
                value = ops.aten.scalar_tensor.default(value, dtype=self.dtype)
            ops.aten.index_put_.default(view, advanced, value)
        elif isinstance(value, numbers.Number):
            ops.aten.fill_.Scalar(view, value)
        else:
            ops.aten.copy_.default(view, value)

    def __repr__(self) -> str:
        if self._handle is None:
            return "tensor(<freed>)"
        dtype, device = self.dtype, self.device
        grad_fn = self.grad_fn
        requires_grad = grad_fn is None and self.requires_grad
        shown = self.detach() if grad_fn is not None or requires_grad else self
        if device.kind != "cpu":
            shown = shown.cpu()
        if dtype.numpy_stand_in is not dtype or dtype is DType.float16:
            shown = shown.to(DType.complex64 if dtype.is_complex else DType.float32)
        import numpy

        array = shown.numpy()
        # As torch: "1." when every value is whole, else four decimals for all.
        whole = not array.dtype.kind in "fc" or bool(numpy.all(numpy.isfinite(array) & (array == numpy.round(array))))
        values = numpy.array2string(
            array, separator=", ", prefix="tensor(", threshold=REPR_MAX_VALUES, edgeitems=3, precision=4,
            floatmode="maxprec" if whole else "fixed",
        )
        values = values.replace(", ..., ", ",  ..., ")  # torch's spacing around a summary
        extras = ""
        if dtype not in (DType.float32, DType.int64, DType.bool, DType.complex64):
            extras += f", dtype=st.{dtype.name}"
        if device.kind != "cpu":
            extras += f", device='{device}'"
        if grad_fn is not None:
            extras += f", grad_fn=<{grad_fn.name()}>"
        elif requires_grad:
            extras += ", requires_grad=True"
        return f"tensor({values}{extras})"




def install(cls) -> None:
    """Puts the protocols on the wrapper class ``cls``.

    Example:
        >>> install(TorchTensorWrapper)  # once, where the class is defined
    """
    global Tensor
    Tensor = cls
    for name, member in vars(_Protocols).items():
        if not (name.startswith("__") and name.endswith("__")) or name in _DUNDERS:
            setattr(cls, name, member)
    _install_operators()


_DUNDERS = {"__len__", "__iter__", "__contains__", "__bool__", "__int__", "__float__", "__complex__", "__index__",
            "__format__", "__getitem__", "__setitem__", "__repr__"}


#: The compiled functions (see ops._fast_call) of the indices that __getitem__ takes without
#: _indexed, made on first use by _indexers: aten::select.int(self, dim, index) for an int, and
#: aten::slice.Tensor(self, dim, start, end, step) for a slice, by the types of its start, stop
#: and step (each an int or None).
_INDEXERS: dict = {}


def _indexers() -> dict:
    none = type(None)
    _INDEXERS[int] = ops.aten.select.int._compiled((Tensor, int, int), 3)
    for start, stop, step in itertools.product((int, none), repeat=3):
        _INDEXERS[start, stop, step] = ops.aten.slice.Tensor._compiled((Tensor, int, start, stop, int), 5)
    return _INDEXERS


def _indexed(tensor: Tensor, index):
    """Basic indexing (ints, slices, None, Ellipsis, bools) applied as views, as torch applies
    them; and the advanced indices (tensors and lists) left over, as the ``Tensor?[]`` list of
    ``aten::index.Tensor`` (None for the dimensions they leave alone), or None if there are none.

    Example:
        >>> _indexed(st.zeros(4, 5), (slice(1, 3), [0, 2]))[0].shape
        st.Size([2, 5])
    """
    items = index if isinstance(index, tuple) else (index,)
    consumed = 0
    for item in items:
        if item is None or item is Ellipsis or isinstance(item, bool):
            continue
        consumed += item.dim() if isinstance(item, Tensor) and item.dtype is DType.bool else 1
    ndim = tensor.dim()
    if consumed > ndim:
        raise IndexError(f"too many indices for a tensor of dimension {ndim} ({consumed} given)")
    view, dim, advanced = tensor, 0, {}
    for item in items:
        if item is Ellipsis:
            dim += ndim - consumed
        elif item is None:
            view = ops.aten.unsqueeze.default(view, dim)
            dim += 1
        elif isinstance(item, bool):
            view = ops.aten.unsqueeze.default(view, dim)
            if not item:
                view = ops.aten.slice.Tensor(view, dim, 0, 0)
            dim += 1
        elif isinstance(item, slice):
            step = 1 if item.step is None else operator.index(item.step)
            if step <= 0:
                raise ValueError("step must be greater than zero")
            view = ops.aten.slice.Tensor(view, dim, item.start, item.stop, step)
            dim += 1
        elif isinstance(item, Tensor) or isinstance(item, (list, tuple)):
            if not isinstance(item, Tensor):
                item = Tensor.from_list(item)
            advanced[dim] = item
            dim += item.dim() if item.dtype is DType.bool else 1
        else:
            try:
                position = operator.index(item)
            except TypeError:
                raise TypeError(
                    f"only integers, slices, Ellipsis, None, booleans, tensors and lists are valid indices, "
                    f"not {type(item).__name__}"
                ) from None
            view = ops.aten.select.int(view, dim, position)
    if not advanced:
        return view, None
    return view, [advanced.get(d) for d in range(max(advanced) + 1)]


def _binary_operators() -> dict[str, tuple[str, bool]]:
    """``__name__`` -> (aten operator, reflected) for the binary operators the class does not
    define itself: reflected ones with the operands swapped, in-place ones on the ``_`` form."""
    operators = {}
    for name, aten_name in {
        "floordiv": "floor_divide", "mod": "remainder", "pow": "pow", "and": "bitwise_and",
        "or": "bitwise_or", "xor": "bitwise_xor", "lshift": "bitwise_left_shift", "rshift": "bitwise_right_shift",
    }.items():
        operators |= {f"__{name}__": (aten_name, False), f"__r{name}__": (aten_name, True), f"__i{name}__": (f"{aten_name}_", False)}
    operators |= {f"__i{name}__": (f"{aten_name}_", False) for name, aten_name in {"add": "add", "sub": "sub", "mul": "mul", "truediv": "div"}.items()}
    return operators | {f"__{name}__": (name, False) for name in ("eq", "ne", "lt", "le", "gt", "ge")}


#: The operators over aten that install() puts on the class (the stub generator declares them).
BINARY_OPERATORS = _binary_operators()
UNARY_OPERATORS = {"__neg__": "neg", "__pos__": "positive", "__abs__": "abs", "__invert__": "bitwise_not"}


def _install_operators() -> None:
    # Each operator remembers, by the other operand's type, the fast function of the overload its
    # packet chooses for the two operands (any tensor type packs the same): one look-up, then one
    # compiled function and one library call (see ops._fast_call).
    def binary(aten_name: str, reflected: bool):
        compiled: dict = {}

        def operator_(self, other):
            fast = compiled.get(type(other))
            if fast is not None:
                return fast(other, self) if reflected else fast(self, other)
            if not isinstance(other, (Tensor, numbers.Number)):
                return NotImplemented
            operands = (other, self) if reflected else (self, other)
            return _first_call(getattr(ops.aten, aten_name), operands, compiled, type(other))

        return operator_

    def unary(aten_name: str):
        compiled: dict = {}

        def operator_(self):
            fast = compiled.get(type(self))
            if fast is not None:
                return fast(self)
            return _first_call(getattr(ops.aten, aten_name), (self,), compiled, type(self))

        return operator_

    for name, (aten_name, reflected) in BINARY_OPERATORS.items():
        setattr(Tensor, name, binary(aten_name, reflected))
    for name, aten_name in UNARY_OPERATORS.items():
        setattr(Tensor, name, unary(aten_name))


def _first_call(packet, operands: tuple, compiled: dict, key):
    """Calls ``packet`` with ``operands``, keeping the chosen overload's fast function in
    ``compiled[key]`` when the operands' types alone chose it."""
    overload, by_types = packet._choose(operands, {})
    fast = overload._compiled(tuple(map(type, operands)), len(operands)) if by_types else None
    if fast is None:
        return overload(*operands)
    compiled[key] = fast
    return fast(*operands)
