"""Deferred release (python/simple_torch/_release.py): collected small CPU tensors are released in
batches, and the rules hold: the queue stays bounded, ``live_handles()`` is exact, any thread may
queue and drain, a drain survives bad handles and leaves the error message alone, and the queue
is drained at exit."""

import gc
import subprocess
import sys
import textwrap

import pytest

import simple_torch as st
from simple_torch import _release
from simple_torch._native import lib
from helpers import run_threads


def raw_live() -> int:
    """The library's count, without draining the queue first (as st.live_handles() does)."""
    return lib.rt_torch_live_handles()


def test_only_small_cpu_tensors_may_wait():
    assert st.zeros(4).handle & _release.DEFERRABLE
    assert st.zeros(16 * 1024).handle & _release.DEFERRABLE  # 64 KiB: the limit
    assert not st.zeros(16 * 1024 + 1).handle & _release.DEFERRABLE
    big = st.zeros(1 << 20)  # 4 MiB: released at once, never queued
    st.live_handles()
    before = raw_live()
    del big
    assert raw_live() == before - 1


def test_a_view_of_a_big_storage_is_released_at_once():
    big = st.zeros(1 << 20)
    view = big[:4]
    assert not view.handle & _release.DEFERRABLE  # it keeps the whole 4 MiB storage alive
    del big, view


def test_live_handles_is_exact_and_the_queue_bounded():
    start = st.live_handles()
    x = st.ones(4)
    for _ in range(10 * _release.BATCH + 7):
        x = x.add(x).relu()
        assert len(_release.pending) < 2 * _release.BATCH
    del x
    assert st.live_handles() == start
    assert _release.pending == []


def test_a_drain_skips_bad_handles_keeps_the_rest_and_the_error_message():
    st.live_handles()
    tensors = [st.zeros(2) for _ in range(5)]
    handles = [t.handle for t in tensors]
    freed = st.zeros(2)
    freed_handle = freed.handle
    freed.free()
    before = raw_live()
    # A failed call leaves its message, which a drain (from a collection) must not clear.
    with pytest.raises(st.HandleError):
        lib.rt_torch_torchtensor_numel(freed_handle)
    message = lib.rt_torch_last_error()
    for tensor in tensors:  # the wrappers forget their handles without releasing them
        tensor._handle = None
    _release.pending.extend([freed_handle, handles[0], 0xDEADBEEF | _release.DEFERRABLE, *handles[1:], _release.DEFERRABLE])
    _release.drain()
    assert lib.unchecked.rt_torch_last_error() == message  # before any other call clears it
    assert _release.pending == []
    assert raw_live() == before - 5


def test_a_borrowed_wrapper_sees_its_handle_freed_once_the_queue_drains():
    owner = st.ones(3)
    borrowed = st.Tensor(owner.handle, owns_handle=False)
    del owner  # queued, not yet released
    st.live_handles()  # drains
    with pytest.raises(st.HandleError, match="was already freed"):
        borrowed.tolist()


def test_threads_queue_and_drain_together():
    start = st.live_handles()
    errors = []

    def work(seed: int):
        try:
            x = st.full((3,), float(seed))
            for step in range(3000):
                y = x.mul(x).add(x)
                if step % 500 == 0:
                    st.live_handles()  # a drain, while the others queue
                    assert y.tolist() == [seed * seed + seed] * 3
            del x, y
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    run_threads(work, 8)
    gc.collect()
    assert errors == []
    assert st.live_handles() == start


def test_the_queue_is_drained_at_exit():
    # An atexit handler registered before simple_torch's runs after it (they run last in,
    # first out): it sees the queue drained, and a tensor collected then released at once.
    script = textwrap.dedent(
        """
        import atexit

        def check():
            from simple_torch import _release
            from simple_torch._native import lib
            import simple_torch as st
            print("pending", len(_release.pending))
            before = lib.rt_torch_live_handles()
            late = st.zeros(2)
            del late
            print("late", lib.rt_torch_live_handles() - before)
            print("live", lib.rt_torch_live_handles() - start[0])

        atexit.register(check)
        start = []
        from simple_torch._native import lib
        start.append(lib.rt_torch_live_handles())
        import simple_torch as st
        kept = st.ones(4)
        for _ in range(10):
            st.zeros(4).add(kept)  # collected, queued
        from simple_torch import _release
        assert _release.pending, "small tensors should be queued"
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split() for line in done.stdout.split("\n") if line)
    assert lines == {"pending": "0", "late": "0", "live": "1"}, done.stdout  # only `kept` is alive
