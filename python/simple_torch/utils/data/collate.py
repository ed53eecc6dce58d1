"""Collation: how the ``DataLoader`` turns a list of samples into a batch, as
``torch.utils.data.default_collate`` and ``default_convert``.

Tensors are stacked along a new first dimension; Python floats become a float64 tensor and
ints an int64 one (bools a bool one); NumPy arrays and scalars become tensors; strings and
bytes stay lists; mappings, named tuples, tuples and lists are collated field by field, as in
torch.

Example:
    >>> default_collate([(st.tensor([1, 2]), 0), (st.tensor([3, 4]), 1)])
    [tensor([[1, 2],
            [3, 4]]), tensor([0, 1])]
"""

from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Sequence

from ... import ops
from ..._tensor import TorchTensorWrapper as Tensor
from ...dtypes import DType

__all__ = ["default_collate", "default_convert"]

# NumPy dtypes that are strings or objects: not made into tensors (torch's np_str_obj_array_pattern)
_STRING_OR_OBJECT = re.compile(r"[SaUO]")

_COLLATE_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _is_numpy(value) -> bool:
    return type(value).__module__ == "numpy"


def _as_tensor(array) -> Tensor:
    """A NumPy array or scalar as a CPU tensor (sharing the array's memory where it can, as
    ``torch.as_tensor``)."""
    import numpy

    return Tensor.from_numpy(numpy.asarray(array))


def _rebuild(data, values: list):
    """A sequence of ``data``'s type holding ``values``: a copy updated in place for mutable
    sequences (which may carry more than their items), else a new one, else a list."""
    try:
        if isinstance(data, collections.abc.MutableSequence):
            clone = copy.copy(data)
            for i, value in enumerate(values):
                clone[i] = value
            return clone
        return type(data)(values)
    except TypeError:  # a sequence type that cannot be copied or built from a list
        return list(values)


def _rebuild_mapping(data, values: dict):
    try:
        if isinstance(data, collections.abc.MutableMapping):
            clone = copy.copy(data)
            clone.update(values)
            return clone
        return type(data)(values)
    except TypeError:
        return dict(values)


def default_convert(data):
    """Converts NumPy arrays and scalars in ``data`` (at any depth of mappings, tuples and
    lists) to tensors and leaves everything else as it is: the ``DataLoader``'s collate
    function when it does not batch (``batch_size=None``), as torch's.

    Example:
        >>> default_convert({"x": numpy.zeros(2)})
        {'x': tensor([0., 0.], dtype=st.float64)}
    """
    if isinstance(data, Tensor):
        return data
    kind = type(data)
    if _is_numpy(data) and kind.__name__ not in ("str_", "string_"):
        if kind.__name__ == "ndarray" and _STRING_OR_OBJECT.search(data.dtype.str) is not None:
            return data
        return _as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # a named tuple
        return kind(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # a list, as torch returns
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild(data, [default_convert(d) for d in data])
    return data


def default_collate(batch: Sequence):
    """Puts a list of samples together as one batch, as ``torch.utils.data.default_collate``:
    tensors stacked with ``st.stack`` (a new first dimension, the batch), numbers as a tensor
    (float64 for floats, int64 for ints), NumPy arrays as tensors stacked, strings as a list,
    and mappings, named tuples, tuples and lists element by element (tuples give lists).

    Example:
        >>> default_collate([{"x": st.zeros(2), "y": 1}, {"x": st.ones(2), "y": 0}])["y"]
        tensor([1, 0])
    """
    elem = batch[0]
    kind = type(elem)
    if isinstance(elem, Tensor):
        return ops.aten.stack.default(list(batch), 0)
    if _is_numpy(elem):
        import numpy

        if isinstance(elem, numpy.ndarray):
            if _STRING_OR_OBJECT.search(elem.dtype.str) is not None:
                raise TypeError(_COLLATE_ERROR.format(elem.dtype))
            return default_collate([_as_tensor(b) for b in batch])
        if isinstance(elem, (numpy.bool_, numpy.number, numpy.object_)):
            return _as_tensor(numpy.asarray(batch))
    if isinstance(elem, float):
        return Tensor.from_list(list(batch), dtype=DType.float64)
    if isinstance(elem, int):  # bools too: a bool tensor
        return Tensor.from_list(list(batch))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild_mapping(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a named tuple
        return kind(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if not all(len(e) == size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [default_collate(samples) for samples in transposed]  # a list, as torch returns
        return _rebuild(elem, [default_collate(samples) for samples in transposed])
    raise TypeError(_COLLATE_ERROR.format(kind))
