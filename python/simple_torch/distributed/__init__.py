"""``st.distributed``: PyTorch's own distributed engine (c10d), spelled as ``torch.distributed``.

Process groups over Gloo (CPU tensors) or NCCL (CUDA tensors; CUDA builds), rendezvous through
a ``TCPStore`` or ``FileStore``, and the collectives, all libtorch's own c10d: a job can mix
simple_torch ranks and PyTorch ranks, and ``torchrun`` (or ``python -m
simple_torch.distributed.run``) launches it.

Example:
    >>> import simple_torch as st
    >>> import simple_torch.distributed as dist
    >>> dist.init_process_group("gloo")            # RANK, WORLD_SIZE, MASTER_ADDR/PORT
    >>> t = st.ones(4) * dist.get_rank()
    >>> dist.all_reduce(t)                         # every rank now holds the sum
    >>> dist.destroy_process_group()

Failures are :class:`DistError`: a rank that dies or never arrives makes the others raise within
the group's timeout, naming the rank(s) they lost.
"""

from __future__ import annotations

import ctypes
import datetime
import enum
import os
import re
import threading
import time
import warnings
from urllib.parse import parse_qs, urlparse

from .._native import lib
from ..errors import ArgumentError, DistError, SimpleTorchError

__all__ = [
    "Backend", "DistError", "FileStore", "GroupMember", "PrefixStore", "ProcessGroup", "ReduceOp", "Store", "TCPStore",
    "Work", "all_gather", "all_gather_into_tensor", "all_reduce", "all_to_all_single", "barrier", "broadcast",
    "destroy_process_group", "get_backend", "get_global_rank", "get_group_rank", "get_process_group_ranks", "get_rank",
    "get_world_size", "group", "init_process_group", "irecv", "is_available", "is_gloo_available", "is_initialized",
    "is_nccl_available", "isend", "monitored_barrier", "new_group", "recv", "reduce", "reduce_scatter_tensor", "send",
]

#: torch.distributed's default timeout for Gloo groups.
default_pg_timeout = datetime.timedelta(minutes=30)


class ReduceOp(enum.IntEnum):
    """How a reduction combines the ranks' tensors (c10d's numbers). Gloo refuses ``AVG`` on
    integer tensors, and ``BAND``/``BOR``/``BXOR`` on floating ones.

    Example:
        >>> dist.all_reduce(t, op=dist.ReduceOp.MAX)
    """

    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7


class Backend(str):
    """A backend name: ``Backend.GLOO`` (CPU tensors) or ``Backend.NCCL`` (CUDA tensors).

    Example:
        >>> dist.init_process_group(dist.Backend.GLOO)
    """

    GLOO = "gloo"
    NCCL = "nccl"

    def __new__(cls, name: str):
        lowered = str(name).lower()
        if lowered not in (cls.GLOO, cls.NCCL):
            raise ValueError(f"unknown backend {name!r}: simple_torch has 'gloo' and 'nccl'")
        return super().__new__(cls, lowered)


def _millis(timeout, default: datetime.timedelta) -> int:
    """A timeout (a timedelta, seconds, or None for `default`) in milliseconds."""
    if timeout is None:
        timeout = default
    seconds = timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else float(timeout)
    if seconds <= 0:
        raise ValueError(f"timeout must be positive, not {timeout!r}")
    return max(1, round(seconds * 1000))


def _bytes(value) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


# ---- stores ------------------------------------------------------------------------------------


