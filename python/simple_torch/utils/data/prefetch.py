"""``CUDAPrefetcher``: copies the next batch of a loader to the GPU on a side stream while the
current batch is being computed on.

Example:
    >>> loader = DataLoader(ds, batch_size=256, shuffle=True, pin_memory=True)
    >>> for x, y in CUDAPrefetcher(loader, "cuda:0"):
    ...     loss = loss_fn(model(x), y)            # x, y already on cuda:0
"""

from __future__ import annotations

import collections.abc
from collections.abc import Iterable, Iterator

from ..._tensor import TorchTensorWrapper as Tensor
from ...config import resolve_device
from ...devices import Device
from ...streams import Event, Stream

__all__ = ["CUDAPrefetcher"]


def _to_device(data, device: Device):
    """``data`` with every tensor (at any depth of mappings, tuples and lists) copied to
    ``device`` with ``non_blocking=True``: queued on the current stream, asynchronous from
    pinned memory."""
    if isinstance(data, Tensor):
        return data.to(device, non_blocking=True)
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        return {key: _to_device(value, device) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # a named tuple
        return type(data)(*(_to_device(value, device) for value in data))
    if isinstance(data, (tuple, list)):
        return type(data)(_to_device(value, device) for value in data)
    return data


class CUDAPrefetcher:
    """Iterates over ``loader`` (any iterable of batches: tensors, or tuples, lists and dicts of
    them) yielding each batch on ``device`` (a GPU), with the copy of the next batch already
    running on a side stream while you compute on the current one.

    Each batch is copied with ``non_blocking=True`` on ``stream`` (a new stream of ``device``
    by default); before a batch is yielded, the device's current stream is made to wait for its
    copy (an event, so Python does not block). Use the batches on that current stream. Before
    each new copy the side stream waits for the work queued on the current stream so far, so
    that memory of earlier batches that you have dropped is not overwritten while kernels still
    read it. For the copies to be truly asynchronous, the batches must be in pinned memory:
    ``DataLoader(..., pin_memory=True)``.

    ``device`` is resolved as for tensors: a GPU this machine lacks raises :class:`DeviceError`,
    unless ``policy="cpu"`` (then, with a warning, or for ``device="cpu"``, the batches are
    passed through as the loader yields them).

    Example:
        >>> prefetcher = CUDAPrefetcher(DataLoader(ds, batch_size=64, pin_memory=True), "cuda:0")
        >>> for epoch in range(10):
        ...     for x, y in prefetcher:
        ...         opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    """

    def __init__(self, loader: Iterable, device="cuda", stream: Stream | None = None, policy: str | None = None) -> None:
        self.loader = loader
        self.device = resolve_device(device, policy)
        self.stream: Stream | None
        if self.device.kind == "cuda":
            if stream is not None and stream.device != self.device:
                raise ValueError(f"the side stream must be on {self.device}, got a stream on {stream.device}")
            self.stream = stream if stream is not None else Stream(self.device)
        else:
            self.stream = None  # on the CPU there is nothing to overlap: batches pass through

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator:
        if self.stream is None:
            yield from self.loader
            return
        batches = iter(self.loader)
        current = Stream.current(self.device)
        pending = self._start_copy(batches, current)
        while pending is not None:
            batch, copied = pending
            current.wait_event(copied)  # kernels queued from now on see the whole batch
            pending = self._start_copy(batches, current)  # overlaps with your work on `batch`
            yield batch

    def _start_copy(self, batches: Iterator, current: Stream) -> tuple[object, Event] | None:
        """Queues the copy of the next batch on the side stream; None when the loader is done."""
        try:
            batch = next(batches)
        except StopIteration:
            return None
        assert self.stream is not None
        # Memory of dropped batches was allocated on the side stream: the new copy must not
        # reuse it before the kernels queued on the current stream are done with it.
        self.stream.wait_stream(current)
        with self.stream:
            on_device = _to_device(batch, self.device)
        return on_device, self.stream.record_event()
