"""``DataLoader``: batches of a dataset, as ``torch.utils.data.DataLoader``, loaded in the
calling process (``num_workers=0``).

It makes the same random draws as torch's in the same order: at each pass, one int64 from
``generator`` (or the default generator) for the workers' base seed, then the sampler's own
draws. So, after ``st.manual_seed(s)`` (or with ``generator=st.Generator().manual_seed(s)``),
``shuffle=True`` visits the samples in the order torch's DataLoader does after
``torch.manual_seed(s)`` (or with a ``torch.Generator`` seeded with ``s``).

Example:
    >>> ds = TensorDataset(st.arange(10.0), st.arange(10))
    >>> loader = DataLoader(ds, batch_size=4, shuffle=True, generator=st.Generator().manual_seed(0))
    >>> [y.tolist() for _, y in loader]
    [[3, 7, 5, 2], [0, 8, 1, 6], [9, 4]]
"""

from __future__ import annotations

import collections.abc
import itertools
import warnings
from typing import Any, Callable

from ... import ops
from ..._tensor import TorchTensorWrapper as Tensor
from ...dtypes import DType
from ...generators import Generator
from ...library import cuda_device_count
from .collate import _rebuild, _rebuild_mapping, default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "pin_memory"]


class _InfiniteConstantSampler(Sampler):
    """The sampler of an iterable-style dataset: None forever (the dataset picks its items)."""

    def __iter__(self):
        while True:
            yield None


def pin_memory(data):
    """``data`` with every tensor (at any depth of mappings, tuples and lists) copied into
    pinned memory, from which copies to a GPU with ``non_blocking=True`` run asynchronously, as
    the DataLoader's ``pin_memory=True`` does in torch. Needs CUDA.

    Example:
        >>> x, y = pin_memory((st.randn(4, 3), st.arange(4)))
        >>> x.is_pinned()
        True
    """
    if isinstance(data, Tensor):
        return data.pin_memory()
    if hasattr(data, "pin_memory"):
        return data.pin_memory()
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {k: pin_memory(sample) for k, sample in data.items()})
    if isinstance(data, tuple):
        if hasattr(data, "_fields"):  # a named tuple
            return type(data)(*(pin_memory(sample) for sample in data))
        return type(data)(pin_memory(sample) for sample in data)
    if isinstance(data, collections.abc.Sequence):
        return _rebuild(data, [pin_memory(sample) for sample in data])
    return data


class DataLoader:
    """Iterates over a dataset in batches, as ``torch.utils.data.DataLoader`` with
    ``num_workers=0``: ``batch_size`` samples at a time (the last batch shorter unless
    ``drop_last``), in order or shuffled (``shuffle=True``, with ``generator`` or the default
    generator), or in the order of a ``sampler`` or ``batch_sampler`` of your own; each batch
    put together by ``collate_fn`` (default: :func:`default_collate`, which stacks tensors).
    ``batch_size=None`` yields the samples one by one, unbatched.

    ``pin_memory=True`` puts each batch in pinned memory (needs CUDA; without it, a warning
    and plain memory, as in torch). To overlap the copies to the GPU with compute, wrap the
    loader in :class:`~simple_torch.utils.data.CUDAPrefetcher`. Loading in worker processes
    (``num_workers > 0``) is not supported.

    Example:
        >>> loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, drop_last=True)
        >>> for xb, yb in loader:
        ...     loss = loss_fn(model(xb), yb)
    """

    _initialized = False

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn: Callable | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable | None = None, multiprocessing_context=None,
                 generator: Generator | None = None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, pin_memory_device: str = "", in_order: bool = True) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if num_workers > 0:
            raise NotImplementedError(
                f"DataLoader(num_workers={num_workers}): simple_torch loads batches in the calling process only; "
                "use num_workers=0 (and CUDAPrefetcher to overlap the copies to the GPU with compute)")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if timeout != 0:
            raise ValueError("timeout option needs num_workers > 0 (a timeout for collecting a batch from workers)")
        if prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        if persistent_workers:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None:
            raise ValueError("multiprocessing_context can only be used with multi-process loading (num_workers > 0), "
                             f"but got num_workers={num_workers}")

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order

        if isinstance(dataset, IterableDataset):
            self._iterable = True
            if shuffle not in {False, None}:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                                 f"but got batch_sampler={batch_sampler}")
        else:
            self._iterable = False
            shuffle = bool(shuffle)

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")

        if sampler is None:
            if self._iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self._initialized = True

    def __setattr__(self, attr: str, value: Any) -> None:
        if self._initialized and attr in ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
                                          "persistent_workers"):
            raise ValueError(f"{attr} attribute should not be set after {self.__class__.__name__} is initialized")
        super().__setattr__(attr, value)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        # what gives the indices of each fetch: index lists when batching, else single indices
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self) -> _SingleProcessDataLoaderIter:
        return _SingleProcessDataLoaderIter(self)

    def __len__(self) -> int:
        if self._iterable:
            length = len(self.dataset)
            if self.batch_size is not None:
                length = length // self.batch_size if self.drop_last else -(-length // self.batch_size)
            return length
        return len(self._index_sampler)


class _SingleProcessDataLoaderIter:
    """One pass over a DataLoader: fetches, collates (and pins) each batch when asked."""

    def __init__(self, loader: DataLoader) -> None:
        self._dataset = loader.dataset
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._collate_fn = loader.collate_fn
        self._index_sampler = loader._index_sampler
        self._pin_memory = loader.pin_memory and cuda_device_count() > 0
        if loader.pin_memory and loader.pin_memory_device:
            warnings.warn("pin_memory_device is deprecated, the current accelerator will be used as the device,"
                          f"ignore pin_memory_device='{loader.pin_memory_device}'.", stacklevel=3)
        if loader.pin_memory and not self._pin_memory:
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, then device pinned "
                          "memory won't be used.", stacklevel=3)
        self._sampler_iter = iter(self._index_sampler)
        # torch draws the workers' base seed here, before the sampler's first draw: drawing it
        # too keeps the random stream, and so the shuffled order, the same as torch's.
        self._base_seed = int(ops.aten.empty.memory_format([], dtype=DType.int64, device="cpu")
                              .random_(generator=loader.generator).item())
        self._dataset_iter = iter(self._dataset) if loader._iterable else None
        self._ended = False
        self._num_yielded = 0

    def __iter__(self) -> _SingleProcessDataLoaderIter:
        return self

    def __len__(self) -> int:
        return len(self._index_sampler)

    def _fetch(self, index):
        if self._dataset_iter is not None:  # an iterable-style dataset: take the next items
            if self._ended:
                raise StopIteration
            if not self._auto_collation:
                return self._collate_fn(next(self._dataset_iter))
            data = list(itertools.islice(self._dataset_iter, len(index)))
            if len(data) < len(index):
                self._ended = True
            if len(data) == 0 or (self._drop_last and len(data) < len(index)):
                raise StopIteration
            return self._collate_fn(data)
        if not self._auto_collation:
            return self._collate_fn(self._dataset[index])
        getitems = getattr(self._dataset, "__getitems__", None)
        data = getitems(index) if getitems else [self._dataset[i] for i in index]
        return self._collate_fn(data)

    def __next__(self):
        index = next(self._sampler_iter)  # StopIteration ends the pass
        data = self._fetch(index)
        if self._pin_memory:
            data = pin_memory(data)
        self._num_yielded += 1
        return data