class Store:
    """A key-value store every rank reaches: what groups meet through (torch's ``Store``).

    Example:
        >>> store.set("ready", "1")
        >>> store.get("ready")            # waits for the key, up to the store's timeout
        b'1'
        >>> store.add("count", 1)
        1
    """

    def __init__(self, handle: int):
        self._handle = handle

    def __del__(self):
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            lib.rt_torch_torchstore_finalize(handle)

    def _live(self) -> int:
        if not self._handle:
            raise DistError("this store was already closed")
        return self._handle

    def set(self, key: str, value) -> None:
        """Sets ``key`` to ``value`` (str or bytes).

        Example:
            >>> store.set("epoch", "3")
        """
        data = _bytes(value)
        lib.rt_torch_torchstore_set(self._live(), key.encode(), data, len(data))

    def get(self, key: str) -> bytes:
        """``key``'s value, waiting for the key up to the store's timeout.

        Example:
            >>> store.get("epoch")
            b'3'
        """
        size = 256  # most values fit: one round trip to the store
        while True:
            buffer = ctypes.create_string_buffer(size)
            full = lib.rt_torch_torchstore_get(self._live(), key.encode(), buffer, size)
            if full <= size:
                return buffer.raw[:full]
            size = full  # again, with room for all of it

    def add(self, key: str, amount: int) -> int:
        """Adds ``amount`` to the counter ``key`` (created at 0) and returns the new value.

        Example:
            >>> store.add("arrived", 1)
            1
        """
        value = ctypes.c_int64()
        lib.rt_torch_torchstore_add(self._live(), key.encode(), amount, ctypes.byref(value))
        return value.value

    @staticmethod
    def _keys(keys) -> tuple:
        encoded = [key.encode() for key in keys]
        return (ctypes.c_char_p * len(encoded))(*encoded), len(encoded)

    def wait(self, keys, timeout=None) -> None:
        """Waits until every key in ``keys`` exists (up to ``timeout``, else the store's).

        Example:
            >>> store.wait(["ready"], datetime.timedelta(seconds=10))
        """
        array, count = self._keys(keys)
        timeout_ms = -1 if timeout is None else _millis(timeout, default_pg_timeout)
        lib.rt_torch_torchstore_wait(self._live(), array, count, timeout_ms)

    def check(self, keys) -> bool:
        """Whether every key in ``keys`` exists now (without waiting).

        Example:
            >>> store.check(["ready"])
            True
        """
        array, count = self._keys(keys)
        return lib.rt_torch_torchstore_check(self._live(), array, count) == 1

    def delete_key(self, key: str) -> bool:
        """Deletes ``key``; whether it existed (a ``FileStore`` always says True, as torch's).

        Example:
            >>> store.delete_key("ready")
            True
        """
        return lib.rt_torch_torchstore_delete_key(self._live(), key.encode()) == 1

    def set_timeout(self, timeout) -> None:
        """Sets how long ``get`` and ``wait`` wait (a timedelta or seconds).

        Example:
            >>> store.set_timeout(datetime.timedelta(seconds=30))
        """
        lib.rt_torch_torchstore_set_timeout(self._live(), _millis(timeout, default_pg_timeout))

    def clone(self) -> Store:
        """A second connection to the same store, for another thread.

        Example:
            >>> other = store.clone()
        """
        return Store(lib.rt_torch_torchstore_clone(self._live()))

    @property
    def port(self) -> int:
        """A ``TCPStore``'s port (the one chosen for port 0); -1 for other stores."""
        return lib.rt_torch_torchstore_port(self._live())


class TCPStore(Store):
    """torch's ``TCPStore``: a store served over TCP by one process (``is_master``), which the
    others connect to, retrying until ``timeout``. ``port=0`` lets the OS choose (see
    :attr:`port`). The server does not wait for the workers to connect: the process group's
    rendezvous does, and names who is missing (``wait_for_workers`` is accepted for torch's
    signature).

    Example:
        >>> store = dist.TCPStore("127.0.0.1", 29500, world_size=2, is_master=(rank == 0))
    """

    def __init__(self, host_name: str, port: int, world_size: int | None = None, is_master: bool = False,
                 timeout=datetime.timedelta(seconds=300), wait_for_workers: bool = True, multi_tenant: bool = False,
                 use_libuv: bool = True):
        super().__init__(lib.rt_torch_store_tcp(host_name.encode(), int(port), -1 if world_size is None else int(world_size),
                                                bool(is_master), _millis(timeout, default_pg_timeout)))
        self.host = host_name


class FileStore(Store):
    """torch's ``FileStore``: a store in a file that every rank can reach.

    Example:
        >>> store = dist.FileStore("/tmp/rendezvous", world_size=2)
    """

    def __init__(self, file_name: str, world_size: int = -1):
        super().__init__(lib.rt_torch_store_file(os.fspath(file_name).encode(), int(world_size)))


