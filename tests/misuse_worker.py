"""Runs the misuse cases of test_misuse.py through raw ctypes and reports each one as a JSON line.

Usage: python misuse_worker.py START [STOP] [--crash-at N]

The cases are built from the ctypes table (``SIGNATURES``) and the parameter names of the
shipped header, so a new export is covered as soon as it is in both. Each export is called
with valid values only, then with each argument in turn through its other values (NULL, freed,
made-up and wrong-kind handles, bad dims, dtype and device codes, too-small buffers,
out-of-range dims, and valid but unusual tensors), then with random mixes of all of them;
a few hand-written cases pair arguments that only fail together (mismatched shapes). The parent runs this file in a subprocess: a crash kills only the
worker, and the parent restarts it at the next case.

Output, one JSON object a line, flushed: ``{"ready": n_cases}`` first, then per case
``{"i": index, "problems": [...]}``, and at the end ``{"end": ..., "live_start": a, "live_end": b}``.
With MISUSE_LOG=path set, each case is also appended to that file before it runs (to find a hang).
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import re
import sys
from ctypes import c_bool, c_int32, c_int64, c_void_p
from pathlib import Path

import simple_torch
from simple_torch import _dlpack, _native
from simple_torch._native import SIGNATURES

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
NEEDS_CUDA = {"rt_torch_cuda_empty_cache", "rt_torch_event_create", "rt_torch_torchtensor_pin_memory"}

# Error kinds (RT_TORCH_ERROR_*).
ARGUMENT, DEVICE, HANDLE, OUT_OF_MEMORY = 1, 2, 3, 4

# c10 dtype codes of the ABI and their element sizes.
DTYPES = {0: 1, 1: 1, 2: 2, 3: 4, 4: 8, 5: 2, 6: 4, 7: 8, 9: 8, 10: 16, 11: 1, 15: 2}
FLOAT32 = 6

# Made-up handles: small, all ones, the int64 edges, far beyond the counter, and random 64-bit ones.
_RANDOM = random.Random(1234)
BAD_HANDLE_VALUES = [0xDEADBEEF, 1, 2**64 - 1, 2**63 - 1, 2**63, 0x1000 + 2**40] + [
    _RANDOM.getrandbits(64) | 1 << 40 for _ in range(3)
]
LOG = os.environ.get("MISUSE_LOG")


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
    """'tensor' for TorchTensor, 'stream' for TorchStream: the opaque handle kinds."""
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
        for kind, handle in self.owned:
            if handle in consumed:
                continue
            getattr(DLL, free_function(kind))(handle)
            if last_error() is not None:
                problems.append(f"freeing input {kind} handle {handle:#x} afterwards failed: {last_error()}")
        return problems


def article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def makeable(kind: str) -> bool:
    return kind == "tensor" or (kind == "stream" and HAS_STREAMS) or (kind == "event" and HAS_EVENTS)


# --- values for one argument (or a pair of arguments) ---------------------------------------------
#
# A Value makes the ctypes argument(s) in an Arena and says what the call should do with it:
# "ok" (succeed), "any" (succeed or fail with a proper message), or "error" (fail, with an
# error kind and words the message must contain).


class Value:
    def __init__(self, label, make, expect="ok", kind=None, words=(), width=1):
        self.label, self.make, self.expect, self.kind, self.words, self.width = label, make, expect, kind, tuple(words), width


def handle_values(kind: str, function: str) -> list[Value]:
    """A valid handle of `kind` (if one can be made here), and every bad one."""
    values = [Value(f"{kind}", lambda a: a.make(kind))] if makeable(kind) else []
    if kind == "tensor":
        for dims, dtype, text in [
            ((2, 3), 6, "f32[2,3]"), ((4, 5), 6, "f32[4,5]"), ((), 6, "f32[]"), ((0, 3), 6, "f32[0,3]"),
            ((3, 3), 7, "f64[3,3]"), ((3, 3), 4, "i64[3,3]"), ((3, 3), 0, "u8[3,3]"), ((3,), 11, "bool[3]"),
            ((3, 3), 5, "f16[3,3]"), ((3, 3), 15, "bf16[3,3]"), ((3, 3), 9, "c64[3,3]"), ((1,) * 64, 6, "f32[1]*64"),
        ]:
            values.append(Value(text, lambda a, d=dims, t=dtype: a.tensor(d, t), "any"))
    null_ok = function == free_function(kind)  # free(NULL) is a no-op
    values.append(Value("NULL", lambda a: None, "ok" if null_ok else "error", HANDLE, () if null_ok else ("is NULL",)))
    if makeable(kind):
        values.append(Value(f"freed {kind}", lambda a: a.freed(kind), "error", HANDLE, ("was already freed",)))
    for bad in BAD_HANDLE_VALUES:
        values.append(Value(f"{bad:#x}", lambda a, b=bad: b, "error", HANDLE, (f"{bad:#x}", "returned by simple_torch")))
    for other in ("tensor", "stream", "event"):
        if other != kind and makeable(other):
            values.append(Value(f"a {other}", lambda a, o=other: a.make(o), "error", HANDLE,
                                (f"is {article(other)} handle, not {article(kind)} handle",)))
            values.append(Value(f"freed {other}", lambda a, o=other: a.freed(o), "error", HANDLE))
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
    slots, index = [], 0
    while index < len(params):
        param, ctype = params[index], argtypes[index]
        after = params[index + 1] if index + 1 < len(params) else None
        kind = handle_kind(param.base) if param.pointer else None
        if kind and (makeable(kind) or kind == "event"):
            slots.append(handle_values(kind, function))
        elif param.name == "data" and after is not None and after.name == "dims":
            slots.append(dims_values(with_data=True))
        elif param.name == "dims":
            slots.append(reshape_values() if function.endswith("_reshape") else dims_values(with_data=False))
        elif param.name == "managed":
            slots.append(dlpack_values())
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

    odd_data = Value("unaligned data for float64[3]", lambda a: [unaligned(a, 24), a.keep((c_int64 * 1)(3)), 1], width=3)
    cases.append(Case("rt_torch_tensor_from_data", [odd_data, raw("dtype float64", 7)], None))
    odd_out = Value("unaligned out of 72 bytes", lambda a: [unaligned(a, 72), 72], width=2)
    cases.append(Case("rt_torch_torchtensor_copy_to", [tensor((3, 3), 7), odd_out], None))
    return cases


# --- running one case ---------------------------------------------------------------------------

SENTINELS = {_native.NULL: None, _native.MINUS_1: -1, _native.MINUS_2: -2, _native.FALSE: False}
# Functions that report nothing by design, so bad arguments cannot be seen to fail: the
# capsule destructor (only NULL is safe outside CPython) and the finalizers (they ignore them).
UNCHECKABLE = {"rt_torch_dlpack_capsule_destructor"} | {name for name in SIGNATURES if name.endswith("_finalize")}
# Functions that read or clear the error slot, or (the uncheckable ones) leave it alone.
ERROR_SLOT = {"rt_torch_last_error", "rt_torch_last_error_kind", "rt_torch_clear_error"} | UNCHECKABLE


def expectation(case: Case) -> tuple[str, int | None, tuple[str, ...]]:
    """What the case as a whole should do: (outcome, error kind, words of the message).

    A bad handle is reported before anything else. With one bad value the call must fail for
    it; with several, it must fail (kind and words unchecked); a value that may legitimately
    fail or change what else is valid (an "any" value) leaves only the handle rule.
    """
    if case.function in UNCHECKABLE:
        return "any", None, ()
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
    return "ok", None, ()


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
        if HAS_KIND and kind not in (1, 2, 3, 4, 5):
            problems.append(f"last_error_kind() is {kind} after a failure")
        if HAS_KIND and kind == 5:
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
