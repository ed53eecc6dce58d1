"""Runs the misuse cases of test_misuse.py through raw ctypes and reports each one as a JSON line.

Usage: python misuse_worker.py START [STOP] [--crash-at N]

The cases are built from the ctypes table (``SIGNATURES``) and the parameter names of the
shipped header, so a new export is covered as soon as it is in both. Each export is called
with valid values only, then with each argument in turn through its other values (NULL, freed,
made-up and wrong-kind handles, bad dims, dtype and device codes, too-small buffers,
out-of-range dims, and valid but unusual tensors), then with random mixes of all of them;
a few hand-written cases pair arguments that only fail together (mismatched shapes), or would
block in a random mix (a store key that never comes, a peer rank that never connects). The
distributed exports get a store, process group or work of their own per case: a FileStore of one
process in a fresh file (under MISUSE_TMPDIR if set), rank 0 of a Gloo group of one on it (its
collectives finish at once) and that group's barrier. The generic
operator entry (rt_torch_op_call) gets whole calls instead, each with one thing wrong inside its
argument array (see "the generic operator entry" below). The parent runs this file in a
subprocess: a crash kills only the worker, and the parent restarts it at the next case.

Output, one JSON object a line, flushed: ``{"ready": n_cases}`` first, then per case
``{"i": index, "problems": [...]}``, and at the end ``{"end": ..., "live_start": a, "live_end": b}``.
With MISUSE_LOG=path set, each case is also appended to that file before it runs (to find a hang).
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import json
import os
import random
import re
import shutil
import sys
import tempfile
from ctypes import c_bool, c_int32, c_int64, c_void_p
from pathlib import Path

import simple_torch
from simple_torch import _dlpack, _native
from simple_torch._native import (
    SIGNATURES,
    VALUE_BOOL,
    VALUE_BOOL_LIST,
    VALUE_COMPLEX,
    VALUE_DEVICE,
    VALUE_GENERATOR,
    VALUE_FLOAT,
    VALUE_FLOAT_LIST,
    VALUE_INT,
    VALUE_INT_LIST,
    VALUE_LAYOUT,
    VALUE_MEMORY_FORMAT,
    VALUE_NONE,
    VALUE_OPTIONAL_TENSOR_LIST,
    VALUE_SCALAR_TYPE,
    VALUE_STR,
    VALUE_TENSOR,
    VALUE_TENSOR_LIST,
)

# --- the library, raw: no errcheck, so each call returns its sentinel as is -------------------

DLL = ctypes.CDLL(simple_torch.get_library())
for _name, (_restype, _argtypes, _failure) in SIGNATURES.items():
    _function = getattr(DLL, _name)
    _function.restype, _function.argtypes = _restype, _argtypes

HAS_KIND = "rt_torch_last_error_kind" in SIGNATURES
HAS_STREAMS = "rt_torch_stream_create" in SIGNATURES
GPUS = DLL.rt_torch_cuda_device_count()
# Events exist only on CUDA; without it, event arguments get only bad handles.
HAS_EVENTS = "rt_torch_event_create" in SIGNATURES and GPUS > 0
# Exports that fail without CUDA whatever their arguments (once their handles are good).
NEEDS_CUDA = {"rt_torch_cuda_empty_cache", "rt_torch_event_create", "rt_torch_torchtensor_pin_memory",
              "rt_torch_cuda_graph_pool_handle"}
# Stores, process groups and works (c10d): a FileStore, a Gloo group of one on it, its barrier.
HAS_DISTRIBUTED = {"rt_torch_store_file", "rt_torch_process_group_gloo", "rt_torch_torchprocessgroup_barrier"} <= set(SIGNATURES)
# Exports with arguments but no bad value to give them: every uint64 is a seed.
NO_BAD_VALUES = {"rt_torch_manual_seed", "rt_torch_set_grad_enabled", "rt_torch_inference_mode_enter", "rt_torch_autocast_nesting"}
# Handle arguments for which NULL means "none" (besides the _free functions' own).
NULLABLE = {("rt_torch_torchtensor_set_grad", "grad")}

# Error kinds (RT_TORCH_ERROR_*).
ARGUMENT, DEVICE, HANDLE, OUT_OF_MEMORY, INTERNAL, INDEX, TYPE, NOT_IMPLEMENTED, DISTRIBUTED = range(1, 10)
LAST_KIND = DISTRIBUTED

# Exports that fail even with their valid values here (once their handles are good and nothing
# else is wrong): (outcome, kind, words). In a group of one, rank 0 has no peer to send to (a send
# to itself fails in Gloo), a barrier's work has no source rank, and NCCL needs a GPU and an NCCL
# build (either may be here).
VALID_FAILS = {
    "rt_torch_torchprocessgroup_send": ("error", None, ()),
    "rt_torch_torchwork_source_rank": ("error", None, ("may only be called on work objects that correspond to a recv",)),
    "rt_torch_process_group_nccl": ("any", None, ()),
}

# The distributed setting: stores whose get and wait give up after STORE_TIMEOUT_MS and that hold
# KEY (a counter, so that add works on it too), groups of one on LOOPBACK.
STORE_TIMEOUT_MS = 100
GROUP_TIMEOUT_MS = 2000
KEY, KEY_VALUE = b"key", b"1"
LOOPBACK = b"127.0.0.1"
NOT_UTF8 = b"\xff\xfe"

# c10 dtype codes of the ABI and their element sizes.
DTYPES = {0: 1, 1: 1, 2: 2, 3: 4, 4: 8, 5: 2, 6: 4, 7: 8, 9: 8, 10: 16, 11: 1, 15: 2}
FLOAT32 = 6

# Made-up handles: small, all ones, the int64 edges, far beyond the counter, and random 64-bit ones.
_RANDOM = random.Random(1234)
BAD_HANDLE_VALUES = [0xDEADBEEF, 1, 2**64 - 1, 2**63 - 1, 2**63, 0x1000 + 2**40] + [
    _RANDOM.getrandbits(64) | 1 << 40 for _ in range(3)
]
LOG = os.environ.get("MISUSE_LOG")
_temp_dir: str | None = None
_paths = itertools.count()


def temp_dir() -> str:
    """MISUSE_TMPDIR (the parent's, removed by it), or a directory of this worker's own."""
    global _temp_dir
    if _temp_dir is None:
        _temp_dir = os.environ.get("MISUSE_TMPDIR") or tempfile.mkdtemp(prefix="misuse-")
        if "MISUSE_TMPDIR" not in os.environ:
            atexit.register(shutil.rmtree, _temp_dir, True)
    return _temp_dir


def fresh_path() -> bytes:
    """A file that does not exist yet (the pid tells restarted workers apart)."""
    return os.path.join(temp_dir(), f"store-{os.getpid()}-{next(_paths)}").encode()


def last_error() -> str | None:
    message = DLL.rt_torch_last_error()
    return None if message is None else message.decode("utf-8", "replace")


def last_kind() -> int | None:
    return DLL.rt_torch_last_error_kind() if HAS_KIND else None


def live() -> int:
    return DLL.rt_torch_live_handles()


def live_exports() -> int:
    return DLL.rt_torch_dlpack_live_exports() if "rt_torch_dlpack_live_exports" in SIGNATURES else 0


# --- the header: parameter names and handle kinds ----------------------------------------------

DECLARATION = re.compile(r"^([A-Za-z_][\w \t]*?[\s*]+)(rt_torch_\w+)\(([^)]*)\);", re.MULTILINE)


class Param:
    def __init__(self, text: str):
        text = " ".join(text.split())
        self.name = re.findall(r"\w+", text)[-1]
        self.type = text[: text.rindex(self.name)].replace("const ", "").strip()
        self.pointer = "*" in self.type
        self.base = self.type.replace("*", "").strip()

    def __repr__(self):
        return f"{self.type} {self.name}"


def handle_kind(ctype: str) -> str | None:
    """'tensor' for TorchTensor, 'processgroup' for TorchProcessGroup: the opaque handle kinds."""
    match = re.fullmatch(r"Torch(\w+)", ctype.replace("*", "").replace("const", "").strip())
    return match.group(1).lower() if match else None


def parse_header() -> dict[str, tuple[str, list[Param]]]:
    text = (Path(simple_torch.get_include()) / "simple_torch.h").read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    declarations = {}
    for result, name, params in DECLARATION.findall(text):
        params = " ".join(params.split())
        declarations[name] = (result.strip(), [] if params in ("", "void") else [Param(p) for p in params.split(",")])
    return declarations


HEADER = parse_header()


def result_kind(name: str) -> str | None:
    """The handle kind a function returns, or None if it returns no handle."""
    result = HEADER.get(name, ("", []))[0]
    return handle_kind(result) if "*" in result else None


def free_function(kind: str) -> str:
    return f"rt_torch_torch{kind}_free"


# --- making live handles --------------------------------------------------------------------


class Arena:
    """Handles one case made, freed after the call unless the call consumed them."""

    def __init__(self):
        self.owned: list[tuple[str, int]] = []
        self.buffers = []
        self.dlpacks: list[tuple[int, bool]] = []  # DLPack tensors made, deleted unless consumed

    def keep(self, buffer):
        self.buffers.append(buffer)
        return buffer

    def tensor(self, dims=(3, 3), dtype=FLOAT32) -> int:
        numel = 1
        for d in dims:
            numel *= d
        data = self.keep((ctypes.c_uint8 * max(1, numel * DTYPES[dtype]))())
        for index in range(len(data)):
            data[index] = (index * 7) % 5  # small values, valid for every dtype (bool included)
        array = self.keep((c_int64 * max(1, len(dims)))(*dims))
        handle = DLL.rt_torch_tensor_from_data(data, array, len(dims), dtype)
        if not handle:
            raise RuntimeError(f"cannot make a tensor {dtype}{list(dims)}: {last_error()}")
        self.owned.append(("tensor", handle))
        return handle

    def stream(self) -> int:
        handle = DLL.rt_torch_stream_create(-1)
        if not handle:
            raise RuntimeError(f"cannot make a CPU stream: {last_error()}")
        self.owned.append(("stream", handle))
        return handle

    def dlpack(self, versioned: bool) -> int:
        managed = DLL.rt_torch_torchtensor_to_dlpack(self.tensor(), versioned)
        if not managed:
            raise RuntimeError(f"cannot export a tensor as DLPack: {last_error()}")
        self.dlpacks.append((managed, versioned))
        return managed

    def event(self) -> int:
        handle = DLL.rt_torch_event_create(False)
        if not handle:
            raise RuntimeError(f"cannot make an event: {last_error()}")
        self.owned.append(("event", handle))
        return handle

    def generator(self) -> int:
        handle = DLL.rt_torch_generator_create(-1)
        if not handle:
            raise RuntimeError(f"cannot make a generator: {last_error()}")
        self.owned.append(("generator", handle))
        return handle

    def store(self, tcp: bool = False) -> int:
        """A FileStore of one process in a fresh file (with `tcp`, a TCPStore served here on a
        port the OS picks: its waits end on time, a FileStore's only on the second), holding KEY,
        whose get and wait give up after STORE_TIMEOUT_MS."""
        if tcp:
            handle = DLL.rt_torch_store_tcp(LOOPBACK, 0, 1, True, STORE_TIMEOUT_MS)
        else:
            handle = DLL.rt_torch_store_file(fresh_path(), 1)
        if not handle:
            raise RuntimeError(f"cannot make a store: {last_error()}")
        self.owned.append(("store", handle))
        if not (DLL.rt_torch_torchstore_set_timeout(handle, STORE_TIMEOUT_MS)
                and DLL.rt_torch_torchstore_set(handle, KEY, KEY_VALUE, len(KEY_VALUE))):
            raise RuntimeError(f"cannot set up a store: {last_error()}")
        return handle

    def processgroup(self, store: int | None = None, timeout_ms: int = GROUP_TIMEOUT_MS) -> int:
        """Rank 0 of a Gloo group of one (its collectives finish at once), on a store of its own."""
        store = store or self.store()
        handle = DLL.rt_torch_process_group_gloo(store, 0, 1, timeout_ms, None, LOOPBACK, b"misuse", False)
        if not handle:
            raise RuntimeError(f"cannot make a process group: {last_error()}")
        self.owned.append(("processgroup", handle))
        return handle

    def work(self, group: int | None = None) -> int:
        """A barrier's work, done or nearly."""
        handle = DLL.rt_torch_torchprocessgroup_barrier(group or self.processgroup())
        if not handle:
            raise RuntimeError(f"cannot make a work: {last_error()}")
        self.owned.append(("work", handle))
        return handle

    def make(self, kind: str) -> int:
        return getattr(self, kind)()

    def freed(self, kind: str) -> int:
        handle = self.make(kind)
        self.owned.remove((kind, handle))
        getattr(DLL, free_function(kind))(handle)
        if last_error() is not None:
            raise RuntimeError(f"cannot free a fresh {kind} handle: {last_error()}")
        return handle

    def release(self, consumed: set[int]) -> list[str]:
        problems = []
        for managed, versioned in self.dlpacks:
            if managed not in consumed:
                _dlpack.delete(managed, versioned)
        for kind, handle in reversed(self.owned):  # works before their groups, groups before their stores
            if handle in consumed:
                continue
            getattr(DLL, free_function(kind))(handle)
            if last_error() is not None:
                problems.append(f"freeing input {kind} handle {handle:#x} afterwards failed: {last_error()}")
        return problems


# The handle kinds, by the names of their C types (TorchProcessGroup: "processgroup").
HANDLE_KINDS = ("tensor", "stream", "event", "generator", "store", "processgroup", "work")


def kind_name(kind: str) -> str:
    """How the library's messages name a kind: "process group" for "processgroup"."""
    return {"processgroup": "process group", "cudagraph": "CUDA graph"}.get(kind, kind)


def article(kind: str) -> str:
    kind = kind_name(kind)
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def makeable(kind: str) -> bool:
    return (kind == "tensor" or (kind == "stream" and HAS_STREAMS) or (kind == "event" and HAS_EVENTS)
            or (kind == "generator" and "rt_torch_generator_create" in SIGNATURES)
            or (kind in ("store", "processgroup", "work") and HAS_DISTRIBUTED))


# --- values for one argument (or a pair of arguments) ---------------------------------------------
#
# A Value makes the ctypes argument(s) in an Arena and says what the call should do with it:
# "ok" (succeed), "any" (succeed or fail with a proper message), or "error" (fail, with an
# error kind and words the message must contain).


class Value:
    def __init__(self, label, make, expect="ok", kind=None, words=(), width=1, first=False):
        self.label, self.make, self.expect, self.kind, self.words, self.width = label, make, expect, kind, tuple(words), width
        # `first`: an error the export reports before checking any handle (rt_torch_op_call checks
        # its counts and its out array before the handles inside its arguments; the store exports
        # their strings before the store), or IN_ORDER: after the handles before it and before
        # those after it (all_gather's output array, between the group and the input).
        self.first = first


IN_ORDER = "in order"


def handle_values(kind: str, function: str, name: str = "") -> list[Value]:
    """A valid handle of `kind` (if one can be made here), and every bad one."""
    values = [Value(kind_name(kind), lambda a: a.make(kind))] if makeable(kind) else []
    if kind == "tensor":
        for dims, dtype, text in [
            ((2, 3), 6, "f32[2,3]"), ((4, 5), 6, "f32[4,5]"), ((), 6, "f32[]"), ((0, 3), 6, "f32[0,3]"),
            ((3, 3), 7, "f64[3,3]"), ((3, 3), 4, "i64[3,3]"), ((3, 3), 0, "u8[3,3]"), ((3,), 11, "bool[3]"),
            ((3, 3), 5, "f16[3,3]"), ((3, 3), 15, "bf16[3,3]"), ((3, 3), 9, "c64[3,3]"), ((1,) * 64, 6, "f32[1]*64"),
        ]:
            values.append(Value(text, lambda a, d=dims, t=dtype: a.tensor(d, t), "any"))
    null_ok = function == free_function(kind) or (function, name) in NULLABLE  # free(NULL) is a no-op
    values.append(Value("NULL", lambda a: None, "ok" if null_ok else "error", HANDLE, () if null_ok else ("is NULL",)))
    if makeable(kind):
        values.append(Value(f"freed {kind_name(kind)}", lambda a: a.freed(kind), "error", HANDLE, ("was already freed",)))
    for bad in BAD_HANDLE_VALUES:
        values.append(Value(f"{bad:#x}", lambda a, b=bad: b, "error", HANDLE, (f"{bad:#x}", "returned by simple_torch")))
    for other in HANDLE_KINDS:
        if other != kind and makeable(other):
            values.append(Value(article(other), lambda a, o=other: a.make(o), "error", HANDLE,
                                (f"is {article(other)} handle, not {article(kind)} handle",)))
            values.append(Value(f"freed {kind_name(other)}", lambda a, o=other: a.freed(o), "error", HANDLE))
    return values


def dims_values(with_data: bool) -> list[Value]:
    """(dims, ndim) or, for from_data, (data, dims, ndim) when `with_data`."""

    def pair(label, dims, ndim, expect="ok", kind=None, words=(), data="fit"):
        numel = 1
        for d in (dims or [])[: max(0, min(ndim, len(dims or [])))]:
            numel *= max(d, 0)
        if with_data and data == "fit" and numel > 2**20:
            # No honest buffer can be that big: the library sees NULL data and must refuse,
            # for the size or for the NULL.
            data, words = None, ()

        def make(arena: Arena):
            array = None if dims is None else arena.keep((c_int64 * max(1, len(dims)))(*dims))
            if not with_data:
                return [array, ndim]
            # Honest: room for that many elements of the widest dtype (complex128, 16 bytes).
            buffer = arena.keep((ctypes.c_uint8 * max(1, 16 * numel))()) if data == "fit" else None
            return [buffer, array, ndim]

        return Value(label, make, expect, kind, words, 3 if with_data else 2)

    values = [
        pair("dims [2,3]", [2, 3], 2),
        pair("NULL dims, ndim 0", None, 0),
        pair("dims [7], ndim 0", [7], 0),
        pair("dims [0,3]", [0, 3], 2),
        pair("dims [1]*64", [1] * 64, 64),
        pair("dims [0,2**62]", [0, 2**62], 2, "any"),
        pair("ndim -1", [2, 3], -1, "error", ARGUMENT, ("ndim must be between 0 and 64, got -1",)),
        pair("ndim -2**63", [2, 3], -(2**63), "error", ARGUMENT, ("ndim must be between",)),
        pair("ndim 65", [1] * 65, 65, "error", ARGUMENT, ("ndim must be between 0 and 64, got 65",)),
        pair("ndim 1000", [1] * 1000, 1000, "error", ARGUMENT, ("got 1000",)),
        pair("NULL dims, ndim 2", None, 2, "error", ARGUMENT, ("dims is NULL",)),
        pair("NULL dims, ndim 65", None, 65, "error", ARGUMENT),
        pair("dims [2,-3]", [2, -3], 2, "error", ARGUMENT, ("negative dimension in shape [2, -3]",)),
        pair("dims [-1]", [-1], 1, "error", ARGUMENT, ("negative dimension",)),
        pair("dims [-2**63]", [-(2**63)], 1, "error", ARGUMENT, ("negative dimension",)),
        pair("dims [2**62,4]", [2**62, 4], 2, "error", ARGUMENT, ("too large to address",)),
        pair("dims [2**63-1]", [2**63 - 1], 1, "error", ARGUMENT, ("too large to address",)),
        pair("dims [2**31]*3", [2**31] * 3, 3, "error", ARGUMENT, ("too large to address",)),
    ]
    if with_data:
        values += [
            pair("NULL data, dims [2,3]", [2, 3], 2, "error", ARGUMENT, ("data is NULL",), data=None),
            pair("NULL data, ndim 0", None, 0, "error", ARGUMENT, ("data is NULL",), data=None),
            pair("NULL data, dims [0,3]", [0, 3], 2, data=None),
            pair("NULL data, dims [2**40]", [2**40], 1, "error", ARGUMENT, ("data is NULL",), data=None),
        ]
    else:  # 2**40 elements (4 TiB of float32): always refused, never allocated
        values += [
            pair("dims [2**40]", [2**40], 1, "error", OUT_OF_MEMORY, ("can't allocate memory",)),
            pair("dims [2**20,2**20]", [2**20, 2**20], 2, "error", OUT_OF_MEMORY, ("can't allocate memory",)),
        ]
    return values


def dtype_values() -> list[Value]:
    values = [Value("dtype float32", lambda a: FLOAT32)]
    values += [Value(f"dtype {code}", lambda a, c=code: c, "any") for code in DTYPES if code != FLOAT32]
    for code in (8, 12, 13, 14, 16, -1, 100, 2**31 - 1, -(2**31)):
        values.append(Value(f"dtype {code}", lambda a, c=code: c, "error", ARGUMENT, (f"unknown dtype code {code}",)))
    return values


def device_values(function: str, gpus: int) -> list[Value]:
    """Device codes: -1 the CPU (refused where a CUDA index is asked for), N cuda:N."""
    values = []
    for code in (-1, 0, 1, 5, 2**31 - 1, -2, -100, -(2**31)):
        if code == -1:
            cpu_refused = function == "rt_torch_torchtensor_cuda" or function.startswith("rt_torch_cuda_")
            values.append(Value("device -1", lambda a: -1, "error" if cpu_refused else "ok", ARGUMENT,
                                ("invalid CUDA device index -1",) if cpu_refused else ()))
        elif code < -1:
            values.append(Value(f"device {code}", lambda a, c=code: c, "error", ARGUMENT, (str(code),)))
        elif code < gpus:
            values.append(Value(f"device {code}", lambda a, c=code: c, "any"))
        else:
            words = ("CUDA is not available",) if gpus == 0 else (f"cannot use cuda:{code}",)
            values.append(Value(f"device {code}", lambda a, c=code: c, "error", DEVICE, words))
    return values


def buffer_values(element: type, count_name: str) -> list[Value]:
    """(out, cap) of int64 elements for shape, (out, nbytes) of bytes for copy_to: always honest.
    The valid handle is a float32[3, 3] tensor: 2 sizes, 36 bytes."""
    need = 2 if element is c_int64 else 36

    def out(label, room, count, expect="ok", words=()):
        def make(arena: Arena):
            return [None if room is None else arena.keep((element * max(1, room))()), count]

        return Value(label, make, expect, ARGUMENT, words, 2)

    values = [
        out(f"{count_name} {need}", need, need),
        out(f"{count_name} 4096", 4096, 4096),
        out(f"{count_name} {need - 1}", need - 1, need - 1, "ok" if element is c_int64 else "error",
            () if element is c_int64 else ("too small",)),
        out(f"{count_name} 0, real buffer", 8, 0, "ok" if element is c_int64 else "error"),
        out(f"NULL out, {count_name} 0", None, 0, "ok" if element is c_int64 else "error"),
        out(f"NULL out, {count_name} {need}", None, need, "error", ("NULL",)),
        out(f"{count_name} -1", 8, -1, "error"),
        out(f"{count_name} -2**63", 8, -(2**63), "error"),
        out(f"NULL out, {count_name} -1", None, -1, "error"),
    ]
    return values


def dim_values() -> list[Value]:
    """A dim index into the valid float32[3, 3] tensor."""
    values = [Value(f"dim {d}", lambda a, d=d: d) for d in (0, 1, -1, -2)]
    for d in (2, -3, 64, 2**63 - 1, -(2**63)):
        values.append(Value(f"dim {d}", lambda a, d=d: d, "error", ARGUMENT, ("Dimension out of range",)))
    return values


def reshape_values() -> list[Value]:
    """(dims, ndim) for reshaping the valid float32[3, 3] tensor."""

    def shape(label, dims, ndim=None, expect="ok", words=()):
        ndim = len(dims or []) if ndim is None else ndim

        def make(arena: Arena):
            return [None if dims is None else arena.keep((c_int64 * max(1, len(dims)))(*dims)), ndim]

        return Value(label, make, expect, ARGUMENT, words, 2)

    return [
        shape("dims [9]", [9]),
        shape("dims [3,-1]", [3, -1]),
        shape("dims [1,9,1]", [1, 9, 1]),
        shape("dims [2,3]", [2, 3], expect="error", words=("cannot reshape float32[3, 3] on cpu to [2, 3]", "invalid for input of size 9")),
        shape("NULL dims, ndim 0", None, 0, "error", ("invalid for input of size 9",)),
        shape("dims [-1,-1]", [-1, -1], expect="error", words=("only one dimension can be inferred",)),
        shape("dims [-2,9]", [-2, 9], expect="error", words=("invalid shape dimension -2",)),
        shape("dims [2**62,4]", [2**62, 4], expect="error"),
        shape("ndim -1", [9], -1, "error", ("ndim must be between 0 and 64, got -1",)),
        shape("ndim 65", [1] * 65, 65, "error", ("ndim must be between 0 and 64, got 65",)),
        shape("NULL dims, ndim 2", None, 2, "error", ("dims is NULL",)),
    ]


def dlpack_values() -> list[Value]:
    """(managed, versioned): DLPack tensors of each kind, and NULL. A pointer that is not a
    DLPack tensor of the kind `versioned` names cannot be detected: it is not tried."""
    values = []
    for versioned in (False, True):
        kind = "versioned" if versioned else "legacy"
        values.append(Value(f"DLPack {kind}", lambda a, v=versioned: [a.dlpack(v), v], width=2))
        values.append(Value(f"NULL, {kind}", lambda a, v=versioned: [None, v], "error", ARGUMENT, ("managed is NULL",), 2))
    return values


# --- the generic operator entry: rt_torch_op_find, rt_torch_op_schema, rt_torch_op_call --------
#
# rt_torch_op_call's misuse lives inside its argument array of tagged values (RtTorchValue,
# _native.Value). So its (op, args, n_args) slot is a list of whole calls, each to a chosen
# operator with one thing wrong, whose error is known; its (out, out_cap) slot is the other one.
# Not tried, because no library can detect them: n_args larger than the array really holds, a
# list whose len is larger than its buffer, or a name, string or list pointer that is neither
# NULL nor valid (each reads past the caller's memory, as the header's Safety section says).

OpValue = _native.Value
# The tags (RT_TORCH_VALUE_*) by number: "NONE", "BOOL", ...
TAG_NAMES = {getattr(_native, name): name.removeprefix("VALUE_") for name in dir(_native) if name.startswith("VALUE_")}
UNKNOWN_TAGS = (17, 255, -1, 2**31 - 1)
NUMBER_TAGS = (VALUE_BOOL, VALUE_INT, VALUE_FLOAT, VALUE_COMPLEX)
INT64, FLOAT64 = 4, 7
UNWRITTEN = -12345  # the tag of every out slot before a call: a slot still holding it was not written
_op_ids: dict[tuple[str, str], int] = {}


def op_id(name: str, overload: str = "") -> int:
    """The id of an operator that exists (found once: ids are stable)."""
    if (name, overload) not in _op_ids:
        found = DLL.rt_torch_op_find(name.encode(), overload.encode())
        if found < 0:
            raise RuntimeError(f"no operator {name}.{overload}: {last_error()}")
        _op_ids[name, overload] = found
    return _op_ids[name, overload]


# Makers of one argument (arena -> OpValue). What a value points to is kept by the arena.

def plain(tag, **fields):
    return lambda arena: OpValue(tag=tag, **fields)


def tensor(dims=(3, 3), dtype=FLOAT32):
    return lambda arena: OpValue(tag=VALUE_TENSOR, ptr=arena.tensor(dims, dtype))


def exact_tensor(values, dtype=FLOAT32):
    """A 1-d tensor holding exactly `values` (Arena.tensor's filler makes no valid indices)."""
    ctype = {FLOAT32: ctypes.c_float, INT64: c_int64}[dtype]

    def make(arena: Arena) -> OpValue:
        data = arena.keep((ctype * len(values))(*values))
        handle = DLL.rt_torch_tensor_from_data(data, arena.keep((c_int64 * 1)(len(values))), 1, dtype)
        if not handle:
            raise RuntimeError(f"cannot make a tensor of {values}: {last_error()}")
        arena.owned.append(("tensor", handle))
        return OpValue(tag=VALUE_TENSOR, ptr=handle)

    return make


def handle(make_handle):
    """A TENSOR value holding whatever handle `make_handle(arena)` gives (a bad one, say)."""
    return lambda arena: OpValue(tag=VALUE_TENSOR, ptr=make_handle(arena))


def text(tag, data: bytes | None):
    """STR (or another tag) pointing at a NUL-terminated copy of `data`, or NULL."""
    def make(arena: Arena) -> OpValue:
        pointer = None if data is None else ctypes.addressof(arena.keep(ctypes.create_string_buffer(data)))
        return OpValue(tag=tag, ptr=pointer)

    return make


def items(tag, ctype, values, length=None):
    """A list value over a real array of `values`; `length` (default: theirs) is what it claims."""
    def make(arena: Arena) -> OpValue:
        array = arena.keep((ctype * max(1, len(values)))(*values))
        return OpValue(tag=tag, ptr=ctypes.addressof(array), len=len(values) if length is None else length)

    return make


def null_list(tag, length):
    return lambda arena: OpValue(tag=tag, ptr=None, len=length)


def handles(tag, makers):
    """TENSOR_LIST or OPTIONAL_TENSOR_LIST of the handles the makers give (arena -> handle or None)."""
    def make(arena: Arena) -> OpValue:
        array = arena.keep((c_void_p * max(1, len(makers)))(*[m(arena) for m in makers]))
        return OpValue(tag=tag, ptr=ctypes.addressof(array), len=len(makers))

    return make


def a_tensor(dims=(3, 3)):
    return lambda arena: arena.tensor(dims)


def named(name: bytes | None, make):
    """The same value as a keyword argument called `name`."""
    def make_named(arena: Arena) -> OpValue:
        value = make(arena)
        value.name = None if name is None else ctypes.addressof(arena.keep(ctypes.create_string_buffer(name)))
        return value

    return make_named


def sample(tag):
    """A well-formed value of `tag`, so that only its tag can be wrong where it goes."""
    return {
        VALUE_NONE: plain(VALUE_NONE),
        VALUE_BOOL: plain(VALUE_BOOL, int_value=1),
        VALUE_INT: plain(VALUE_INT, int_value=1),
        VALUE_FLOAT: plain(VALUE_FLOAT, real=0.5),
        VALUE_COMPLEX: plain(VALUE_COMPLEX, real=0.5, imag=1.0),
        VALUE_STR: text(VALUE_STR, b"floor"),
        VALUE_TENSOR: tensor(),
        VALUE_INT_LIST: items(VALUE_INT_LIST, c_int64, [1]),
        VALUE_FLOAT_LIST: items(VALUE_FLOAT_LIST, ctypes.c_double, [2.0, 2.0]),
        VALUE_BOOL_LIST: items(VALUE_BOOL_LIST, ctypes.c_uint8, [1, 1, 1]),
        VALUE_TENSOR_LIST: handles(VALUE_TENSOR_LIST, [a_tensor()]),
        VALUE_OPTIONAL_TENSOR_LIST: handles(VALUE_OPTIONAL_TENSOR_LIST, [lambda a: None, a_tensor()]),
        VALUE_SCALAR_TYPE: plain(VALUE_SCALAR_TYPE, int_value=FLOAT32),
        VALUE_LAYOUT: plain(VALUE_LAYOUT, int_value=0),
        VALUE_MEMORY_FORMAT: plain(VALUE_MEMORY_FORMAT, int_value=0),
        VALUE_DEVICE: plain(VALUE_DEVICE, int_value=-1),
        VALUE_GENERATOR: lambda arena: OpValue(tag=VALUE_GENERATOR, ptr=arena.generator()),
    }.get(tag, plain(tag, int_value=1))  # an unknown tag


def tag_label(tag: int) -> str:
    return TAG_NAMES.get(tag, f"tag {tag}")


def op_call(label, op, args, expect="ok", kind=None, words=(), n_args=None, null_args=False, first=False):
    """A value of the (op, args, n_args) slot: operator `op` (("aten::mm", "") or a raw id, or a
    function of the arena giving one) called with the values `args` make."""
    def make(arena: Arena):
        values = [make_arg(arena) for make_arg in args]
        array = None if null_args else arena.keep((OpValue * max(1, len(values)))(*values))
        op_number = op_id(*op) if isinstance(op, tuple) else op(arena) if callable(op) else op
        return [op_number, array, len(values) if n_args is None else n_args]

    return Value(label, make, expect, kind, words, 3, first)


class Site:
    """One argument of one operator call, whose value is varied through every tag: `accepted`
    are the tags its schema type takes (others fail with `refused`, TYPE unless the type itself
    cannot be passed yet), `keyword` its name when it is passed by keyword."""

    def __init__(self, type_, op, args, index, accepted, keyword=None, refused=None):
        self.type, self.op, self.args, self.index, self.accepted = type_, op, args, index, set(accepted)
        self.keyword, self.refused = keyword, refused or TYPE

    def call(self, label, value, expect="ok", kind=None, words=()):
        args = list(self.args)
        args[self.index] = value if self.keyword is None else named(self.keyword, value)
        return op_call(f"{self.op[0]}.{self.op[1] or 'default'}: {self.type} {label}", self.op, args, expect, kind, words)


def sites() -> list[Site]:
    """An argument of each schema type the entry passes (and one it cannot), in a call that works."""
    x, image, kernel = tensor(), tensor((1, 1, 4, 4)), tensor((1, 1, 3, 3))
    ints = lambda *v: items(VALUE_INT_LIST, c_int64, v)  # noqa: E731
    cat, select, dropout = ("aten::cat", ""), ("aten::select", "int"), ("aten::dropout", "")
    select_args = [x, plain(VALUE_INT, int_value=0), plain(VALUE_INT, int_value=1)]
    dropout_args = [x, plain(VALUE_FLOAT, real=0.5), plain(VALUE_BOOL, int_value=0)]  # train=False: x itself
    conv2d_backward = [tensor((1, 1, 2, 2)), image, kernel, ints(1), ints(1, 1), ints(0, 0), ints(1, 1),
                       plain(VALUE_BOOL, int_value=0), ints(0, 0), plain(VALUE_INT, int_value=1),
                       items(VALUE_BOOL_LIST, ctypes.c_uint8, [1, 1, 1])]
    return [
        # A number fits a Tensor as a wrapped number (libtorch may then refuse its shape: "any").
        Site("Tensor", ("aten::mm", ""), [x, x], 1, {VALUE_TENSOR, *NUMBER_TAGS}),
        Site("Tensor?", ("aten::conv2d", ""), [image, kernel, tensor((1,))], 2, {VALUE_TENSOR, VALUE_NONE, *NUMBER_TAGS}),
        Site("int", select, select_args, 1, {VALUE_INT}),
        Site("SymInt", select, select_args, 2, {VALUE_INT}),
        Site("float", dropout, dropout_args, 1, {VALUE_FLOAT, VALUE_INT}),
        Site("bool", dropout, dropout_args, 2, {VALUE_BOOL}),
        Site("Scalar", ("aten::add", "Tensor"), [x, x, plain(VALUE_FLOAT, real=2.0)], 2,
             {VALUE_BOOL, VALUE_INT, VALUE_FLOAT, VALUE_COMPLEX}, b"alpha"),
        Site("str?", ("aten::div", "Tensor_mode"), [x, x, text(VALUE_STR, b"floor")], 2, {VALUE_STR, VALUE_NONE},
             b"rounding_mode"),
        Site("ScalarType?", ("aten::sum", ""), [x, plain(VALUE_SCALAR_TYPE, int_value=FLOAT64)], 1,
             {VALUE_SCALAR_TYPE, VALUE_NONE}, b"dtype"),
        Site("Layout?", ("aten::zeros", ""), [ints(2, 3), plain(VALUE_LAYOUT, int_value=0)], 1, {VALUE_LAYOUT, VALUE_NONE},
             b"layout"),
        Site("Device?", ("aten::zeros", ""), [ints(2, 3), plain(VALUE_DEVICE, int_value=-1)], 1, {VALUE_DEVICE, VALUE_NONE},
             b"device"),
        Site("MemoryFormat", ("aten::contiguous", ""), [x, plain(VALUE_MEMORY_FORMAT, int_value=0)], 1,
             {VALUE_MEMORY_FORMAT}, b"memory_format"),
        Site("SymInt[]", ("aten::zeros", ""), [ints(2, 3)], 0, {VALUE_INT_LIST}),
        Site("int[1]?", ("aten::sum", "dim_IntList"), [x, ints(1)], 1, {VALUE_INT_LIST, VALUE_INT, VALUE_NONE}),
        Site("SymInt[2]", ("aten::conv2d", ""), [image, kernel, plain(VALUE_NONE), ints(1, 1)], 3,
             {VALUE_INT_LIST, VALUE_INT}),
        Site("float[]?", ("aten::upsample_bilinear2d", "vec"),
             [image, plain(VALUE_NONE), plain(VALUE_BOOL, int_value=0), items(VALUE_FLOAT_LIST, ctypes.c_double, [2.0, 2.0])],
             3, {VALUE_FLOAT_LIST, VALUE_NONE}),
        Site("bool[3]", ("aten::convolution_backward", ""), conv2d_backward, 10, {VALUE_BOOL_LIST}),
        Site("Scalar[]", ("aten::_foreach_add", "ScalarList"),
             [handles(VALUE_TENSOR_LIST, [a_tensor()]), items(VALUE_FLOAT_LIST, ctypes.c_double, [1.0])], 1,
             {VALUE_INT_LIST, VALUE_FLOAT_LIST}),
        Site("Tensor[]", cat, [handles(VALUE_TENSOR_LIST, [a_tensor(), a_tensor()])], 0, {VALUE_TENSOR_LIST}),
        Site("Tensor?[]", ("aten::index", "Tensor"),
             [x, handles(VALUE_OPTIONAL_TENSOR_LIST, [lambda a: None, lambda a: exact_tensor([2, 0], INT64)(a).ptr])], 1,
             {VALUE_OPTIONAL_TENSOR_LIST, VALUE_TENSOR_LIST}),
        Site("Generator?", ("aten::bernoulli", ""), [exact_tensor([0.5, 0.5]), plain(VALUE_NONE)], 1,
             {VALUE_GENERATOR, VALUE_NONE}, b"generator"),

    ]


def bad_handles() -> list[tuple[str, object, tuple[str, ...]]]:
    """(label, arena -> handle, words): the handles that must be refused wherever a tensor goes."""
    bad = [("NULL", lambda a: None, ("the tensor handle is NULL",)),
           ("freed tensor", lambda a: a.freed("tensor"), ("was already freed",))]
    bad += [(f"{v:#x}", lambda a, v=v: v, (f"{v:#x} is not a tensor handle",)) for v in BAD_HANDLE_VALUES]
    if HAS_STREAMS:
        bad.append(("a stream", lambda a: a.make("stream"), ("is a stream handle, not a tensor handle",)))
    if HAS_DISTRIBUTED:
        bad.append(("a store", lambda a: a.make("store"), ("is a store handle, not a tensor handle",)))
    return bad


def op_call_values(gpus: int) -> list[Value]:
    """(op, args, n_args): whole calls, the first a valid one."""
    x = tensor()
    mm, add, zeros = ("aten::mm", ""), ("aten::add", "Tensor"), ("aten::zeros", "")
    ints = lambda *v: items(VALUE_INT_LIST, c_int64, v)  # noqa: E731
    values = [op_call("aten::mm(f32[3,3], f32[3,3])", mm, [x, x])]

    # Every tag at every kind of argument: a wrong one is refused by name, a right one may work.
    for site in sites():
        values.append(site.call("valid", site.args[site.index]))
        for tag in [*TAG_NAMES, *UNKNOWN_TAGS]:
            if tag in site.accepted:
                values.append(site.call(f"as {tag_label(tag)}", sample(tag), "any"))
            elif site.refused == TYPE:
                argument = site.keyword.decode() if site.keyword else None
                words = (f"argument '{argument}' must be",) if argument else ("must be", "not ")
                values.append(site.call(f"as {tag_label(tag)}", sample(tag), "error", TYPE, words))
            else:
                values.append(site.call(f"as {tag_label(tag)}", sample(tag), "error", site.refused, ("cannot pass yet",)))

    # Bad handles as a Tensor, in Tensor lists, and where no tensor goes at all (the handle is
    # checked before the tag).
    cat, index, mine = ("aten::cat", ""), ("aten::index", "Tensor"), a_tensor()
    indices = lambda a: exact_tensor([2, 0], INT64)(a).ptr  # noqa: E731
    for label, bad, words in bad_handles():
        values.append(op_call(f"mm(f32[3,3], {label})", mm, [x, handle(bad)], "error", HANDLE, words))
        values.append(op_call(f"conv2d bias {label}", ("aten::conv2d", ""), [tensor((1, 1, 4, 4)), tensor((1, 1, 3, 3)),
                                                                             handle(bad)], "error", HANDLE, words))
        values.append(op_call(f"cat([t, {label}])", cat, [handles(VALUE_TENSOR_LIST, [mine, bad])], "error", HANDLE,
                              ("element 1: ", *words)))
        values.append(op_call(f"select(t, dim={label} as a TENSOR)", ("aten::select", "int"),
                              [x, handle(bad), plain(VALUE_INT, int_value=0)], "error", HANDLE, words))
        if label == "NULL":  # None in a Tensor?[]: t[[2, 0], :]
            values.append(op_call("index(t, [[2, 0], NULL]) (Tensor?[]: NULL is None)", index,
                                  [x, handles(VALUE_OPTIONAL_TENSOR_LIST, [indices, bad])]))
        else:
            values.append(op_call(f"index(t, [None, {label}])", index,
                                  [x, handles(VALUE_OPTIONAL_TENSOR_LIST, [lambda a: None, bad])], "error", HANDLE, words))

    # List lengths and pointers, at an argument of each list tag: refused before anything is read.
    list_sites = [
        ("int list", ("aten::sum", "dim_IntList"), [x], VALUE_INT_LIST, c_int64),
        ("float list", ("aten::upsample_bilinear2d", "vec"), [tensor((1, 1, 2, 2)), plain(VALUE_NONE), plain(VALUE_BOOL)],
         VALUE_FLOAT_LIST, ctypes.c_double),
        ("Tensor list", cat, [], VALUE_TENSOR_LIST, c_void_p),
        ("Tensor? list", index, [x], VALUE_OPTIONAL_TENSOR_LIST, c_void_p),
        ("bool list (as an int[] too)", ("aten::sum", "dim_IntList"), [x], VALUE_BOOL_LIST, ctypes.c_uint8),
    ]
    for what, op, before, tag, ctype in list_sites:
        for length in (-1, -(2**63), 2**24 + 1, 2**62, 2**63 - 1):
            values.append(op_call(f"{op[0]}: {what} of length {length}", op, [*before, items(tag, ctype, [], length)],
                                  "error", ARGUMENT, (f"a list of length {length}",)))
        for length in (1, 2**24):
            values.append(op_call(f"{op[0]}: NULL {what} of length {length}", op, [*before, null_list(tag, length)],
                                  "error", ARGUMENT, (f"the list is NULL but its length is {length}",)))
        values.append(op_call(f"{op[0]}: NULL {what} of length 0", op, [*before, null_list(tag, 0)], "any"))

    # Strings: NULL is refused by the library, odd ones by libtorch.
    div = ("aten::div", "Tensor_mode")
    for label, data, expect, kind, words in [
        ("NULL", None, "error", ARGUMENT, ("argument 'rounding_mode': the string is NULL",)),
        ("''", b"", "error", ARGUMENT, ("rounding_mode",)),
        ("non-UTF-8", b"\xff\xfe", "error", ARGUMENT, ("rounding_mode",)),
        ("of 100000 chars", b"f" * 100_000, "error", ARGUMENT, ("rounding_mode",)),
        ("'trunc'", b"trunc", "ok", None, ()),
    ]:
        values.append(op_call(f"div(t, t, rounding_mode={label})", div,
                              [x, x, named(b"rounding_mode", text(VALUE_STR, data))], expect, kind, words))

    # Keyword names.
    for label, name, words in [
        ("''", b"", ("has no argument named ''",)),
        ("non-UTF-8", b"\xff\xfe", ("has no argument named",)),
        ("of 10000 chars", b"a" * 10_000, ("has no argument named",)),
        ("'other' again", b"other", ("got two values for argument 'other'",)),
        ("'beta'", b"beta", ("has no argument named 'beta'",)),
    ]:
        values.append(op_call(f"add(t, t, {label}=1)", add, [x, x, named(name, plain(VALUE_INT, int_value=1))], "error",
                              TYPE, words))
    values += [
        op_call("add(t, t, alpha=1, alpha=2)", add, [x, x, named(b"alpha", plain(VALUE_INT, int_value=1)),
                                                     named(b"alpha", plain(VALUE_INT, int_value=2))],
                "error", TYPE, ("got two values for argument 'alpha'",)),
        op_call("add(self=t, t) (positional after keyword)", add, [named(b"self", x), x], "error", TYPE,
                ("positional argument 1 follows a keyword argument",)),
        op_call("add(alpha=2, other=t, self=t) (all by keyword, any order)", add,
                [named(b"alpha", plain(VALUE_INT, int_value=2)), named(b"other", x), named(b"self", x)]),
    ]

    # Counts and ids.
    two = [x, x]
    for n in (-1, -(2**63), 1025, 2**63 - 1):
        values.append(op_call(f"mm with n_args {n}", mm, two, "error", ARGUMENT, (f"n_args is {n}",), n_args=n,
                              first=True))
    values += [
        op_call("mm with n_args 0", mm, two, "error", TYPE, ("missing argument 'self'",), n_args=0),
        op_call("mm with n_args 1", mm, two, "error", TYPE, ("missing argument 'mat2'",), n_args=1),
        op_call("mm with 1024 positional Nones", mm, [plain(VALUE_NONE)] * 1024, "error", TYPE,
                ("takes 2 positional arguments but 1024 were given",)),
        op_call("add(t, t, alpha=1 x 1022)", add, two + [named(b"alpha", plain(VALUE_INT, int_value=1))] * 1022, "error", TYPE,
                ("got two values for argument 'alpha'",)),
        op_call("mm with NULL args, n_args 2", mm, two, "error", ARGUMENT, ("args is NULL but n_args is 2",),
                null_args=True, first=True),
        op_call("mm with NULL args, n_args 0", mm, [], "error", TYPE, ("missing argument 'self'",), null_args=True),
        op_call("NULL args, n_args 0, for an operator without arguments", ("aten::is_vulkan_available", ""), [],
                null_args=True),
    ]
    count = lambda arena: DLL.rt_torch_op_count()  # noqa: E731
    for label, op in [("-1", -1), ("-2**63", -(2**63)), ("2**63-1", 2**63 - 1), ("count", count)]:
        values.append(op_call(f"op {label}", op, two, "error", ARGUMENT, ("is not an operator id",)))
    values.append(op_call("op -1 with a freed handle (handles first)", -1, [x, handle(lambda a: a.freed("tensor"))],
                          "error", HANDLE, ("was already freed",)))

    # Sizes no allocation can meet, and views beyond their storage: refused, never attempted.
    oom, overflow = ("error", OUT_OF_MEMORY, ("can't allocate memory",)), ("error", ARGUMENT, ("overflowed",))
    values += [
        op_call("zeros([2**40])", zeros, [ints(2**40)], *oom),
        op_call("zeros([2**20, 2**20])", zeros, [ints(2**20, 2**20)], *oom),
        op_call("zeros([2**40], dtype=float64)", zeros,
                [ints(2**40), named(b"dtype", plain(VALUE_SCALAR_TYPE, int_value=FLOAT64))], *oom),
        op_call("empty([2**40])", ("aten::empty", "memory_format"), [ints(2**40)], *oom),
        op_call("full([2**40], 1.5)", ("aten::full", ""), [ints(2**40), plain(VALUE_FLOAT, real=1.5)], *oom),
        op_call("arange(2**40)", ("aten::arange", ""), [plain(VALUE_INT, int_value=2**40)], *oom),
        op_call("zeros([2**62, 4])", zeros, [ints(2**62, 4)], *overflow),
        op_call("zeros([2**63-1])", zeros, [ints(2**63 - 1)], *overflow),
        op_call("zeros([2**31]*3)", zeros, [ints(2**31, 2**31, 2**31)], *overflow),
        op_call("arange(2**62)", ("aten::arange", ""), [plain(VALUE_INT, int_value=2**62)], *overflow),
        op_call("repeat(t, [2**30, 2**30])", ("aten::repeat", ""), [x, ints(2**30, 2**30)], *overflow),
        op_call("zeros([-1])", zeros, [ints(-1)], "error", ARGUMENT, ("non-negative",)),
        op_call("as_strided(t, [2**40], [1])", ("aten::as_strided", ""), [x, ints(2**40), ints(1)], "error", ARGUMENT,
                ("out of bounds for storage",)),
        op_call("as_strided(t, [3], [1], 2**40)", ("aten::as_strided", ""),
                [x, ints(3), ints(1), plain(VALUE_INT, int_value=2**40)], "error", ARGUMENT, ("out of bounds for storage",)),
        op_call("as_strided(t, [3], [-1])", ("aten::as_strided", ""), [x, ints(3), ints(-1)], "error", ARGUMENT,
                ("Negative strides",)),
        op_call("select(t, 0, 2**62)", ("aten::select", "int"),
                [x, plain(VALUE_INT, int_value=0), plain(VALUE_INT, int_value=2**62)], "error", INDEX, ("out of range",)),
        # "Unsafe" operators skip checks on CUDA, but on the CPU they still refuse wild indices.
        op_call("_unsafe_index(t, [[2**40]])", ("aten::_unsafe_index", "Tensor"),
                [x, handles(VALUE_OPTIONAL_TENSOR_LIST, [lambda a: exact_tensor([2**40], INT64)(a).ptr])], "error", INDEX,
                ("out of bounds",)),
        op_call("_index_put_impl_(t, [[2**40]], v, unsafe=True)", ("aten::_index_put_impl_", ""),
                [x, handles(VALUE_OPTIONAL_TENSOR_LIST, [lambda a: exact_tensor([2**40], INT64)(a).ptr]), tensor((1, 3)),
                 plain(VALUE_BOOL, int_value=0), plain(VALUE_BOOL, int_value=1)], "error", INDEX, ("out of bounds",)),
    ]

    # Codes: every c10 dtype and layout code makes a tensor or fails cleanly; past them, refused.
    # libtorch 2.11 has ScalarTypes 0..45 (the ABI's dtypes, quantized, bits, float8, ...) and
    # Undefined = 46.
    for code in range(46):
        values.append(op_call(f"zeros([2, 3], dtype={code})", zeros,
                              [ints(2, 3), named(b"dtype", plain(VALUE_SCALAR_TYPE, int_value=code))], "any"))
    for code in (46, 47, 100, -1, 2**31, 2**63 - 1, -(2**63)):
        values.append(op_call(f"zeros([2, 3], dtype={code})", zeros,
                              [ints(2, 3), named(b"dtype", plain(VALUE_SCALAR_TYPE, int_value=code))], "error", TYPE,
                              (f"unknown dtype code {code}",)))
    for code in (*range(8), 8, -1, 2**63 - 1):
        refused = code not in range(8)
        values.append(op_call(f"zeros([2, 3], layout={code})", zeros,
                              [ints(2, 3), named(b"layout", plain(VALUE_LAYOUT, int_value=code))],
                              "error" if refused else "any", TYPE if refused else None,
                              (f"unknown layout code {code}",) if refused else ()))
    for code in (*range(4), 4, -1, 2**63 - 1):
        refused = code not in range(4)
        for op, args in [(("aten::contiguous", ""), [tensor((1, 2, 3, 4))]),
                         (("aten::empty", "memory_format"), [ints(1, 2, 3, 4)])]:
            values.append(op_call(f"{op[0]}(memory_format={code})", op,
                                  [*args, named(b"memory_format", plain(VALUE_MEMORY_FORMAT, int_value=code))],
                                  "error" if refused else "any", TYPE if refused else None,
                                  (f"unknown memory format code {code}",) if refused else ()))
    for code in (-1, 0, 1, 5, 127, 128, -2, -129, 2**63 - 1):
        value = [ints(2, 3), named(b"device", plain(VALUE_DEVICE, int_value=code))]
        if code == -1:
            values.append(op_call("zeros(device=-1)", zeros, value))
        elif 0 <= code < gpus:
            values.append(op_call(f"zeros(device={code})", zeros, value, "any"))
        elif 0 <= code <= 127:  # a GPU this machine lacks
            values.append(op_call(f"zeros(device={code})", zeros, value, "error", DEVICE if gpus == 0 else None))
        else:
            values.append(op_call(f"zeros(device={code})", zeros, value, "error", TYPE,
                                  (f"unknown device code {code}",)))

    # Types the entry cannot pass yet, given anything but None.
    values += [
        op_call("sum(t, dim=['x']) (a Dimname list)", ("aten::sum", "dim_DimnameList"), [x, text(VALUE_STR, b"x")],
                "error", NOT_IMPLEMENTED, ("cannot pass yet",)),
        op_call("zeros([2], names=[...]) (str[]?)", ("aten::zeros", "names"),
                [ints(2), named(b"names", items(VALUE_INT_LIST, c_int64, [1]))], "error", NOT_IMPLEMENTED,
                ("cannot pass yet",)),
    ]
    return values


def op_out_values() -> list[Value]:
    """(out, out_cap): honest arrays of results, pre-marked to see what the call wrote."""
    def out(label, room, cap, expect="ok", words=(), first=False):
        def make(arena: Arena):
            if room is None:
                return [None, cap]
            array = arena.keep((OpValue * room)())
            for slot in array:
                slot.tag = UNWRITTEN
            return [array, cap]

        return Value(label, make, expect, ARGUMENT, words, 2, first)

    return [
        out("out of 4", 4, 4),
        out("out of 1", 1, 1, "any"),  # enough for one result
        out("out of 4, out_cap 0", 4, 0, "any"),  # enough for operators returning nothing
        out("NULL out, out_cap 0", None, 0, "any"),
        # More than the 8 it holds: the library allocates nothing that big and writes only the results.
        out("out of 8, out_cap 2**63-1", 8, 2**63 - 1, "any"),
        out("NULL out, out_cap 4", None, 4, "error", ("out is NULL with out_cap 4",), True),
        out("out_cap -1", 4, -1, "error", ("out_cap -1",), True),
        out("out_cap -2**63", 4, -(2**63), "error", ("out_cap -9223372036854775808",), True),
        out("NULL out, out_cap -1", None, -1, "error", ("out_cap -1",), True),
    ]


def op_id_values() -> list[Value]:
    """An operator id for rt_torch_op_schema."""
    count = lambda arena: DLL.rt_torch_op_count()  # noqa: E731
    values = [Value("op aten::add.Tensor", lambda a: op_id("aten::add", "Tensor")), Value("op 0", lambda a: 0),
              Value("op count - 1", lambda a: count(a) - 1)]
    values.append(Value("op count", count, "error", ARGUMENT, ("is not an operator id",)))
    for bad in (-1, -(2**63), 2**63 - 1, 2**32):
        values.append(Value(f"op {bad}", lambda a, b=bad: b, "error", ARGUMENT, (f"{bad} is not an operator id",)))
    return values


def op_name_values() -> list[Value]:
    """(name, overload) for rt_torch_op_find."""
    def find(label, name, overload, expect="ok", words=()):
        return Value(label, lambda a: [name, overload], expect, ARGUMENT, words, 2)

    return [
        find("aten::add, Tensor", b"aten::add", b"Tensor"),
        find("aten::mm, NULL", b"aten::mm", None),
        find("aten::mm, ''", b"aten::mm", b""),
        find("aten::add.Tensor, NULL", b"aten::add.Tensor", None, "any"),
        find("NULL, NULL", None, None, "error", ("the operator name is NULL",)),
        find("NULL, Tensor", None, b"Tensor", "error", ("the operator name is NULL",)),
        find("'', ''", b"", b"", "error", ("no operator",)),
        find("aten::ad, NULL", b"aten::ad", None, "error", ("no operator aten::ad; the closest names are:", "aten::add")),
        find("aten::add, NULL (no default overload)", b"aten::add", None, "error", ("its overloads are:", "Tensor")),
        find("aten::add, Tensr", b"aten::add", b"Tensr", "error", ("no operator aten::add.Tensr; its overloads are:",)),
        find("add, Tensor (no namespace)", b"add", b"Tensor", "error", ("no operator add.Tensor",)),
        find("aten::, NULL", b"aten::", None, "error", ("no operator",)),
        find("non-UTF-8, NULL", b"\xff\xfe", None, "error", ("no operator",)),
        find("aten::add, non-UTF-8", b"aten::add", b"\xff\xfe", "error", ("its overloads are:",)),
        find("1000 chars, NULL", b"x" * 1000, None, "error", ("the closest names are:",)),
        find("aten::add, 100000 chars", b"aten::add", b"T" * 100_000, "error", ("its overloads are:",)),
    ]


def op_frame_values(gpus: int) -> list[Value]:
    """rt_torch_op_call_frame's frame: each whole call of op_call_values (but those with NULL
    args, which a frame cannot hold) packed with room for 4 results, and frames wrong in
    themselves. The frame goes to arena.frame, for check_frame_results."""
    def framed(make_call, out_cap=4):
        def make(arena: Arena):
            op_number, array, n_args = make_call(arena)
            values = list(array)[:n_args] if 0 <= n_args <= len(array) else list(array)

            class Frame(ctypes.Structure):
                _fields_ = [("op", c_int64), ("n_args", c_int64), ("out_cap", c_int64), ("written", c_int64),
                            ("values", OpValue * (len(values) + 4))]

            frame = arena.frame = arena.keep(Frame(op_number, n_args, out_cap, UNWRITTEN))
            for i, value in enumerate(values):
                frame.values[i] = value
            for i in range(len(values), len(values) + 4):
                frame.values[i].tag = UNWRITTEN
            return ctypes.byref(frame)

        return make

    mm = op_call("", ("aten::mm", ""), [tensor(), tensor()]).make
    return [Value(call.label, framed(call.make), call.expect, call.kind, call.words, 1, call.first)
            for call in op_call_values(gpus) if "NULL args" not in call.label] + [
        Value("NULL frame", lambda a: None, "error", ARGUMENT, ("the frame is NULL",), 1, True),
        Value("mm, out_cap -1", framed(mm, -1), "error", ARGUMENT, ("out_cap is -1",), 1, True),
        Value("mm, out_cap 0", framed(mm, 0), "error", ARGUMENT, ("returns 1 values but out has room for 0",)),
    ]


def check_frame_results(arena: Arena, returned, failed: bool) -> list[str]:
    """What rt_torch_op_call_frame wrote: `written` -1 exactly when it failed; a returned handle
    (freed by run_case) is its one result, a new tensor; other results as check_op_results
    checks them."""
    frame = getattr(arena, "frame", None)
    if frame is None:
        return []
    written = frame.written
    if failed != (written == -1):
        return [f"written is {written} after a call that {'failed' if failed else 'succeeded'}"]
    out = frame.values[len(frame.values) - 4 :]
    first_new = written == 1 and out[0].tag == VALUE_TENSOR and not out[0].from_argument
    if first_new != bool(returned) or (returned and out[0].ptr != returned):
        return [f"returned {returned!r} with written {written} and a first result {out[0].tag}, {out[0].ptr!r}"]
    if returned:
        return ["wrote result slots past its one result"] if any(slot.tag != UNWRITTEN for slot in out[1:]) else []
    return check_op_results([None, None, None, out, 4], written, failed, arena)


def check_op_results(arguments: list, written: int, failed: bool, arena: Arena) -> list[str]:
    """What rt_torch_op_call wrote to out: nothing when it failed; else `written` results and
    nothing past them, each tensor either a new handle (freed here, which must work) or, with
    from_argument 1, one of the call's own argument handles."""
    out, cap = arguments[3], arguments[4]
    if out is None:
        return [] if failed or written == 0 else [f"returned {written} results into a NULL out"]
    problems = []
    first_unwritten = 0 if failed else max(0, min(written, len(out)))
    if any(slot.tag != UNWRITTEN for slot in out[first_unwritten:]):
        problems.append(f"wrote out slots past the {first_unwritten} results it returned")
    if failed:
        return problems
    if written > cap or written > len(out):
        return problems + [f"returned {written} results with out_cap {cap} (a real array of {len(out)})"]
    arguments_given = {h for kind, h in arena.owned if kind == "tensor"}

    def release(handle, where):
        if handle in arguments_given:
            problems.append(f"{where} is the argument handle {handle:#x}: a caller freeing its results frees its "
                            "argument")
            return
        DLL.rt_torch_torchtensor_free(handle)
        if last_error() is not None:
            problems.append(f"{where} {handle:#x} cannot be freed: {last_error()}")

    for i, result in enumerate(out[:written]):
        if result.tag == VALUE_TENSOR and result.from_argument:
            if result.ptr not in arguments_given:
                problems.append(f"result {i} has from_argument 1 but {result.ptr!r} is not an argument handle")
        elif result.tag == VALUE_TENSOR:
            release(result.ptr, f"result {i}")
        elif result.tag in (VALUE_TENSOR_LIST, VALUE_OPTIONAL_TENSOR_LIST):
            pointers = ctypes.cast(result.ptr, ctypes.POINTER(c_void_p)) if result.len else []
            for j in range(result.len):
                if pointers[j] is not None or result.tag == VALUE_TENSOR_LIST:
                    release(pointers[j], f"result {i}, element {j}")
        elif result.tag not in TAG_NAMES:
            problems.append(f"result {i} has the unknown tag {result.tag}")
    return problems


# --- the distributed exports: stores, process groups, collectives and their works --------------
#
# Their valid values are those of a group of one on a store of one (see Arena.store), so that no
# valid call waits: every key the values name exists, every group has no peer to wait for, and a
# recv from any rank stays pending until its work and group are freed (which must not wait for
# it). Values that would wait (a missing key, a group of two, a peer rank that never comes) are in
# distributed_cases(), never in a random mix. Not tried, because the library cannot tell: a string
# or key array that is neither NULL nor valid, counts larger than the arrays really hold; nor a
# FileStore path in a directory that does not exist, or a FileStore wait with timeout 0, which
# c10d waits out (its default 5 minutes; forever).

DISTRIBUTED_EXPORTS = ("rt_torch_store_", "rt_torch_torchstore_", "rt_torch_process_group_", "rt_torch_torchprocessgroup_",
                       "rt_torch_torchwork_")
STRING_PARAMS = {"host", "path", "prefix", "key", "interface", "hostname", "group_name"}
OPTIONAL_STRINGS = {"interface", "hostname"}


def engine_error(function: str, words=()) -> dict:
    """An error c10d raises for a group's argument: certain for Gloo; for NCCL "any", since here it
    fails before (no GPU, or no NCCL), and elsewhere it only reads those for a checked group."""
    if function == "rt_torch_process_group_nccl":
        return {"expect": "any"}
    return {"expect": "error", "kind": DISTRIBUTED, "words": words}


def text_values(function: str, name: str) -> list[Value]:
    """A C string of the distributed exports: its valid value, NULL, bytes that are not UTF-8,
    and the strings c10d refuses. The store exports check them before the store handle."""
    first = function.startswith("rt_torch_torchstore_")

    def text(label, make, expect="ok", kind=ARGUMENT, words=()):
        return Value(f"{name} {label}", make, expect, kind, words, first=first)

    def fixed(label, data, **outcome):
        return text(label, lambda a: data, **outcome)

    valid = {"host": LOOPBACK, "key": KEY, "prefix": b"prefix", "group_name": b"misuse", "hostname": LOOPBACK,
             "interface": None}
    if name == "path":
        values = [text("fresh file", lambda a: fresh_path())]
    else:
        values = [fixed("NULL" if valid[name] is None else repr(valid[name].decode()), valid[name])]
    if name in OPTIONAL_STRINGS:
        if valid[name] is not None:  # NULL: this machine's host name, which may not resolve here
            values.append(fixed("NULL", None, expect="any"))
    else:
        values.append(fixed("NULL", None, expect="error", words=(f"{name} is NULL",)))
    values.append(fixed("not UTF-8", NOT_UTF8, expect="error", words=(f"{name} is not UTF-8",)))
    if name == "key" and function != "rt_torch_torchstore_get":  # get would wait for a missing key
        values += [fixed("''", b"", expect="any"), fixed("'new'", b"new"), fixed("of 10000 bytes", b"k" * 10000)]
    elif name == "prefix":
        values += [fixed("''", b""), fixed("of 10000 bytes", b"p" * 10000)]
    elif name == "group_name":
        values += [fixed("''", b"")]
    elif name == "host":
        values += [fixed("'localhost'", b"localhost", expect="any")]
    elif name == "path":
        def under_a_file(arena: Arena) -> bytes:
            path = fresh_path()
            open(path, "wb").close()
            return path + b"/store"

        values += [text("a directory", lambda a: temp_dir().encode(), "error", DISTRIBUTED, ("Is a directory",)),
                   text("under a file", under_a_file, "error", DISTRIBUTED, ("Not a directory",))]
    elif name == "interface":
        values += [fixed("''", b""), fixed("'lo'", b"lo", expect="any"),
                   fixed("'no-such-if0'", b"no-such-if0", **engine_error(function, ("no-such-if0",)))]
    elif name == "hostname":
        # numeric: no name server is asked
        values += [fixed("''", b"", expect="any"),
                   fixed("'192.0.2.1' (not here)", b"192.0.2.1", **engine_error(function, ("Cannot resolve 192.0.2.1",)))]
    return values


def key_array_values(function: str) -> list[Value]:
    """(keys, count) for a store's wait and check: checked before the store handle."""

    def keys(label, names, count=None, expect="ok", words=()):
        def make(arena: Arena):
            if names is None:
                return [None, count]
            array = arena.keep((ctypes.c_char_p * max(1, len(names)))(*names))
            return [array, len(names) if count is None else count]

        return Value(label, make, expect, ARGUMENT, words, 2, first=True)

    values = [keys("keys [key]", [KEY]), keys("keys [key, key]", [KEY, KEY]), keys("NULL keys, count 0", None, 0),
              keys("keys [key], count 0", [KEY], 0)]
    if function == "rt_torch_torchstore_check":  # it does not wait: a missing key is a 0
        values += [keys("keys ['missing']", [b"missing"]), keys("keys [key, 'missing']", [KEY, b"missing"])]
    values += [
        keys("NULL keys, count 1", None, 1, "error", ("keys is NULL but its count is 1",)),
        keys("NULL keys, count 2**64-1", None, 2**64 - 1, "error", (f"keys is NULL but its count is {2**64 - 1}",)),
        keys("keys [NULL]", [None], expect="error", words=("keys[0] is NULL",)),
        keys("keys [key, NULL]", [KEY, None], expect="error", words=("keys[1] is NULL",)),
        keys("keys [not UTF-8]", [NOT_UTF8], expect="error", words=("keys[0] is not UTF-8",)),
    ]
    return values


def bytes_values(name: str, count_name: str) -> list[Value]:
    """(value, len) for a store's set, or (buffer, capacity) for its get: checked before the store
    handle. KEY's value is 1 byte: any room is enough, and none asks for the length only."""

    def pair(label, room, count, expect="ok", words=()):
        def make(arena: Arena):  # a char array: set's value is a char * in the ctypes table
            return [None if room is None else arena.keep(ctypes.create_string_buffer(max(1, room))), count]

        return Value(label, make, expect, ARGUMENT, words, 2, first=True)

    return [
        pair(f"{name} of 16, {count_name} 16", 16, 16),
        pair(f"NULL {name}, {count_name} 0", None, 0),
        pair(f"{name} of 8, {count_name} 0", 8, 0),
        pair(f"{name} of 2**20, {count_name} 2**20", 2**20, 2**20),
        pair(f"NULL {name}, {count_name} 16", None, 16, "error", (f"{name} is NULL",)),
        pair(f"NULL {name}, {count_name} 2**64-1", None, 2**64 - 1, "error", (f"{name} is NULL",)),
    ]


def int64_out_values(name: str) -> list[Value]:
    """Where add writes the counter's new value: checked before the store handle."""
    return [Value(f"{name} out", lambda a: a.keep(c_int64())),
            Value(f"NULL {name}", lambda a: None, "error", ARGUMENT, (f"{name} is NULL",), first=True)]


def rank_values(function: str, name: str) -> list[Value]:
    """Ranks, sizes, ports, world sizes, tags and amounts, for a group or store of one process:
    rank 0 is the only rank. Ranks past the last are in distributed_cases() (they wait for a peer)."""

    def number(value, expect="ok", kind=ARGUMENT, words=()):
        return Value(f"{name} {value}", lambda a: value, expect, kind, words)

    if name == "rank":
        return [number(0)] + [number(r, "error", words=(f"rank {r} is not in a group of size 1",))
                              for r in (1, -1, -5, 2**31 - 1, -(2**31))]
    if name == "size":  # a size above 1 waits for the other ranks
        return [number(1)] + [number(n, "error", words=(f"is not in a group of size {n}",)) for n in (0, -1, -(2**31))]
    if name in ("root", "dst"):  # ranks of the group of one: only 0 (dst 0 is this rank: see VALID_FAILS)
        return [number(0)] + [number(r, "error", words=(f"{name} {r} is not a rank of this group of size 1",))
                              for r in (1, -1, -5, 2**31 - 1, -(2**31))]
    if name == "src":  # -1: any rank, which never comes (pending until freed); 0: this rank
        return ([number(-1), number(0, "error", None)]
                + [number(r, "error", words=(f"src (or -1: any) {r} is not a rank of this group of size 1",))
                   for r in (1, -2, -5, 2**31 - 1, -(2**31))])
    if name == "port":  # 0: the OS picks one. Checked in C++, so DISTRIBUTED today: kind unchecked
        return [number(0)] + [number(p, "error", None, ("port must be in 0..65535",)) for p in (-1, 65536, 2**31 - 1, -(2**31))]
    if name == "tag":  # any tag goes (in a group of one, nothing matches it anyway)
        return [number(0), number(1)] + [number(t, "any") for t in (-1, 2**31 - 1, -(2**31))]
    if name == "amount":  # added to KEY's 1: the int64 edges overflow in c10d
        return [number(1), number(0), number(-1)] + [number(n, "any") for n in (2**63 - 1, -(2**63))]
    assert name == "world_size"  # -1: unknown
    return [number(1), number(-1)] + [number(n, "any") for n in (0, 2**31 - 1, -(2**31))]


def reduce_op_values() -> list[Value]:
    """c10d's reduce ops: 0 SUM, 1 AVG, 2 PRODUCT, 3 MIN, 4 MAX, 5 BAND, 6 BOR, 7 BXOR (the bitwise
    ones fail on float32 when the collective runs: its work says so, not the call). Unknown codes
    are checked in C++, so DISTRIBUTED today: kind unchecked."""
    values = [Value(f"op {op}", lambda a, op=op: op) for op in (0, 2, 3, 4)]
    values += [Value(f"op {op}", lambda a, op=op: op, "any") for op in (1, 5, 6, 7)]
    values += [Value(f"op {op}", lambda a, op=op: op, "error", None, (f"unknown reduce op {op}",))
               for op in (-1, 8, 2**31 - 1, -(2**31))]
    return values


def timeout_values(function: str) -> list[Value]:
    """timeout_ms: none of them waits with the valid values (every key exists, no group has a
    peer, every work is a barrier's)."""

    def timeout(value, expect="ok", **outcome):
        return Value(f"timeout_ms {value}", lambda a: value, expect, **outcome)

    edges = (0, 1, -1, 2**63 - 1, -(2**63))
    if function == "rt_torch_store_tcp":  # the server's own client: c10d refuses 0 and the edges
        return [timeout(STORE_TIMEOUT_MS), timeout(1000)] + [timeout(t, "any") for t in edges]
    if function.startswith("rt_torch_process_group_"):
        return ([timeout(GROUP_TIMEOUT_MS), timeout(0, "any"), timeout(1, "any"), timeout(2**63 - 1, "any")]
                + [timeout(t, **engine_error(function, ("Invalid timeout",))) for t in (-1, -(2**63))])
    if function == "rt_torch_torchstore_set_timeout":
        return [timeout(STORE_TIMEOUT_MS), timeout(0), timeout(2**63 - 1)] + [timeout(t, "any") for t in (1, -1, -(2**63))]
    if function == "rt_torch_torchprocessgroup_monitored_barrier":  # < 0: the group's
        return [timeout(-1), timeout(STORE_TIMEOUT_MS)] + [timeout(t, "any") for t in (0, 1, 2**63 - 1, -(2**63))]
    # a store's wait for keys that exist, a work's wait for a barrier: at once, whatever the time
    return [timeout(STORE_TIMEOUT_MS)] + [timeout(t) for t in edges]


def output_list_values() -> list[Value]:
    """(outputs, count) for all_gather: one tensor per rank, each checked as a handle."""

    def outputs(label, makers, count=None, expect="ok", kind=None, words=()):
        def make(arena: Arena):
            if makers is None:
                return [None, count]
            array = arena.keep((c_void_p * max(1, len(makers)))(*[m(arena) for m in makers]))
            return [array, len(makers) if count is None else count]

        # NULL with a count: refused after the group handle, before the input's
        return Value(label, make, expect, kind, words, 2, IN_ORDER if kind == ARGUMENT else False)

    tensor = lambda a: a.tensor()  # noqa: E731
    values = [
        outputs("outputs [tensor]", [tensor]),
        outputs("outputs [f32[2,3]]", [lambda a: a.tensor((2, 3))], expect="any"),
        outputs("outputs [tensor], count 0", [tensor], 0, "error", DISTRIBUTED, ("expected length 1, got 0",)),
        outputs("NULL outputs, count 0", None, 0, "error", DISTRIBUTED, ("expected length 1, got 0",)),
        outputs("outputs [tensor, tensor]", [tensor, tensor], None, "error", DISTRIBUTED, ("expected length 1, got 2",)),
        outputs("NULL outputs, count 1", None, 1, "error", ARGUMENT, ("outputs is NULL but its count is 1",)),
        outputs("NULL outputs, count 2**64-1", None, 2**64 - 1, "error", ARGUMENT, ("outputs is NULL but its count is",)),
        outputs("outputs [tensor, freed tensor]", [tensor, lambda a: a.freed("tensor")], None, "error", HANDLE,
                ("outputs[1]", "was already freed")),
    ]
    for label, make, words in [("NULL", lambda a: None, ("the tensor handle is NULL",)),
                               ("0xdeadbeef", lambda a: 0xDEADBEEF, ("0xdeadbeef", "returned by simple_torch"))]:
        values.append(outputs(f"outputs [{label}]", [make], None, "error", HANDLE, ("outputs[0]", *words)))
    for other in HANDLE_KINDS[1:]:
        if makeable(other):
            values.append(outputs(f"outputs [{article(other)}]", [lambda a, o=other: a.make(o)], None, "error", HANDLE,
                                  ("outputs[0]", f"is {article(other)} handle, not a tensor handle")))
    return values


def split_values(name: str) -> list[Value]:
    """(splits, n_splits) for all_to_all_single: rows of dim 0 per rank, or none for equal parts.
    Splits that do not fit the tensors fail when the collective runs (its work says so)."""

    def splits(label, sizes, count=None, expect="ok", words=()):
        def make(arena: Arena):
            if sizes is None:
                return [None, count]
            return [arena.keep((c_int64 * max(1, len(sizes)))(*sizes)), len(sizes) if count is None else count]

        return Value(f"{name} {label}", make, expect, ARGUMENT, words, 2)

    return [
        splits("NULL, 0", None, 0),
        splits("[3]", [3]),
        splits("[3], count 0", [3], 0),
        splits("[2]", [2], expect="any"),
        splits("[1, 2]", [1, 2], expect="any"),
        splits("[-1]", [-1], expect="any"),
        splits("[2**62]", [2**62], expect="any"),
        splits("NULL, 1", None, 1, "error", (f"{name} is NULL but its count is 1",)),
        splits("NULL, 2**64-1", None, 2**64 - 1, "error", (f"{name} is NULL but its count is",)),
    ]


def generic_values(param: Param, ctype) -> list[Value]:
    """An argument this file knows nothing about: the usual edge values, any outcome allowed."""
    if ctype is c_bool:
        return [Value(f"{param.name} {v}", lambda a, v=v: v) for v in (False, True)]
    if ctype in (c_int32, c_int64, ctypes.c_int, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_size_t):
        bits = 32 if ctype in (c_int32, ctypes.c_int, ctypes.c_uint32) else 64
        edges = (0, 1, -1, 2 ** (bits - 1) - 1, -(2 ** (bits - 1)))
        if ctype in (ctypes.c_uint32, ctypes.c_uint64, ctypes.c_size_t):
            edges = (0, 1, 2**bits - 1)
        return [Value(f"{param.name} {v}", lambda a, v=v: v, "any") for v in edges]
    if ctype in (ctypes.c_double, ctypes.c_float):
        return [Value(f"{param.name} {v}", lambda a, v=v: v, "any") for v in (0.0, -1.0, float("nan"), float("inf"))]
    return [Value(f"{param.name} NULL", lambda a: None, "any")]  # an unknown pointer: NULL only


def arguments(function: str, gpus: int) -> list[list[Value]]:
    """For each argument slot of `function`: its values, the valid one first."""
    argtypes = SIGNATURES[function][1]
    params = HEADER.get(function, (None, None))[1]
    if params is None or len(params) != len(argtypes):
        params = [Param(f"int64_t arg{i}") for i in range(len(argtypes))]  # header disagrees: generic
    distributed = function.startswith(DISTRIBUTED_EXPORTS)
    slots, index = [], 0
    while index < len(params):
        param, ctype = params[index], argtypes[index]
        after = params[index + 1] if index + 1 < len(params) else None
        # a handle (TorchTensor*), not an array of them or a place for one (TorchTensor**)
        kind = handle_kind(param.base) if param.type.count("*") == 1 else None
        # events and CUDA graphs exist only on a GPU: elsewhere their slots get only bad handles
        if kind and (makeable(kind) or kind in ("event", "cudagraph")):
            slots.append(handle_values(kind, function, param.name))
        elif distributed and param.name in STRING_PARAMS and param.type == "char *":
            slots.append(text_values(function, param.name))
        elif distributed and param.name == "keys" and after is not None and after.name == "count":
            slots.append(key_array_values(function))
        elif distributed and param.name in ("value", "buffer") and after is not None and after.name in ("len", "capacity"):
            slots.append(bytes_values(param.name, after.name))
        elif distributed and param.name == "value" and param.type == "int64_t *":
            slots.append(int64_out_values(param.name))
        elif distributed and param.name in ("rank", "size", "root", "dst", "src", "port", "world_size", "tag", "amount"):
            slots.append(rank_values(function, param.name))
        elif distributed and param.name == "op":
            slots.append(reduce_op_values())
        elif distributed and param.name == "timeout_ms":
            slots.append(timeout_values(function))
        elif distributed and param.name == "is_server":  # a client waits for a server: in distributed_cases()
            slots.append([Value("is_server true", lambda a: True)])
        elif distributed and param.name == "outputs" and after is not None and after.name == "count":
            slots.append(output_list_values())
        elif distributed and param.name.endswith("_splits") and after is not None and after.name == f"n_{param.name}":
            slots.append(split_values(param.name))
        elif param.name == "data" and after is not None and after.name == "dims":
            slots.append(dims_values(with_data=True))
        elif param.name == "dims":
            slots.append(reshape_values() if function.endswith("_reshape") else dims_values(with_data=False))
        elif param.name in ("out_first", "out_second"):  # a graph pool id's two halves
            slots.append([Value(f"{param.name}", lambda a: a.keep(ctypes.c_uint64())),
                          Value(f"{param.name} NULL", lambda a: None, "error", ARGUMENT, (f"{param.name} is NULL",))])
        elif param.name == "managed":
            slots.append(dlpack_values())
        elif param.name == "frame":
            slots.append(op_frame_values(gpus))
        elif param.name == "op" and after is not None and after.name == "args":
            slots.append(op_call_values(gpus))
        elif param.name == "op":
            slots.append(op_id_values())
        elif param.name == "name" and after is not None and after.name == "overload":
            slots.append(op_name_values())
        elif param.name == "out" and after is not None and after.name == "out_cap":
            slots.append(op_out_values())
        elif param.name == "out" and after is not None and after.name in ("cap", "nbytes"):
            slots.append(buffer_values(c_int64 if param.base == "int64_t" else ctypes.c_uint8, after.name))
        elif param.name in ("dtype",):
            slots.append(dtype_values())
        elif param.name.startswith("device"):
            slots.append(device_values(function, gpus))
        elif param.name in ("dim", "dim0", "dim1"):
            slots.append(dim_values())
        else:
            slots.append(generic_values(param, ctype))
        index += slots[-1][0].width
    return slots


class Case:
    def __init__(self, function: str, values: list[Value], bad: int | None):
        self.function, self.values, self.bad = function, values, bad

    def describe(self) -> str:
        return f"{self.function}({', '.join(v.label for v in self.values)})"


def build_cases(gpus: int | None = None) -> list[Case]:
    """Every export: all-valid, then each argument slot in turn through its values."""
    if gpus is None:
        gpus = GPUS
    cases = []
    for function in SIGNATURES:
        slots = arguments(function, gpus)
        valid = [slot[0] for slot in slots]
        cases.append(Case(function, valid, None))
        for position, slot in enumerate(slots):
            for value in slot[1:]:
                cases.append(Case(function, valid[:position] + [value] + valid[position + 1 :], position))
        cases += random_combinations(function, slots)
    cases += hand_written_cases()
    if HAS_DISTRIBUTED:
        cases += distributed_cases()
    return cases


COMBINATIONS = 40  # random cases per export with two or more argument slots


def random_combinations(function: str, slots: list[list[Value]]) -> list[Case]:
    """Every slot at a random value at once, good or bad: the same draws in every process."""
    if len(slots) < 2:
        return []
    draw = random.Random(f"misuse {function}")
    cases = [Case(function, [draw.choice(slot) for slot in slots], -1) for _ in range(COMBINATIONS)]
    if all(slot[0].label == "tensor" for slot in slots):  # every pair of tensor kinds
        cases += [Case(function, [a, b], -1) for a in slots[0] for b in slots[1] if "tensor" in a.label + b.label]
    return cases


def hand_written_cases() -> list[Case]:
    """Mismatched operands and other misuse that needs two arguments chosen together."""

    def tensor(dims, dtype=FLOAT32):
        return Value(f"{dtype}{list(dims)}", lambda a: a.tensor(dims, dtype))

    def raw(label, value):
        return Value(label, lambda a: value)

    def buffer(label, room, count):
        return Value(label, lambda a: [None if room is None else a.keep((ctypes.c_uint8 * room)()), count], width=2)

    cases = []

    def error(function, values, words, kind=ARGUMENT):
        values[-1] = Value(values[-1].label, values[-1].make, "error", kind, words, values[-1].width)
        cases.append(Case(function, values, len(values) - 1))

    error("rt_torch_torchtensor_matmul", [tensor((2, 3)), tensor((4, 5))], ("2x3 and 4x5",))
    error("rt_torch_torchtensor_matmul", [tensor(()), tensor((3,))], ("both arguments to matmul need to be at least 1D",))
    error("rt_torch_torchtensor_add", [tensor((2, 3)), tensor((4,))], ("float32[2, 3] on cpu with float32[4] on cpu", "must match"))
    error("rt_torch_torchtensor_mul", [tensor((2, 3)), tensor((3, 2))], ("must match",))
    error("rt_torch_torchtensor_softmax", [tensor((2, 3)), raw("dim 5", 5)], ("softmax over dim 5 of float32[2, 3] on cpu: Dimension out of range",))
    error("rt_torch_torchtensor_softmax", [tensor(()), raw("dim 1", 1)], ("Dimension out of range",))
    error("rt_torch_torchtensor_copy_to", [tensor((2, 3), 7), buffer("24 of 48 bytes", 24, 24)], ("buffer of 24 bytes is too small", "48 bytes"))
    cases.append(Case("rt_torch_torchtensor_copy_to", [tensor((0, 3)), buffer("NULL out, nbytes 0", None, 0)], None))
    cases.append(Case("rt_torch_torchtensor_shape", [tensor(()), buffer("NULL out, cap 0", None, 0)], None))
    cases.append(Case("rt_torch_torchtensor_softmax", [tensor((4,)), raw("dim 0", 0)], None))

    def unaligned(arena: Arena, size: int) -> c_void_p:  # one byte into a real buffer of size + 1
        return c_void_p(ctypes.addressof(arena.keep((ctypes.c_uint8 * (size + 1))())) + 1)

    # arrays of handles (autograd): each handle in them is checked, and named by its position
    def handle_array(label, make_handles, expect="ok", kind=None, words=()):
        return Value(label, lambda a: [a.keep((c_void_p * 2)(*make_handles(a))), 2], expect, kind, words, width=2)

    freed_second = handle_array("tensors [live, freed]", lambda a: [a.tensor(), a.freed("tensor")], "error", HANDLE,
                                ("tensors[1]", "was already freed"))
    cases.append(Case("rt_torch_autograd_backward", [freed_second, raw("grad_tensors NULL", None), raw("retain_graph -1", -1),
                                                     raw("create_graph false", False), raw("inputs NULL", None), raw("n_inputs 0", 0)], 0))
    not_recorded = handle_array("tensors [live, live]", lambda a: [a.tensor(), a.tensor()], "error", ARGUMENT,
                                ("does not require grad and does not have a grad_fn",))
    cases.append(Case("rt_torch_autograd_backward", [not_recorded, raw("grad_tensors NULL", None), raw("retain_graph -1", -1),
                                                     raw("create_graph false", False), raw("inputs NULL", None), raw("n_inputs 0", 0)], 0))
    freed_output = handle_array("outputs [live, freed]", lambda a: [a.tensor(), a.freed("tensor")], "error", HANDLE,
                                ("outputs[1]", "was already freed"))
    cases.append(Case("rt_torch_autograd_grad", [freed_output, raw("grad_outputs NULL", None), raw("inputs NULL", None),
                                                 raw("n_inputs 0", 0), raw("retain_graph -1", -1), raw("create_graph false", False),
                                                 raw("allow_unused false", False), raw("results NULL", None)], 0))
    no_host = Value("host NULL", lambda a: None, "error", ARGUMENT, ("host and name must not be NULL",))
    cases.append(Case("rt_torch_autograd_function_apply", [no_host, raw("token 1", 1), raw("name", b"F")] + [raw("NULL", None), raw("0", 0)] * 5
                      + [raw("materialize_grads true", True), raw("results NULL", None)], 0))
    no_such_kind = Value("kind 'tpu'", lambda a: b"tpu", "error", ARGUMENT, ("'cpu' and 'cuda', not 'tpu'",))
    cases.append(Case("rt_torch_autocast_state", [no_such_kind, raw("enabled -1", -1), raw("dtype -1", -1),
                                                  Value("out", lambda a: a.keep(ctypes.c_int32())), Value("out", lambda a: a.keep(ctypes.c_int32()))], 0))
    odd_data = Value("unaligned data for float64[3]", lambda a: [unaligned(a, 24), a.keep((c_int64 * 1)(3)), 1], width=3)
    cases.append(Case("rt_torch_tensor_from_data", [odd_data, raw("dtype float64", 7)], None))
    odd_out = Value("unaligned out of 72 bytes", lambda a: [unaligned(a, 72), 72], width=2)
    cases.append(Case("rt_torch_torchtensor_copy_to", [tensor((3, 3), 7), odd_out], None))

    # a batch release of every kind of handle: only the live tensor goes (once), made for the call
    def batch(arena: Arena) -> list:
        live = arena.tensor()
        arena.owned.remove(("tensor", live))  # the call frees it
        other = arena.stream() if HAS_STREAMS else None
        handles = [live, arena.freed("tensor"), None, 0xDEADBEEF, other, live, live ^ 1 << 62]
        return [arena.keep((c_void_p * len(handles))(*handles)), len(handles)]

    cases.append(Case("rt_torch_torchtensor_finalize_many",
                      [Value("handles [live, freed, NULL, 0xdeadbeef, a stream, live again, live flag flipped]", batch, width=2)], None))
    return cases


def distributed_cases() -> list[Case]:
    """What would wait in a random mix, on TCPStores (whose waits end on time): missing keys, a
    group whose other rank never comes, a client with no server, peers past the last rank, and
    the work of a recv that never completes; and tensors that only fail together."""

    def raw(label, value, expect="ok", kind=None, words=()):
        return Value(label, lambda a: value, expect, kind, words)

    def keys(*names, **outcome):
        return Value(f"keys {[n.decode() for n in names]}", lambda a: [a.keep((ctypes.c_char_p * len(names))(*names)), len(names)],
                     width=2, **outcome)

    def pending_recv(arena: Arena) -> int:  # from any rank, in a group of one: never completes
        work = DLL.rt_torch_torchprocessgroup_recv(arena.processgroup(arena.store(tcp=True), 300), arena.tensor(), -1, 0)
        if not work:
            raise RuntimeError(f"cannot start a recv: {last_error()}")
        arena.owned.append(("work", work))
        return work

    tcp_store = Value("TCP store", lambda a: a.store(tcp=True))
    group = Value("group on a TCP store", lambda a: a.processgroup(a.store(tcp=True), timeout_ms=300))
    tensor = Value("tensor", lambda a: a.tensor())
    timeout = {"expect": "error", "kind": DISTRIBUTED}
    cases = []

    def case(function, values):
        bad = [i for i, v in enumerate(values) if v.expect != "ok"]
        cases.append(Case(function, values, bad[0] if bad else None))

    # Keys that never come.
    case("rt_torch_torchstore_get", [tcp_store, raw("key 'missing'", b"missing", words=("timeout", "missing"), **timeout),
                                     Value("NULL buffer, capacity 0", lambda a: [None, 0], width=2)])
    case("rt_torch_torchstore_wait", [tcp_store, keys(b"missing", words=("timeout", "missing"), **timeout), raw("timeout_ms 50", 50)])
    case("rt_torch_torchstore_wait", [tcp_store, keys(KEY, b"missing", words=("timeout", "missing"), **timeout),
                                      raw("timeout_ms -1 (the store's)", -1)])
    case("rt_torch_torchstore_wait", [tcp_store, keys(b"missing", words=("timeout",), **timeout), raw("timeout_ms 0", 0)])
    # A server that is not there; a TCPStore's port.
    case("rt_torch_store_tcp", [raw("host", LOOPBACK), raw("port 0 (no server there)", 0), raw("world_size 1", 1),
                                raw("is_server false", False, words=("timed out",), **timeout), raw("timeout_ms 100", 100)])
    case("rt_torch_torchstore_port", [tcp_store])
    case("rt_torch_torchstore_clone", [tcp_store])
    # A group of two whose other rank never comes.
    for rank in (0, 1):
        case("rt_torch_process_group_gloo", [tcp_store, raw(f"rank {rank}", rank),
                                             raw("size 2 (the other rank never comes)", 2, words=("timeout",), **timeout),
                                             raw("timeout_ms 300", 300), raw("interface NULL", None), raw("hostname", LOOPBACK),
                                             raw("group_name", b"misuse"), raw("checked false", False)])
    # Peers past the last rank of a group of one: no such rank, an argument error.
    for function, name in [("rt_torch_torchprocessgroup_send", "dst"), ("rt_torch_torchprocessgroup_recv", "src")]:
        for peer in (1, 5, 2**31 - 1):
            case(function, [group, tensor, raw(f"{name} {peer} (past the last rank)", peer, "error", ARGUMENT), raw("tag 0", 0)])
    # A recv that never completes: the calls on its work return at once (wait: 0, the time ran out).
    recv = Value("pending recv", pending_recv)
    case("rt_torch_torchwork_is_completed", [recv])
    case("rt_torch_torchwork_wait", [recv, raw("timeout_ms 50 (Gloo gives the receive up)", 50, "error", DISTRIBUTED, ("Timed out",))])
    case("rt_torch_torchwork_wait", [recv, raw("timeout_ms 0", 0)])
    case("rt_torch_torchwork_source_rank", [Value("pending recv (no source yet)", pending_recv, "any")])
    case("rt_torch_torchwork_free", [recv])
    # Tensors that only fail together, refused when the collective starts; and all_gather's
    # output array, checked between the group and the input handles.
    small = Value("f32[2,3]", lambda a: a.tensor((2, 3)))
    case("rt_torch_torchprocessgroup_all_gather_into_tensor",
         [group, small, Value("f32[3,3]", lambda a: a.tensor(), "error", DISTRIBUTED, ("invalid tensor size",))])
    case("rt_torch_torchprocessgroup_reduce_scatter_tensor",
         [group, small, Value("f32[3,3]", lambda a: a.tensor(), "error", DISTRIBUTED,
                              ("must have world size (1) times the output",)), raw("op 0", 0)])
    null_outputs = [o for o in output_list_values() if o.label == "NULL outputs, count 1"]
    freed = Value("freed tensor", lambda a: a.freed("tensor"), "error", HANDLE, ("was already freed",))
    case("rt_torch_torchprocessgroup_all_gather", [group, *null_outputs, freed])
    case("rt_torch_torchprocessgroup_all_gather", [Value("freed process group", lambda a: a.freed("processgroup"), "error",
                                                         HANDLE, ("was already freed",)), *null_outputs, tensor])
    return cases


# --- running one case ---------------------------------------------------------------------------

SENTINELS = {_native.NULL: None, _native.MINUS_1: -1, _native.MINUS_2: -2, _native.FALSE: False}
# Functions that report nothing by design, so bad arguments cannot be seen to fail: the
# capsule destructor (only NULL is safe outside CPython) and the finalizers (they ignore them).
UNCHECKABLE = {"rt_torch_dlpack_capsule_destructor"} | {name for name in SIGNATURES if name.endswith(("_finalize", "_finalize_many"))}
# Functions that read or clear the error slot, or (the uncheckable ones) leave it alone.
ERROR_SLOT = {"rt_torch_last_error", "rt_torch_last_error_kind", "rt_torch_clear_error"} | UNCHECKABLE


def expectation(case: Case) -> tuple[str, int | None, tuple[str, ...]]:
    """What the case as a whole should do: (outcome, error kind, words of the message).

    A bad handle is reported before anything else, except the errors marked `first` (checked
    before any handle is looked at, or with IN_ORDER before the handles after them). With one
    bad value the call must fail for it; with several, it must fail (kind and words unchecked);
    a value that may legitimately fail or change what else is valid (an "any" value) leaves only
    the handle rule. With none, it must succeed, unless the export cannot here (VALID_FAILS).
    """
    if case.function in UNCHECKABLE:
        return "any", None, ()
    bad_handle = [v.expect == "error" and v.kind == HANDLE for v in case.values]
    early = [v for i, v in enumerate(case.values) if v.expect == "error"
             and (v.first is True or (v.first == IN_ORDER and not any(bad_handle[:i])))]
    if early:
        kinds = {v.kind for v in early}
        return "error", kinds.pop() if len(kinds) == 1 else None, early[0].words if len(early) == 1 else ()
    handles = [v for v in case.values if v.expect == "error" and v.kind == HANDLE]
    if handles:
        return ("error", HANDLE, handles[0].words if len(handles) == 1 else ())
    if case.function in NEEDS_CUDA and GPUS == 0:
        return "error", DEVICE, ("CUDA is not available",)
    if any(v.expect == "any" for v in case.values):
        return "any", None, ()
    errors = [v for v in case.values if v.expect == "error"]
    if len(errors) == 1:
        return "error", errors[0].kind, errors[0].words
    if errors:
        return "error", None, ()
    return VALID_FAILS.get(case.function, ("ok", None, ()))


def run_case(case: Case) -> list[str]:
    function, failure = case.function, SIGNATURES[case.function][2]
    problems = []
    before, exports_before = live(), live_exports()
    arena = Arena()
    arguments = []
    for value in case.values:
        made = value.make(arena)
        arguments += made if value.width > 1 else [made]
    if function not in ERROR_SLOT:  # a stale error that the call must clear on entry
        DLL.rt_torch_torchtensor_ndim(None)
        if last_error() is None:
            problems.append("could not put a stale error in the slot")

    result = getattr(DLL, function)(*arguments)

    message, kind = last_error(), last_kind()
    expect, expect_kind, words = expectation(case)
    if function in ERROR_SLOT:
        failed = False
    elif failure in SENTINELS:
        failed = result == SENTINELS[failure] if failure != _native.FALSE else message is not None
        if failure != _native.FALSE and failed != (message is not None):
            problems.append(f"returned {result!r} with last_error {message!r}: a sentinel comes with a message and only then")
        if failure == _native.FALSE and message is not None and result is not False:
            problems.append(f"returned {result!r} with an error recorded: {message!r}")
    elif failure in (_native.VOID, _native.MAYBE_NULL):
        failed = message is not None
    else:  # cannot fail: it must still clear the stale error
        failed = False
        if message is not None:
            problems.append(f"a call that cannot fail left last_error {message!r}")
    if failed:
        if not message or not message.startswith(f"{function}: ") or len(message) <= len(function) + 2:
            problems.append(f"the error message does not name the function: {message!r}")
        if HAS_KIND and kind not in range(ARGUMENT, LAST_KIND + 1):
            problems.append(f"last_error_kind() is {kind} after a failure")
        if HAS_KIND and kind == INTERNAL:
            problems.append(f"an internal error (caught panic): {message!r}")
    elif HAS_KIND and function not in ERROR_SLOT and kind != 0:
        problems.append(f"last_error_kind() is {kind} after a success")
    if expect == "ok" and failed:
        problems.append(f"expected success, got {result!r}: {message}")
    if expect == "error" and not failed:
        problems.append(f"expected an error, got {result!r} and no message")
    if expect == "error" and failed:
        missing = [w for w in words if w not in (message or "")]
        if missing:
            problems.append(f"the message lacks {missing}: {message!r}")
        if HAS_KIND and expect_kind is not None and kind != expect_kind:
            problems.append(f"error kind {kind}, expected {expect_kind}: {message!r}")

    consumed = set()
    returned = result_kind(function)
    if returned and result:
        getattr(DLL, free_function(returned))(result)
        if last_error() is not None:
            problems.append(f"the returned {returned} handle {result:#x} cannot be freed: {last_error()}")
    if function == "rt_torch_op_call":
        problems += check_op_results(arguments, result, failed, arena)
    if function == "rt_torch_op_call_frame":
        problems += check_frame_results(arena, result, failed)
    if function == "rt_torch_torchtensor_to_dlpack" and result:
        _dlpack.delete(result, arguments[1])
    if function == "rt_torch_tensor_from_dlpack" and not failed:
        consumed.add(arguments[0])  # the returned tensor owns it, and was freed above
    releasing = re.fullmatch(r"rt_torch_torch(\w+?)_(free|finalize)", function)
    if releasing and not failed:
        kind_freed = releasing.group(1)
        consumed |= {h for k, h in arena.owned if k == kind_freed and h in arguments}
        for handle in consumed:  # it is gone: a second free must say so
            getattr(DLL, free_function(kind_freed))(handle)
            if "was already freed" not in (last_error() or ""):
                problems.append(f"{handle:#x} is still live after a successful free: {last_error()!r}")
    problems += arena.release(consumed)
    after = live()
    if after != before:
        problems.append(f"live handles went from {before} to {after}")
    if live_exports() != exports_before:
        problems.append(f"live DLPack exports went from {exports_before} to {live_exports()}")
    return problems


def main(argv: list[str]) -> int:
    crash_at = None
    if "--crash-at" in argv:
        at = argv.index("--crash-at")
        crash_at = int(argv[at + 1])
        del argv[at : at + 2]
    cases = build_cases()
    start = int(argv[0]) if argv else 0
    stop = min(int(argv[1]), len(cases)) if len(argv) > 1 else len(cases)
    out = sys.stdout
    out.write(json.dumps({"ready": len(cases)}) + "\n")
    out.flush()
    live_start = live()
    for index in range(start, stop):
        if LOG:
            with open(LOG, "a") as log:
                log.write(f"{index} {cases[index].describe()}\n")
        if index == crash_at:  # lets the test check that a crash is counted, not fatal
            ctypes.string_at(0)
        try:
            problems = run_case(cases[index])
        except Exception as error:  # a bug in this file or a failure to set up the case
            problems = [f"the worker could not run the case: {error!r}"]
        out.write(json.dumps({"i": index, "problems": problems}) + "\n")
        out.flush()
    out.write(json.dumps({"end": stop, "live_start": live_start, "live_end": live()}) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