class PrefixStore(Store):
    """torch's ``PrefixStore``: ``store`` with every key under ``prefix``.

    Example:
        >>> job = dist.PrefixStore("job1", store)
    """

    def __init__(self, prefix: str, store: Store):
        super().__init__(lib.rt_torch_torchstore_prefix(store._live(), prefix.encode()))
        self.underlying_store = store


# ---- works -------------------------------------------------------------------------------------


class Work:
    """A collective started with ``async_op=True``: :meth:`wait` for it before reading its tensors.

    Example:
        >>> work = dist.all_reduce(t, async_op=True)
        >>> ...                                   # other work meanwhile
        >>> work.wait()
    """

    def __init__(self, handle: int, group: ProcessGroup):
        self._handle, self._group = handle, group

    def __del__(self):
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            lib.rt_torch_torchwork_finalize(handle)

    def wait(self, timeout=None) -> bool:
        """Waits until the collective is done (up to ``timeout`` if given: then raises
        :class:`DistError` if it is still running); a failed collective raises its
        :class:`DistError`, naming the ranks that stopped responding.

        Example:
            >>> work.wait()
            True
        """
        timeout_ms = -1 if timeout is None else _millis(timeout, default_pg_timeout)
        try:
            done = lib.rt_torch_torchwork_wait(self._handle, timeout_ms)
        except SimpleTorchError as error:
            raise _with_diagnosis(error, self._group) from None
        if not done:
            raise DistError(f"the collective did not finish within {timeout_ms / 1000:g} s")
        return True

    def is_completed(self) -> bool:
        """Whether the collective has finished (successfully or not: :meth:`wait` says which).

        Example:
            >>> while not work.is_completed(): do_something_else()
        """
        return lib.rt_torch_torchwork_is_completed(self._handle) == 1

    def _source_rank(self) -> int:
        return lib.rt_torch_torchwork_source_rank(self._handle)


# ---- process groups ------------------------------------------------------------------------------


class ProcessGroup:
    """A group of ranks that run collectives together: the default one from
    :func:`init_process_group`, or one from :func:`new_group`.

    Example:
        >>> pg = dist.new_group([0, 1])
        >>> pg.rank(), pg.size()
        (0, 2)
    """

    def __init__(self, handle: int, backend: str, ranks: list[int], name: str, store: Store, timeout_ms: int):
        self._handle, self._backend, self._ranks, self.group_name = handle, backend, ranks, name
        self._store, self._timeout_ms = store, timeout_ms

    def rank(self) -> int:
        """This process's rank in the group."""
        return lib.rt_torch_torchprocessgroup_rank(self._live())

    def size(self) -> int:
        """The number of ranks in the group."""
        return lib.rt_torch_torchprocessgroup_size(self._live())

    def _live(self) -> int:
        if not self._handle:
            raise DistError("this process group was destroyed")
        return self._handle

    def _destroy(self) -> None:
        handle, self._handle = self._handle, None
        if handle:
            lib.rt_torch_torchprocessgroup_free(handle)

    def __repr__(self) -> str:
        return f"ProcessGroup(backend={self._backend!r}, ranks={self._ranks}, name={self.group_name!r})"


class GroupMember:
    """``GroupMember.WORLD`` (the default group, once initialized) and ``NON_GROUP_MEMBER`` (what
    :func:`new_group` returns to ranks outside the new group)."""

    WORLD: ProcessGroup | None = None
    NON_GROUP_MEMBER = object()


group = GroupMember  # torch spells it dist.group.WORLD too


class _World:
    """The process's distributed state, as torch.distributed keeps it."""

    def __init__(self):
        self.default: ProcessGroup | None = None
        self.rank = -1
        self.groups: list[ProcessGroup] = []
        self.group_count = 0
        self.store: Store | None = None  # the default group's store, under "default_pg"
        self.liveness: _Liveness | None = None


_world = _World()


def is_available() -> bool:
    """True: this simple_torch has c10d (it is part of libtorch).

    Example:
        >>> dist.is_available()
        True
    """
    return True


def is_gloo_available() -> bool:
    """True: libtorch has the Gloo backend on every platform simple_torch runs on."""
    return True


