"""``DistributedSampler``: each of ``num_replicas`` processes reads its own share of a dataset,
as ``torch.utils.data.distributed.DistributedSampler``, with torch's indices for the same
arguments, seed and epoch.

Example:
    >>> sampler = DistributedSampler(ds, num_replicas=4, rank=1, seed=0)
    >>> sampler.set_epoch(3); indices = list(sampler)
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from ... import ops
from ...generators import Generator
from .sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    """The indices for replica ``rank`` of ``num_replicas``: the dataset's indices (shuffled
    with seed ``seed + epoch`` when ``shuffle``), padded by repeating the first ones so that
    every replica gets as many (or, with ``drop_last``, cut to a multiple of ``num_replicas``),
    then every ``num_replicas``-th from ``rank``. Call ``set_epoch(epoch)`` before each epoch
    for a new order. ``num_replicas`` and ``rank`` default to the default process group's world
    size and rank (``st.distributed``), as in torch.

    Example:
        >>> sampler = DistributedSampler(ds, num_replicas=2, rank=0, shuffle=False)
        >>> list(sampler)[:3]
        [0, 2, 4]
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from ... import distributed as dist

            if not dist.is_initialized():
                raise RuntimeError("Requires distributed package to be available: call "
                                   "st.distributed.init_process_group, or give num_replicas and rank")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        if self.drop_last and len(self.dataset) % self.num_replicas != 0:
            # the tail is dropped so that every replica gets the same number of samples
            self.num_samples = math.ceil((len(self.dataset) - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(len(self.dataset) / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            # deterministic from the seed and the epoch: the same order in every replica
            generator = Generator().manual_seed(self.seed + self.epoch)
            indices = ops.aten.randperm.generator(len(self.dataset), generator=generator, device="cpu").tolist()
        else:
            indices = list(range(len(self.dataset)))

        if not self.drop_last:
            padding_size = self.total_size - len(indices)
            if padding_size <= len(indices):
                indices += indices[:padding_size]
            else:
                indices += (indices * math.ceil(padding_size / len(indices)))[:padding_size]
        else:
            indices = indices[: self.total_size]
        assert len(indices) == self.total_size, f"Number of indices ({len(indices)}) does not match total_size ({self.total_size})"

        indices = indices[self.rank: self.total_size: self.num_replicas]
        assert len(indices) == self.num_samples, f"Number of subsampled indices ({len(indices)}) does not match num_samples ({self.num_samples})"
        return iter(indices)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch, which changes the shuffled order (the same in every replica).

        Example:
            >>> for epoch in range(10):
            ...     sampler.set_epoch(epoch)
            ...     for batch in loader: ...
        """
        self.epoch = epoch
