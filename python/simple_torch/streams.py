"""Streams and events: queue GPU work on streams of your own, order streams with events, and
time GPU work. A CPU stream (``Stream("cpu")``) exists so that device-agnostic code runs
unchanged on the CPU, where work is done as soon as it is issued.
"""

from __future__ import annotations

import threading

from ._native import lib
from .config import dl, resolve_device
from .devices import Device


class Stream:
    """A queue of work on one device. New CUDA streams come from libtorch's per-device pool.
    ``with stream:`` makes it the current stream of its device for the calling thread: the
    operations inside (and transfers with ``non_blocking=True``) are queued on it, so they can
    overlap with work on other streams.

    Example:
        >>> side = Stream("cuda:0")
        >>> with side:
        ...     y = (x @ x).relu()  # queued on side
        >>> side.synchronize()  # now y is ready for every stream
    """

    __slots__ = ("_handle", "device")

    def __init__(self, device=None, policy: str | None = None):
        """A new stream on ``device`` (default ``dl.default_device``; ``policy`` as for tensors).

        Example:
            >>> Stream("cpu").query()
            True
        """
        device = resolve_device(device, policy)
        self._handle = lib.rt_torch_stream_create(device.code)
        self.device = device

    @classmethod
    def _wrap(cls, handle: int) -> Stream:
        stream = cls.__new__(cls)
        stream._handle = handle
        stream.device = Device.from_code(lib.rt_torch_torchstream_device(handle))
        return stream

    @classmethod
    def current(cls, device=None) -> Stream:
        """The calling thread's current stream on ``device`` (default ``dl.default_device``): the
        default stream, unless another was made current.

        Example:
            >>> Stream.current("cuda:0") == Stream.current("cuda:0")
            True
        """
        return cls._wrap(lib.rt_torch_stream_current(resolve_device(device).code))

    def synchronize(self) -> None:
        """Waits until all work queued on the stream is done.

        Example:
            >>> stream.synchronize()
        """
        lib.rt_torch_torchstream_sync(self._handle)

    def query(self) -> bool:
        """True when all work queued on the stream is done.

        Example:
            >>> Stream("cpu").query()
            True
        """
        return lib.rt_torch_torchstream_query(self._handle)

    def record_event(self, event: Event | None = None) -> Event:
        """Records ``event`` (a new one if None) on this stream and returns it.

        Example:
            >>> done = stream.record_event()
        """
        event = Event() if event is None else event
        event.record(self)
        return event

    def wait_event(self, event: Event) -> None:
        """Makes work queued on this stream from now on wait for the event's recorded work,
        without blocking Python (a CPU stream blocks until the event completes).

        Example:
            >>> consumer.wait_event(producer.record_event())
        """
        lib.rt_torch_torchstream_wait_event(self._handle, event._handle)

    def wait_stream(self, other: Stream) -> None:
        """Makes work queued on this stream from now on wait for the work queued on ``other``
        so far.

        Example:
            >>> compute.wait_stream(copies)
        """
        if other.device.kind == "cpu":
            return  # a CPU stream's work is already done
        self.wait_event(other.record_event())

    @property
    def cuda_stream(self) -> int:
        """The ``cudaStream_t`` as an integer, for other CUDA libraries (0 for the legacy
        default stream and for CPU streams).

        Example:
            >>> cupy.cuda.ExternalStream(stream.cuda_stream)
        """
        return lib.rt_torch_torchstream_cuda_stream(self._handle) or 0

    def __enter__(self) -> Stream:
        previous = Stream.current(self.device)
        lib.rt_torch_torchstream_set_current(self._handle)
        _entered_stack().append(previous)
        return self

    def __exit__(self, *exc_info) -> None:
        previous = _entered_stack().pop()
        lib.rt_torch_torchstream_set_current(previous._handle)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Stream):
            return NotImplemented
        return self.device == other.device and self.cuda_stream == other.cuda_stream

    def __hash__(self) -> int:
        return hash((self.device, self.cuda_stream))

    def __repr__(self) -> str:
        return f"Stream(device={str(self.device)!r}, cuda_stream={self.cuda_stream:#x})"

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle:
            lib.rt_torch_torchstream_finalize(handle)


_thread = threading.local()


def _entered_stack() -> list:
    """The streams that were current before each ``with stream:`` of this thread, innermost last."""
    stack = getattr(_thread, "entered", None)
    if stack is None:
        stack = _thread.entered = []
    return stack


def _default_cuda_stream() -> Stream:
    """The current stream of ``dl.default_device`` if that is a GPU, else of cuda:0."""
    device = dl.default_device
    return Stream.current(device if device.kind == "cuda" else Device.cuda(0))


class Event:
    """A marker in a CUDA stream's work: wait for it, make another stream wait for it, or time
    the GPU work between two events (``enable_timing=True``). It takes the device of the
    stream it is first recorded on. Needs CUDA.

    Example:
        >>> start, end = Event(enable_timing=True), Event(enable_timing=True)
        >>> start.record(); y = x @ x; end.record()
        >>> end.synchronize(); print(f"{start.elapsed_time(end):.3f} ms")
    """

    __slots__ = ("_handle",)

    def __init__(self, enable_timing: bool = False):
        self._handle = lib.rt_torch_event_create(bool(enable_timing))

    def record(self, stream: Stream | None = None) -> Event:
        """Records the event on ``stream`` (default: the current stream of ``dl.default_device``
        if it is a GPU, else of cuda:0): it completes when the work queued there so far does.

        Example:
            >>> event.record(stream)
        """
        lib.rt_torch_torchevent_record(self._handle, (stream or _default_cuda_stream())._handle)
        return self

    def query(self) -> bool:
        """True when the recorded work is done (or the event was never recorded).

        Example:
            >>> while not event.query(): do_cpu_work()
        """
        return lib.rt_torch_torchevent_query(self._handle)

    def synchronize(self) -> None:
        """Waits until the recorded work is done.

        Example:
            >>> event.synchronize()
        """
        lib.rt_torch_torchevent_synchronize(self._handle)

    def wait(self, stream: Stream | None = None) -> None:
        """Makes work queued on ``stream`` (default as for :meth:`record`) from now on wait for
        this event.

        Example:
            >>> done.wait(consumer)
        """
        (stream or _default_cuda_stream()).wait_event(self)

    def elapsed_time(self, end: Event) -> float:
        """Milliseconds of GPU time from this event to ``end``: both created with
        ``enable_timing=True``, recorded on the same device, and completed.

        Example:
            >>> end.synchronize(); start.elapsed_time(end)
            0.042
        """
        return lib.rt_torch_torchevent_elapsed_time(self._handle, end._handle)

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle:
            lib.rt_torch_torchevent_finalize(handle)


def synchronize(device=None) -> None:
    """Waits for all work queued on the device (default ``dl.default_device``), on every
    stream, as ``torch.cuda.synchronize`` does; nothing to wait for on the CPU.

    Example:
        >>> synchronize("cuda:0")
    """
    lib.rt_torch_device_synchronize(resolve_device(device).code)