def is_nccl_available() -> bool:
    """Whether NCCL groups can be made here: CUDA must be available (the library reports a
    build without NCCL when a group is made)."""
    return bool(lib.rt_torch_cuda_available())


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has run (and :func:`destroy_process_group` not since).

    Example:
        >>> dist.is_initialized()
        False
    """
    return _world.default is not None


def _default() -> ProcessGroup:
    if _world.default is None:
        raise DistError("Default process group has not been initialized, please make sure to call init_process_group.")
    return _world.default


def _group(group) -> ProcessGroup:
    return _default() if group is None or group is GroupMember.WORLD else group


def _env(name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise ValueError(f"Error initializing simple_torch.distributed using env:// rendezvous: environment variable {name} expected, but not set")
    return value


def _rendezvous(init_method: str, rank: int, world_size: int, timeout_ms: int) -> tuple[Store, int, int]:
    """The store, rank and world size for ``init_method``, as torch's rendezvous handlers give."""
    url = urlparse(init_method)
    query = {key: values[-1] for key, values in parse_qs(url.query).items()}
    rank = int(query.get("rank", rank))
    world_size = int(query.get("world_size", world_size))
    if url.scheme == "env":
        rank = int(_env("RANK")) if rank < 0 else rank
        world_size = int(_env("WORLD_SIZE")) if world_size < 0 else world_size
        host, port = _env("MASTER_ADDR"), int(_env("MASTER_PORT"))
    elif url.scheme == "tcp":
        if url.hostname is None or url.port is None:
            raise ValueError(f"tcp:// init_method needs a host and a port, not {init_method!r}")
        host, port = url.hostname, url.port
    elif url.scheme == "file":
        if rank < 0 or world_size < 0:
            raise ValueError("file:// init_method needs rank and world_size")
        _check_rank(rank, world_size)
        return FileStore(url.path, world_size), rank, world_size
    else:
        raise ValueError(f"unknown init_method {init_method!r}: use env://, tcp://host:port or file://path")
    if rank < 0 or world_size < 0:
        raise ValueError(f"{url.scheme}:// init_method needs rank and world_size")
    _check_rank(rank, world_size)
    # Under torchrun the agent serves the store; otherwise rank 0 does (as torch's rendezvous).
    serve = rank == 0 and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True"
    try:
        store = TCPStore(host, port, world_size, serve, timeout_ms / 1000)
    except SimpleTorchError as error:
        if serve:
            raise
        raise DistError(f"{error} (rank 0, which serves the store at {host}:{port}, is not reachable: it has not "
                        f"started, or it stopped)") from None
    return store, rank, world_size


def _check_rank(rank: int, world_size: int) -> None:
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of size {world_size}: ranks are 0 to world_size - 1")


def init_process_group(backend=None, init_method: str | None = None, timeout=None, world_size: int = -1,
                       rank: int = -1, store: Store | None = None, group_name: str = "", pg_options=None,
                       device_id=None) -> None:
    """Joins this process to the job's default group, as ``torch.distributed.init_process_group``:
    through ``store`` if given, else ``init_method`` (``env://``, the default, reads ``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` as torchrun sets them; ``tcp://host:port``;
    ``file://path``). Returns once every rank has joined, or raises :class:`DistError` naming
    those that did not within ``timeout`` (default 30 minutes). Gloo listens on the interface
    named by ``GLOO_SOCKET_IFNAME`` if set, as in torch.

    Example:
        >>> dist.init_process_group("gloo", init_method="tcp://127.0.0.1:29500", rank=r, world_size=2,
        ...                         timeout=datetime.timedelta(seconds=60))
    """
    if _world.default is not None:
        raise DistError("trying to initialize the default process group twice!")
    backend = Backend(backend or Backend.GLOO)
    timeout_ms = _millis(timeout, default_pg_timeout)
    # The key layout of torch.distributed, so that PyTorch ranks can join the same job: keys go
    # under "default_pg" in a store the rendezvous made, and straight into a store given.
    if store is None:
        base, rank, world_size = _rendezvous(init_method or "env://", rank, world_size, timeout_ms)
        default_store = PrefixStore("default_pg", base)
    else:
        if rank < 0 or world_size < 0:
            raise ValueError("init_process_group with a store needs rank and world_size")
        _check_rank(rank, world_size)
        default_store = store
    _world.rank, _world.store = rank, default_store
    name = str(_world.group_count)
    _world.group_count += 1
    try:
        pg = _make_group(backend, default_store, name, list(range(world_size)), rank, timeout_ms)
    except BaseException:
        _world.rank, _world.store = -1, None
        _world.group_count = 0
        raise
    _world.default = GroupMember.WORLD = pg
    _world.liveness = _Liveness(default_store, rank, world_size, timeout_ms)


