"""Deferred release of tensor handles: one call into the library for many collected tensors.

A tensor wrapper that is garbage-collected does not call into the library for a small CPU
tensor: its ``__del__`` appends the handle to ``pending``, and each ``BATCH`` of them is
released by one ``rt_torch_torchtensor_finalize_many`` call. That saves a foreign call (about
a fifth of a small operation) per tensor. Which handles may wait, the library decides when it
issues them: it sets bit 62 (``DEFERRABLE``) of a CPU tensor's handle whose storage is at most
64 KiB (rust/handles.rs), so the queue never holds more than about ``BATCH`` x 64 KiB; GPU and
bigger tensors are released at once, as before.

The rules:

- A queued handle is dead to its owner at once: the wrapper that owned it is gone. (A wrapper
  that merely borrows the handle, ``owns_handle=False``, can still read it until the batch is
  released, as it could read a handle that another caller frees later; it never crashes.)
- Any thread may queue, and any thread drains: one drain runs at a time; a drain that finds
  another one running leaves its handles to it.
- :func:`drain` runs before ``st.live_handles()`` counts (so the count is exact), and at exit;
  wrappers collected after that release their handles at once.
- A drain never raises and leaves the calling thread's error message alone: a handle that the
  library rejects (already freed in another way) is skipped, and the others are released.
"""

from __future__ import annotations

import struct
import threading

from ._native import lib

#: Bit 62 of a tensor handle: the library allows its release to wait in ``pending``.
DEFERRABLE = 1 << 62

#: How many handles wait before one call releases them all.
BATCH = 64

#: Handles of collected wrappers, in the order they died, waiting for :func:`drain`.
pending: list[int] = []

_draining = threading.Lock()
_finalize_many = lib.unchecked.rt_torch_torchtensor_finalize_many


def drain(wait: bool = True) -> None:
    """Releases every queued handle. ``wait=False`` (from ``__del__``) returns at once if a drain
    is already running, in another thread or further up this one's stack (a collection can
    start inside a drain): that drain takes the new handles too."""
    if not _draining.acquire(blocking=wait):
        return
    try:
        while pending:
            # Slice, then delete that many from the front: handles that other threads append
            # meanwhile go to the end and stay queued.
            count = len(pending)
            batch = struct.pack(f"={count}Q", *pending[:count])
            del pending[:count]
            _finalize_many(batch, count)
    finally:
        _draining.release()

