"""Samplers: the order in which the ``DataLoader`` visits a dataset, as
``torch.utils.data.sampler``.

``RandomSampler`` draws its permutations with torch's calls in torch's order, so that the same
seed gives the same order as torch's: with a ``generator`` it calls
``randperm(n, generator=generator)``; without one it first draws a seed from the default
generator (``st.manual_seed`` seeds it) into a fresh generator.

Example:
    >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
    [[0, 1], [2, 3], [4]]
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence, Sized

from ... import ops
from ...dtypes import DType
from ...generators import Generator

__all__ = ["BatchSampler", "RandomSampler", "Sampler", "SequentialSampler", "SubsetRandomSampler"]

aten = ops.aten


def _fresh_generator(generator: Generator | None) -> Generator:
    """``generator``, or a new CPU generator seeded from the default one (one int64 drawn with
    ``random_()``, as torch's RandomSampler draws it)."""
    if generator is not None:
        return generator
    seed = int(aten.empty.memory_format([], dtype=DType.int64, device="cpu").random_().item())
    return Generator().manual_seed(seed)


class Sampler:
    """The base class of samplers, as ``torch.utils.data.Sampler``: an iterable of dataset
    indices (or, for a batch sampler, of lists of indices); define ``__iter__`` and, where the
    length is known, ``__len__``.

    Example:
        >>> class Reversed(st.utils.data.Sampler):
        ...     def __init__(self, n): self.n = n
        ...     def __iter__(self): return iter(range(self.n - 1, -1, -1))
        ...     def __len__(self): return self.n
    """

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator:
        raise NotImplementedError


class SequentialSampler(Sampler):
    """The indices ``0, 1, ..., len(data_source) - 1``, in order.

    Example:
        >>> list(SequentialSampler(range(3)))
        [0, 1, 2]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """The indices of ``data_source`` in a random order (a new one at each pass), or
    ``num_samples`` indices drawn with ``replacement``, as ``torch.utils.data.RandomSampler``,
    with torch's order for the same seed.

    Example:
        >>> list(RandomSampler(range(5), generator=st.Generator().manual_seed(0)))
        [4, 0, 1, 3, 2]
    """

    def __init__(self, data_source: Sized, replacement: bool = False, num_samples: int | None = None,
                 generator: Generator | None = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={self.replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        """How many indices a pass yields (``len(data_source)`` unless given).

        Example:
            >>> RandomSampler(range(5), replacement=True, num_samples=8).num_samples
            8
        """
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        generator = _fresh_generator(self.generator)
        if self.replacement:
            # in draws of 32, as torch draws them (the same numbers for the same generator state)
            for _ in range(self.num_samples // 32):
                yield from aten.randint.low_generator(0, n, [32], generator=generator, dtype=DType.int64, device="cpu").tolist()
            yield from aten.randint.low_generator(0, n, [self.num_samples % 32], generator=generator,
                                                  dtype=DType.int64, device="cpu").tolist()
        else:
            for _ in range(self.num_samples // n):
                yield from aten.randperm.generator(n, generator=generator, device="cpu").tolist()
            yield from aten.randperm.generator(n, generator=generator, device="cpu").tolist()[: self.num_samples % n]

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order (a new one at each pass), as
    ``torch.utils.data.SubsetRandomSampler``.

    Example:
        >>> sampler = SubsetRandomSampler([0, 2, 4, 6], generator=st.Generator().manual_seed(1))
    """

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        for i in aten.randperm.generator(len(self.indices), generator=self.generator, device="cpu").tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size``; the last, shorter one is
    dropped with ``drop_last``, as ``torch.utils.data.BatchSampler``.

    Example:
        >>> list(BatchSampler(range(5), batch_size=2, drop_last=True))
        [[0, 1], [2, 3]]
    """

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        sampler_iter = iter(self.sampler)
        if self.drop_last:
            for full_batch in zip(*([sampler_iter] * self.batch_size)):
                yield [*full_batch]
        else:
            batch = [*itertools.islice(sampler_iter, self.batch_size)]
            while batch:
                yield batch
                batch = [*itertools.islice(sampler_iter, self.batch_size)]

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size  # type: ignore[arg-type]
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size  # type: ignore[arg-type]