def _make_group(backend: str, store: Store, name: str, ranks: list[int], global_rank: int, timeout_ms: int) -> ProcessGroup:
    group_rank, size = ranks.index(global_rank), len(ranks)
    device = "cuda" if backend == Backend.NCCL else "cpu"
    backend_store = PrefixStore(f"{device}/", PrefixStore(f"{name}/", store))
    make = lib.rt_torch_process_group_nccl if backend == Backend.NCCL else lib.rt_torch_process_group_gloo
    interface = os.environ.get("GLOO_SOCKET_IFNAME", "").split(",")[0]
    try:
        handle = make(backend_store._live(), group_rank, size, timeout_ms, interface.encode() or None, None, name.encode(),
                      _checked())
    except SimpleTorchError as error:
        raise _joining_error(error, backend_store, ranks, timeout_ms) from None
    pg = ProcessGroup(handle, backend, ranks, name, backend_store, timeout_ms)
    _world.groups.append(pg)
    return pg


def _checked() -> bool:
    """Whether groups check each collective before running it: yes unless
    ``TORCH_DISTRIBUTED_DEBUG`` is ``OFF`` or ``INFO`` (torch checks only under ``DETAIL``, so a
    job that mixes PyTorch ranks sets the variable to ``DETAIL`` or ``OFF`` for every rank)."""
    return os.environ.get("TORCH_DISTRIBUTED_DEBUG", "DETAIL").upper() == "DETAIL"


def _joining_error(error: SimpleTorchError, store: Store, ranks: list[int], timeout_ms: int) -> SimpleTorchError:
    """``error`` from making a group, naming the ranks that never published their address (Gloo
    writes key "0/<group rank>" under the group's store when it arrives)."""
    if isinstance(error, ArgumentError):
        return error
    try:
        missing = [rank for index, rank in enumerate(ranks) if not store.check([f"0/{index}"])]
    except SimpleTorchError:  # the store is gone too: Gloo's message lists the keys it waited for
        missing = sorted({ranks[int(index)] for index in re.findall(r"/0/(\d+)\b", str(error)) if int(index) < len(ranks)})
    if not missing:
        return DistError(str(error))
    return DistError(f"{error} (rank{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} did not join "
                     f"within the timeout of {timeout_ms / 1000:g} s)")


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization: bool = False,
              group_desc: str | None = None):
    """A group of some of the ranks (all by default), as torch's ``new_group``: every rank of
    the default group must call it, with the same ranks, in the same order as other
    ``new_group`` calls. Ranks outside it get ``GroupMember.NON_GROUP_MEMBER``.

    Example:
        >>> evens = dist.new_group([0, 2])
        >>> if dist.get_rank() in (0, 2):
        ...     dist.all_reduce(t, group=evens)
    """
    world = _default()
    ranks = sorted(set(range(world.size()) if ranks is None else ranks))
    for rank in ranks:
        _check_rank(rank, world.size())
    name = str(_world.group_count)
    _world.group_count += 1
    if _world.rank not in ranks:
        return GroupMember.NON_GROUP_MEMBER
    timeout_ms = world._timeout_ms if timeout is None else _millis(timeout, default_pg_timeout)
    return _make_group(Backend(backend or world._backend), _world.store, name, ranks, _world.rank, timeout_ms)


def destroy_process_group(group=None) -> None:
    """Leaves ``group``, or with no argument every group and the default one (after which
    :func:`init_process_group` may be called again). Safe after a failure: a group whose peers
    died is torn down all the same.

    Example:
        >>> dist.destroy_process_group()
    """
    if group is None or group is GroupMember.WORLD:
        if _world.liveness is not None:
            _world.liveness.stop()
        for pg in _world.groups:
            pg._destroy()
        _world.__init__()
        GroupMember.WORLD = None
    else:
        group._destroy()
        _world.groups = [pg for pg in _world.groups if pg is not group]


