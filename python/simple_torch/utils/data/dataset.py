"""Datasets, as ``torch.utils.data.dataset``: the ``Dataset`` and ``IterableDataset`` bases,
``TensorDataset``, ``Subset`` and ``random_split``.

Example:
    >>> ds = TensorDataset(st.arange(6).view(3, 2), st.tensor([0, 1, 0]))
    >>> len(ds), ds[1]
    (3, (tensor([2, 3]), tensor(1)))
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

from ... import ops
from ..._tensor import TorchTensorWrapper as Tensor

__all__ = ["Dataset", "IterableDataset", "Subset", "TensorDataset", "random_split"]


class Dataset:
    """A map-style dataset, as ``torch.utils.data.Dataset``: subclasses define
    ``__getitem__(index)`` (and, for the default samplers, ``__len__``). A subclass may also
    define ``__getitems__(indices)`` to fetch a whole batch at once.

    Example:
        >>> class Squares(st.utils.data.Dataset):
        ...     def __len__(self): return 10
        ...     def __getitem__(self, i): return st.tensor(float(i * i))
    """

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")


class IterableDataset(Dataset):
    """A dataset that is a stream of samples, as ``torch.utils.data.IterableDataset``:
    subclasses define ``__iter__``. The ``DataLoader`` batches what it yields, in order (no
    sampler, no shuffling).

    Example:
        >>> class Counting(st.utils.data.IterableDataset):
        ...     def __iter__(self): return iter(range(5))
        >>> [b.tolist() for b in DataLoader(Counting(), batch_size=2)]
        [[0, 1], [2, 3], [4]]
    """

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")


class TensorDataset(Dataset):
    """Samples taken from tensors along their first dimension: item ``i`` is the tuple of each
    tensor's row ``i``, as ``torch.utils.data.TensorDataset``.

    Example:
        >>> ds = TensorDataset(st.randn(100, 3), st.randint(0, 2, (100,)))
        >>> x, y = ds[0]; len(ds)
        100
    """

    def __init__(self, *tensors: Tensor) -> None:
        if any(tensors[0].size(0) != tensor.size(0) for tensor in tensors):
            raise AssertionError("Size mismatch between tensors")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(tensor[index] for tensor in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].size(0)


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order, as ``torch.utils.data.Subset``.

    Example:
        >>> evens = Subset(ds, range(0, len(ds), 2))
    """

    def __init__(self, dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list:
        # a batch in one call when the dataset can (its __getitems__), else item by item
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[idx] for idx in indices])
        return [self.dataset[self.indices[idx]] for idx in indices]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset, lengths: Sequence[int | float], generator=None) -> list[Subset]:
    """Splits ``dataset`` at random into non-overlapping subsets of the given ``lengths`` (or
    fractions summing to 1), as ``torch.utils.data.random_split``: the same generator state
    (``st.manual_seed(s)``, or a ``Generator`` seeded with ``s``) gives torch's split.

    Example:
        >>> train, val = random_split(ds, [0.8, 0.2], generator=st.Generator().manual_seed(42))
    """
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        subset_lengths: list[int] = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            subset_lengths.append(math.floor(len(dataset) * frac))
        remainder = len(dataset) - sum(subset_lengths)
        for i in range(remainder):  # the items left over go round-robin, as in torch
            subset_lengths[i % len(subset_lengths)] += 1
        lengths = list(subset_lengths)
        for i, length in enumerate(lengths):
            if length == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.", stacklevel=2)
    if sum(lengths) != len(dataset):
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    indices = ops.aten.randperm(sum(lengths), generator=generator, device="cpu").tolist()
    subsets, offset = [], 0
    for length in lengths:
        offset += length
        subsets.append(Subset(dataset, indices[offset - length: offset]))
    return subsets