def get_rank(group=None) -> int:
    """This process's rank: in the job, or in ``group`` (-1 if not in it).

    Example:
        >>> dist.get_rank()
        0
    """
    if group is GroupMember.NON_GROUP_MEMBER:
        return -1
    return _group(group).rank()


def get_world_size(group=None) -> int:
    """The number of ranks in the job, or in ``group``.

    Example:
        >>> dist.get_world_size()
        2
    """
    if group is GroupMember.NON_GROUP_MEMBER:
        return -1
    return _group(group).size()


def get_backend(group=None) -> str:
    """The group's backend name: ``"gloo"`` or ``"nccl"``."""
    return _group(group)._backend


def get_process_group_ranks(group) -> list[int]:
    """The job ranks in ``group``, in group-rank order.

    Example:
        >>> dist.get_process_group_ranks(evens)
        [0, 2]
    """
    return list(_group(group)._ranks)


def get_global_rank(group, group_rank: int) -> int:
    """The job rank of ``group``'s rank ``group_rank``."""
    return _group(group)._ranks[group_rank]


def get_group_rank(group, global_rank: int) -> int:
    """``global_rank``'s rank in ``group``."""
    ranks = _group(group)._ranks
    if global_rank not in ranks:
        raise ValueError(f"rank {global_rank} is not part of the group {ranks}")
    return ranks.index(global_rank)


# ---- liveness: naming the ranks a failure lost ----------------------------------------------------


class _Liveness:
    """Every rank counts a heartbeat in the store from a thread of its own, and watches the
    others'; when a collective fails, the ranks whose heartbeat stopped are the ones it lost.
    (A PyTorch rank in the job has no heartbeat and is never named.)"""

    KEY = "simple_torch/heartbeat/"

    def __init__(self, store: Store, rank: int, world_size: int, timeout_ms: int):
        self.period = min(0.5, max(0.05, timeout_ms / 1000 / 20))
        self.rank, self.world_size = rank, world_size
        self.seen: dict[int, tuple[int, float]] = {}  # rank -> (last count, when it changed)
        self.unreachable_since: float | None = None
        self._stop = threading.Event()
        self._store = store.clone()  # its own connection: a collective's waits do not hold it up
        self._thread = threading.Thread(target=self._run, name="simple_torch-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._store.add(f"{self.KEY}{self.rank}", 1)
                now = time.monotonic()
                for peer in range(self.world_size):
                    count = self._store.add(f"{self.KEY}{peer}", 0) if peer != self.rank else 0
                    if count and self.seen.get(peer, (None,))[0] != count:  # 0: no heartbeat yet
                        self.seen[peer] = (count, now)
                self.unreachable_since = None
            except SimpleTorchError:
                self.unreachable_since = self.unreachable_since or time.monotonic()
            self._stop.wait(self.period)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5 * self.period + 1)

    def lost(self) -> str:
        """Words naming the ranks whose heartbeat stopped, or "" if none did."""
        now, stale = time.monotonic(), 4 * self.period
        if self.unreachable_since is not None and self.rank != 0:
            return "the store served by rank 0 is unreachable: rank 0 stopped"
        dead = sorted(peer for peer, (_, changed) in self.seen.items() if now - changed > stale)
        if not dead:
            return ""
        words = ", ".join(map(str, dead))
        return f"rank{'s' if len(dead) > 1 else ''} {words} stopped responding (no heartbeat for over {stale:.1f} s)"


# How Gloo, TCPStore and the checker say that a peer is gone (rather than that the arguments
# were wrong): connections closed or reset, timeouts, a monitored barrier that some rank missed.
_PEER_TROUBLE = re.compile(r"connection|closed|reset|timed? ?out|monitoredBarrier|socket|peer|recv|send", re.IGNORECASE)


def _with_diagnosis(error: SimpleTorchError, group: ProcessGroup) -> SimpleTorchError:
    """``error`` from a collective; when it comes from a peer that is gone, a
    :class:`DistError` naming the ranks the job lost and the group's timeout."""
    text = str(error)
    if not isinstance(error, DistError) or "Detected mismatch" in text or not _PEER_TROUBLE.search(text):
        return error
    # Give the heartbeats a moment to show who stopped, when the failure came at once.
    liveness = _world.liveness
    lost = ""
    if liveness is not None:
        deadline = time.monotonic() + 6 * liveness.period
        while not (lost := liveness.lost()) and time.monotonic() < deadline:
            time.sleep(liveness.period / 2)
    detail = f"; {lost}" if lost else ""
    return DistError(f"{error} (group timeout {group._timeout_ms / 1000:g} s{detail})")


# ---- collectives ---------------------------------------------------------------------------------


def _run(group, start, async_op: bool):
    """Starts a collective (``start(group handle)`` returns its work) and waits for it unless
    ``async_op``; a rank outside the group does nothing (as in torch)."""
    if group is GroupMember.NON_GROUP_MEMBER:
        warnings.warn("Running a collective on a group this rank is not in: nothing to do", stacklevel=3)
        return None
    pg = _group(group)
    try:
        work = Work(start(pg._live()), pg)
    except SimpleTorchError as error:  # a checked group checks before it starts: a peer may be gone
        raise _with_diagnosis(error, pg) from None
    if async_op:
        return work
    work.wait()
    return None


def _group_rank(group, global_rank: int | None, group_rank: int | None, what: str) -> int:
    if group is GroupMember.NON_GROUP_MEMBER:
        return -1  # unused: _run does nothing for a rank outside the group
    if group_rank is not None:
        return group_rank
    if global_rank is None:
        raise ValueError(f"{what} is required")
    if group is None or group is GroupMember.WORLD:
        return global_rank
    return get_group_rank(group, global_rank)


def _tensors(tensors) -> ctypes.Array:
    handles = [t._live() for t in tensors]
    return (ctypes.c_void_p * len(handles))(*handles)


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Every rank's ``tensor`` becomes the reduction (``op``) of all ranks' ``tensor``, in place.

    Example:
        >>> t = st.tensor([1.0, 2.0]) * (dist.get_rank() + 1)
        >>> dist.all_reduce(t)                    # on 2 ranks: [3.0, 6.0] everywhere
    """
    return _run(group, lambda g: lib.rt_torch_torchprocessgroup_all_reduce(g, tensor._live(), int(op)), async_op)


def reduce(tensor, dst: int | None = None, op=ReduceOp.SUM, group=None, async_op: bool = False, group_dst: int | None = None):
    """Rank ``dst``'s ``tensor`` becomes the reduction (``op``) of all ranks' ``tensor``.

    Example:
        >>> dist.reduce(t, dst=0)
    """
    root = _group_rank(group, dst, group_dst, "dst")
    return _run(group, lambda g: lib.rt_torch_torchprocessgroup_reduce(g, tensor._live(), root, int(op)), async_op)


def broadcast(tensor, src: int | None = None, group=None, async_op: bool = False, group_src: int | None = None):
    """Every rank's ``tensor`` becomes rank ``src``'s, in place.

    Example:
        >>> dist.broadcast(weights, src=0)
    """
    root = _group_rank(group, src, group_src, "src")
    return _run(group, lambda g: lib.rt_torch_torchprocessgroup_broadcast(g, tensor._live(), root), async_op)


def all_gather(tensor_list, tensor, group=None, async_op: bool = False):
    """``tensor_list[i]`` (one tensor per rank, each shaped as ``tensor``) becomes rank i's ``tensor``.

    Example:
        >>> parts = [st.empty(4) for _ in range(dist.get_world_size())]
        >>> dist.all_gather(parts, t)
    """
    outputs = _tensors(tensor_list)
    return _run(group, lambda g: lib.rt_torch_torchprocessgroup_all_gather(g, outputs, len(outputs), tensor._live()), async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op: bool = False):
    """``output_tensor`` (world size times ``input_tensor``'s rows, concatenated along dim 0)
    becomes every rank's ``input_tensor``, in rank order.

    Example:
        >>> out = st.empty(dist.get_world_size() * 4)
        >>> dist.all_gather_into_tensor(out, t)
    """
    return _run(group, lambda g: lib.rt_torch_torchprocessgroup_all_gather_into_tensor(g, output_tensor._live(), input_tensor._live()), async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """``input`` (world size times ``output``'s elements) is reduced across ranks, and rank i's
    ``output`` gets the i-th part.

    Example:
        >>> part = st.empty(4)
        >>> dist.reduce_scatter_tensor(part, st.ones(4 * dist.get_world_size()))
    """
    return _run(group, lambda g: lib.rt_torch_torchprocessgroup_reduce_scatter_tensor(g, output._live(), input._live(), int(op)), async_op)


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None, async_op: bool = False):
    """Rank i sends part j of ``input`` (along dim 0) to rank j, which puts it in part i of
    ``output``; parts are equal unless split sizes (rows per rank) are given.

    Example:
        >>> dist.all_to_all_single(out, st.arange(4.0) + 4 * dist.get_rank())
    """
    out_splits = list(output_split_sizes or [])
    in_splits = list(input_split_sizes or [])
    out_array, in_array = (ctypes.c_int64 * len(out_splits))(*out_splits), (ctypes.c_int64 * len(in_splits))(*in_splits)
    return _run(group, lambda g: lib.rt_torch_torchprocessgroup_all_to_all_single(
        g, output._live(), input._live(), out_array, len(out_splits), in_array, len(in_splits)), async_op)


def barrier(group=None, async_op: bool = False, device_ids=None):
    """Returns once every rank of the group has reached it.

    Example:
        >>> dist.barrier()
    """
    return _run(group, lambda g: lib.rt_torch_torchprocessgroup_barrier(g), async_op)


def monitored_barrier(group=None, timeout=None, wait_all_ranks: bool = False) -> None:
    """A barrier in which rank 0 names the rank (or with ``wait_all_ranks``, every rank) that did
    not reach it within ``timeout`` (Gloo groups).

    Example:
        >>> dist.monitored_barrier(timeout=datetime.timedelta(seconds=30), wait_all_ranks=True)
    """
    pg = _group(group)
    timeout_ms = -1 if timeout is None else _millis(timeout, default_pg_timeout)
    try:
        lib.rt_torch_torchprocessgroup_monitored_barrier(pg._live(), timeout_ms, wait_all_ranks)
    except SimpleTorchError as error:
        raise _with_diagnosis(error, pg) from None


def isend(tensor, dst: int | None = None, group=None, tag: int = 0, group_dst: int | None = None) -> Work | None:
    """Starts sending ``tensor`` to rank ``dst`` (matched by a ``recv`` there with the same tag).

    Example:
        >>> work = dist.isend(t, dst=1)
        >>> work.wait()
    """
    peer = _group_rank(group, dst, group_dst, "dst")
    return _run(group, lambda g: lib.rt_torch_torchprocessgroup_send(g, tensor._live(), peer, tag), True)


def irecv(tensor, src: int | None = None, group=None, tag: int = 0, group_src: int | None = None) -> Work | None:
    """Starts receiving into ``tensor`` from rank ``src`` (any rank if None).

    Example:
        >>> work = dist.irecv(t, src=0)
        >>> work.wait()
    """
    peer = -1 if src is None and group_src is None else _group_rank(group, src, group_src, "src")
    return _run(group, lambda g: lib.rt_torch_torchprocessgroup_recv(g, tensor._live(), peer, tag), True)


def send(tensor, dst: int | None = None, group=None, tag: int = 0, group_dst: int | None = None) -> None:
    """Sends ``tensor`` to rank ``dst`` and waits until it is sent.

    Example:
        >>> dist.send(t, dst=1)
    """
    work = isend(tensor, dst, group, tag, group_dst)
    if work is not None:  # None: this rank is not in the group
        work.wait()


def recv(tensor, src: int | None = None, group=None, tag: int = 0, group_src: int | None = None) -> int:
    """Receives into ``tensor`` from rank ``src`` (any rank if None); returns the sender's rank
    (-1 on a rank outside ``group``, as torch's).

    Example:
        >>> sender = dist.recv(t)
    """
    work = irecv(tensor, src, group, tag, group_src)
    if work is None:
        return -1
    work.wait()
    return get_global_rank(group, work._source_rank())
