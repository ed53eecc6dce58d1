"""PyTorch's operator test database (``op_db``) run through ``st.ops.aten`` on the CPU.

For each OpInfo of ``torch.testing._internal.common_methods_invocations.op_db`` selected, this
takes its sample inputs in one dtype (float32 if the op supports it, else the first supported
of int64, bool, complex64, float64, ...; ``--dtype`` or ``name@dtype`` to try another first),
runs the op in torch under a ``TorchDispatchMode`` that records the top-level aten calls, and
for each sample that *lowers to one aten call* replays that call, on fresh copies of the
recorded arguments, through torch (twice) and through ``st.ops.aten.<name>.<overload>``. st
must give what torch gives (``torch.testing.assert_close``, dtypes included, and strides) in
the results and in every tensor argument afterwards (in-place and out= writes); a result that
is an argument in torch must be the same st object, and a result that is a view of an argument
in torch must be one in st. Besides the function variant, the first samples also run as the
op's in-place variant and with ``out=`` where the OpInfo has them (``aten.add_.Tensor``,
``aten.add.out``). Calls that are random, return uninitialized memory, or differ between two
torch runs are compared on shapes and dtypes only.

An OpInfo *passes* when every one of its single-aten samples passes; it counts only if it has
at least one. ``--every-call`` also replays each call of the samples that make several, and
reports those apart.

Error inputs (``op.error_inputs``): each is run in torch under the recorder; when torch's error
came out of an aten call (not from Python checks before any), that call is replayed through st,
which must raise a Python exception: returning a value is a failure. (An error raised by a
CompositeImplicitAutograd kernel, e.g. narrow's checks, happens before the dispatch mode sees
a call, so it does not count as reaching aten.)

st's arguments are made the way an st user makes tensors, in memory libtorch allocated for st
(``st.ops.aten.empty`` + ``set_``), not through ``st.from_torch``: DLPack memory cannot be
resized (out= and resize_ would fail, as for ``torch.from_dlpack``) and loses storage offsets.

The ops run in worker subprocesses, in batches: a crash (segfault, abort) or a hang kills only
the worker; it counts against the op that was running (with the call it was in), and the rest
of the batch goes on in a new worker. ``OP_DB_RUNNER_CRASH_IN=<op>`` makes the worker segfault
in that op's first st call, to test this.

Gradients (``--grad``; ``--grad2`` adds second derivatives): for each OpInfo that supports
autograd, its float64 samples (``op.sample_inputs(device, float64, requires_grad=True)``;
complex128 for an op differentiable only in complex; ``name@dtype`` or ``--dtype`` for another)
run in torch as op_db's gradient tests run them (``gradcheck_wrapper``,
``output_process_fn_grad``), and in st as the aten calls torch makes for them below autograd,
traced with ``make_fx`` (a composite op such as ``linear`` or ``cross_entropy`` as the calls it
decomposes into). The tensors requiring grad, those inside list arguments included, require
grad in st too. st's outputs must equal torch's and require grad where torch's do; then the
gradients of sum(output * w) over the outputs requiring grad, with fixed random weights w (a
seeded numpy generator; complex for complex outputs), with respect to every input requiring
grad, must agree (``st.autograd.grad`` against ``torch.autograd.grad``, ``assert_close`` with
the float64 defaults). With ``--grad2``, for OpInfos with ``supports_gradgrad``: the same with
``create_graph=True`` and the weights requiring grad (as ``gradgradcheck``), then the gradient
of sum(first derivatives * other random weights) with respect to the inputs and the weights.
An OpInfo passes an order when every sample checked agrees and at least one was checked; it
is skipped, with why, when none could be (not differentiable, no float64 gradients, torch
itself raises, no output requires grad, ...). Random ops (dropout) compare against the trace
run in torch, both seeded alike: st draws from the same libtorch generator. Gradients that are
libtorch ZeroTensors are compared as such (see ``_compare_grads``).
``OP_DB_RUNNER_WRONG_GRAD_IN=<op>`` makes st's gradient of that op wrong, to test that a
difference is caught.

Usage::

    python tests/op_db_runner.py --quick                # the representative subset (tests/run)
    python tests/op_db_runner.py --all --json /tmp/op_db.json
    python tests/op_db_runner.py --ops add,conj@complex64,nn.functional.conv2d -v
    python tests/op_db_runner.py --grad2 --quick        # the gradient subset (tests/run)
    python tests/op_db_runner.py --grad2 --all --json /tmp/op_db_grad.json

Needs the ``expecttest`` package (``op_db`` imports it), and torch. ``--device cuda`` runs the samples
on the GPU (the GPU check runs the quick subset so).
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zlib
from concurrent.futures import ThreadPoolExecutor

#: Where the samples live (--device): "cpu", or "cuda" in the GPU check.
DEVICE = "cpu"

# A fixed, representative subset for tests/run, chosen before measuring (not for passing):
# arithmetic, comparisons, reductions, indexing, shape ops, linalg, nn (conv, pooling, norms),
# factories with dtype/device/layout arguments, conversions, random ops, and in-place ops (every
# op below with an in-place variant also runs it); "name@dtype" runs an OpInfo in another dtype
# (conj and lu_solve return tensors with torch's lazy conjugate bit).
QUICK = """
add mul div.floor_rounding pow abs exp clamp addcmul lerp where __rsub__ nan_to_num
eq maximum logical_and bitwise_and
sum mean argmax max.reduction_with_dim var std_mean cumsum all sort topk
index_select gather scatter index_add index_put masked_fill nonzero masked_select
cat stack reshape view transpose squeeze unsqueeze expand flip roll narrow tril diagonal as_strided
mm addmm matmul linalg.qr linalg.eigh linalg.vector_norm
nn.functional.conv2d nn.functional.max_pool2d nn.functional.avg_pool2d softmax log_softmax
nn.functional.relu nn.functional.gelu nn.functional.embedding native_layer_norm
ones full arange linspace eye zeros_like full_like empty randn scalar_tensor to
fill zero_ resize_
add@int32 sum@int64 where@bool cat@float16 mm@complex64 conj@complex64 linalg.lu_solve@complex64
""".split()

# The gradient subset (--grad --quick), chosen the same way: common differentiable OpInfos of
# every kind; composite ones (linear, cross_entropy, layer_norm, ...) run as the aten calls they
# decompose into. QUICK_GRAD2: the ones whose second derivatives --grad2 --quick checks too
# (abs's second derivative with respect to its input is a ZeroTensor: see _compare_grads).
QUICK_GRAD = """
abs neg exp log sin cos tanh sigmoid sqrt rsqrt reciprocal expm1 log1p erf atan asin
add sub mul div.no_rounding_mode pow atan2 maximum minimum hypot lerp addcmul addcdiv clamp where
sum mean prod amax max.reduction_with_dim min.reduction_with_dim var std norm logsumexp cumsum cumprod
linalg.vector_norm
mm bmm addmm matmul mv dot linalg.solve linalg.det
nn.functional.conv2d nn.functional.linear softmax log_softmax nn.functional.layer_norm native_layer_norm
nn.functional.embedding nn.functional.cross_entropy nn.functional.nll_loss nn.functional.mse_loss
nn.functional.relu nn.functional.gelu nn.functional.silu nn.functional.max_pool2d nn.functional.avg_pool2d
nn.functional.batch_norm
index_select gather scatter scatter_add index_add index_put masked_fill masked_select take_along_dim __getitem__
cat stack reshape view permute transpose expand squeeze unsqueeze flip roll narrow tril triu diagonal
as_strided split chunk t repeat clone sort topk
""".split()
QUICK_GRAD2 = """
abs mul div.no_rounding_mode pow tanh sigmoid mm matmul softmax log_softmax nn.functional.conv2d
nn.functional.layer_norm nn.functional.cross_entropy
""".split()

DTYPE_PREFERENCE = ["float32", "int64", "bool", "complex64", "float64", "int32", "float16", "bfloat16", "uint8", "int8", "int16"]
SAMPLES = {"function": 10, "inplace": 3, "out": 3}  # samples tried per variant and OpInfo
ERROR_INPUTS = 20  # error inputs tried per OpInfo
GRAD_SAMPLES = 10  # samples tried per OpInfo in the gradient mode
EVERY_CALL_CAP = 20  # with --every-call, calls replayed per several-call sample
TRUNCATE = 300  # characters kept of an error message


def _short(error: BaseException | str) -> str:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    text = " ".join(text.split())
    return text if len(text) <= TRUNCATE else text[: TRUNCATE - 3] + "..."


def op_key(op) -> str:
    """The OpInfo's unique name: ``name`` or ``name.variant_test_name``."""
    return f"{op.name}.{op.variant_test_name}" if op.variant_test_name else op.name


# ---- the worker: everything below runs in a subprocess and imports torch --------------------


def _storage_key(value):
    """What identifies a tensor's memory, so that copies of tensors sharing it (an out= tensor
    that is also an input, views of one base) share their copy too; None for no memory."""
    pointer = value.untyped_storage().data_ptr()
    return (pointer, value.dtype) if pointer else None


def _exact_clone(value, memo: dict):
    """A copy of a tensor with the same sizes, strides and storage offset (``clone()`` would
    make overlapping or offset tensors contiguous, which changes what as_strided and in-place
    ops on expanded tensors do), sharing memory with the other copies in ``memo`` as the
    originals did; the conj/neg bits are kept."""
    import torch

    if not isinstance(value, torch.Tensor):
        return value
    if ("tensor", id(value)) in memo:  # the same tensor twice (e.g. an input that is out=)
        return memo["tensor", id(value)]
    memo["tensor", id(value)] = copy = _clone_memory(value, memo)
    return copy


def _clone_memory(value, memo: dict):
    import torch

    if value.layout != torch.strided or value.is_quantized or value.is_nested:
        return value.clone()
    key = _storage_key(value)
    storage = memo.get(key) if key else None
    if storage is None:
        storage = value.untyped_storage().clone()
        if key:
            memo[key] = storage
    copy = torch.empty(0, dtype=value.dtype, device=value.device)
    copy.set_(storage, value.storage_offset(), value.size(), value.stride())
    if value.is_neg():
        copy = torch._neg_view(copy)
    return copy.conj() if value.is_conj() else copy


def _copy_leaves(leaves: list) -> list:
    """Exact copies of the tensors among ``leaves`` (aliasing kept), the rest as is."""
    memo: dict = {}
    return [_exact_clone(leaf, memo) for leaf in leaves]


def _copy_tree(tree):
    """``tree`` (args/kwargs: tensors, lists, tuples, dicts) with every tensor copied exactly."""
    from torch.utils._pytree import tree_flatten, tree_unflatten

    leaves, spec = tree_flatten(tree)
    return tree_unflatten(_copy_leaves(leaves), spec)


class Recorder:
    """A dispatch mode that records the top-level aten calls made under it, each with copies of
    its arguments taken before the call (so a later in-place write does not show), and the call
    that raised, if one did. While ``__torch_dispatch__`` runs the mode is off, so the calls a
    kernel makes itself are not seen: only what the Python code under test asked for."""

    def __new__(cls):
        from torch.utils._python_dispatch import TorchDispatchMode

        class _Mode(TorchDispatchMode):
            def __init__(self):
                super().__init__()
                self.calls: list = []  # (func, args, kwargs)
                self.raised = None  # (func, args, kwargs, exception)

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                call = (func, *_copy_tree((args, kwargs)))  # one tree: aliasing between args kept
                self.calls.append(call)
                try:
                    return func(*args, **kwargs)
                except Exception as error:
                    self.raised = (*call, error)
                    raise

        return _Mode()


def _aten_name(func) -> tuple[str, str, str]:
    """(namespace, name, overload) of an OpOverload, e.g. ('aten', 'add', 'Tensor')."""
    namespace, _, name = func._schema.name.partition("::")
    return namespace, name, func._schema.overload_name or "default"


def _call_text(func) -> str:
    return ".".join(_aten_name(func))


# ops (aten or OpInfo names) that return uninitialized memory; _ctc_loss's second result,
# log_alpha, is made by at::empty and filled only up to each batch element's input length
UNINITIALIZED = ("empty", "resize", "_ctc_loss")


def _is_random(func, op) -> bool:
    """Whether two runs of ``func`` may give different values: random ops, and ops returning
    uninitialized memory (e.g. ``empty(out=t)`` lowers to ``aten.resize_``)."""
    import torch

    names = (_aten_name(func)[1], op.name)
    return torch.Tag.nondeterministic_seeded in func.tags or any(word in name for word in UNINITIALIZED for name in names)


def _to_st(value, memo: dict):
    """A recorded argument as a simple_torch user would pass it: tensors as st tensors (see
    :func:`_st_tensor`), torch's dtype/device/layout/memory_format as st's enums; the rest as is."""
    import torch

    import simple_torch as st
    from simple_torch.dtypes import Layout, MemoryFormat

    if isinstance(value, torch.Tensor):
        return _st_tensor(value, memo)
    if isinstance(value, torch.dtype):
        return st.DType.from_any(value)
    if isinstance(value, torch.device):
        return st.Device(str(value))
    if isinstance(value, torch.layout):
        return Layout.from_any(value)
    if isinstance(value, torch.memory_format):
        return MemoryFormat.from_any(value)
    return value  # numbers, strings, None, Generators (which st refuses)


def _st_leaves(leaves: list) -> tuple[list, list]:
    """st versions of ``leaves`` (aliasing kept), and for each the byte range of the st memory
    under it (None for a non-tensor)."""
    memo: dict = {}
    converted = [_to_st(leaf, memo) for leaf in leaves]
    return converted, [memo.get(("range", id(leaf))) for leaf in converted]


def _st_tensor(value, memo: dict):
    """A simple_torch tensor equal to ``value`` with the same sizes, strides and storage offset,
    in memory libtorch allocated for st (as ``st.ops.aten.empty`` makes it), not shared with
    torch, and sharing memory with the other tensors in ``memo`` as the originals did.
    (``st.from_torch`` would share torch's memory through DLPack, whose storage cannot be
    resized, so out= and resize_ would fail as they do for ``torch.from_dlpack`` tensors, and
    which drops the storage offset.) torch's lazy conj/neg bits are applied to the copied
    memory (st tensors have none), so the strides stay as they were."""
    import torch

    import simple_torch as st

    if ("tensor", id(value)) in memo:  # the same tensor twice (e.g. an input that is out=)
        return memo["tensor", id(value)]
    if value.layout != torch.strided:
        return st.from_torch(value)  # fails: st takes strided tensors only
    dtype = st.DType.from_any(value.dtype)
    key = _storage_key(value)
    key = key and (*key, value.is_conj(), value.is_neg())
    flat = memo.get(key) if key else None
    if flat is None:  # the whole storage, as one flat st tensor
        count = value.untyped_storage().nbytes() // value.element_size()
        flat = st.ops.aten.empty.memory_format([count], dtype=dtype, device=str(value.device))
        memory = flat.to_torch()
        memory.copy_(torch.empty(0, dtype=value.dtype, device=value.device).set_(value.untyped_storage(), 0, (count,), (1,)))
        if value.is_conj():
            memory.conj_physical_()
        if value.is_neg():
            memory.neg_()
        if key:
            memo[key] = flat
    tensor = st.ops.aten.empty.memory_format([0], dtype=dtype)
    tensor = st.ops.aten.set_.source_Tensor_storage_offset(
        tensor, flat, value.storage_offset(), list(value.size()), list(value.stride())
    )
    memo["tensor", id(value)] = tensor
    memo["range", id(tensor)] = _st_byte_range(flat)
    return tensor


def _byte_range(tensor) -> tuple[int, int] | None:
    """The bytes a (torch) tensor's elements span, [start, end); None when it has none."""
    if tensor.numel() == 0:
        return None
    start = tensor.data_ptr()
    last = sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride()))
    return start, start + (last + 1) * tensor.element_size()


def _st_byte_range(tensor) -> tuple[int, int] | None:
    """The same for an st tensor, read from st itself: exporting it could copy (a tensor with the
    lazy conjugate bit, e.g. aten._conj's view, is exported resolved)."""
    if tensor.numel() == 0:
        return None
    start = tensor.data_ptr()
    last = sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride()))
    return start, start + (last + 1) * tensor.dtype.itemsize


def _check_aliasing(position, theirs, ours, theirs_leaves, ours_leaves, ranges) -> None:
    """A result that is an argument in torch (in-place, out=) must be the same st object; one
    that is a view of an argument in torch must lie in that argument's st memory, and one that
    is not must not (a copy where torch gives a view would hide writes, and the reverse would
    make them)."""
    import torch

    import simple_torch as st

    if not isinstance(theirs, torch.Tensor) or not isinstance(ours, st.TorchTensorWrapper):
        return
    mine = _st_byte_range(ours)
    for index, its in enumerate(theirs_leaves):
        if not isinstance(its, torch.Tensor):
            continue
        if theirs is its:
            if ours is not ours_leaves[index]:
                raise AssertionError(f"result[{position}] is argument {index} in torch, a new object in st")
            continue  # (its memory may have moved: out= resizes)
        shares = theirs.numel() > 0 and its.untyped_storage().data_ptr() == theirs.untyped_storage().data_ptr() != 0
        inside = mine is not None and ranges[index] is not None and ranges[index][0] <= mine[0] and mine[1] <= ranges[index][1]
        if shares and not inside:
            raise AssertionError(f"result[{position}] is a view of argument {index} in torch, not in st")
        if inside and not shares:
            raise AssertionError(f"result[{position}] shares argument {index}'s memory in st, not in torch")


def _compare(ours, theirs, exact: bool, where: str) -> None:
    """AssertionError unless ``ours`` (st's value, or torch's from a second run) equals torch's
    ``theirs``, recursively: values by ``assert_close`` (dtype and device included) and the
    strides of dimensions longer than 1 when ``exact``, else only shapes and dtypes."""
    import torch

    import simple_torch as st

    if isinstance(theirs, torch.Tensor):
        if not isinstance(ours, (st.TorchTensorWrapper, torch.Tensor)):
            raise AssertionError(f"{where}: torch gives a tensor, st a {type(ours).__name__}")
        mine = ours.to_torch() if isinstance(ours, st.TorchTensorWrapper) else ours
        if mine.shape != theirs.shape or mine.dtype != theirs.dtype:
            raise AssertionError(f"{where}: {mine.dtype}{list(mine.shape)} != torch's {theirs.dtype}{list(theirs.shape)}")
        if exact:
            torch.testing.assert_close(mine, theirs, equal_nan=True, msg=lambda m: f"{where}: {m}")
            strides = [] if theirs.layout != torch.strided else zip(theirs.shape, mine.stride(), theirs.stride())
            if any(a != b for size, a, b in strides if size > 1):
                raise AssertionError(f"{where}: strides {mine.stride()} != torch's {theirs.stride()}")
    elif isinstance(theirs, (list, tuple)):
        if not isinstance(ours, (list, tuple)) or len(ours) != len(theirs):
            raise AssertionError(f"{where}: torch gives {type(theirs).__name__} of {len(theirs)}, st {ours!r:.100}")
        for index, (mine, its) in enumerate(zip(ours, theirs)):
            _compare(mine, its, exact, f"{where}[{index}]")
    elif isinstance(theirs, torch.dtype):
        if (ours.to_torch() if isinstance(ours, st.DType) else ours) != theirs:
            raise AssertionError(f"{where}: torch gives {theirs}, st {ours!r}")
    elif isinstance(theirs, (torch.device, torch.layout, torch.memory_format)):
        if str(ours).removeprefix("torch.") != str(theirs).removeprefix("torch."):
            raise AssertionError(f"{where}: torch gives {theirs}, st {ours!r}")
    elif isinstance(theirs, (bool, int, float, complex)):
        if type(ours) is not type(theirs):
            raise AssertionError(f"{where}: torch gives {type(theirs).__name__} {theirs!r}, st {type(ours).__name__} {ours!r}")
        if exact:
            torch.testing.assert_close(ours, theirs, equal_nan=True, msg=lambda m: f"{where}: {m}")
    elif ours != theirs:
        raise AssertionError(f"{where}: torch gives {theirs!r}, st {ours!r}")


class Worker:
    """Runs OpInfos and writes one JSON line per event to ``out`` (flushed at once, so the
    parent knows which op and which call was running if this process dies)."""

    def __init__(self, out, dtype: str | None = None, every_call: bool = False):
        self.out, self.every_call = out, every_call
        self.op = None
        self.preference = ([dtype] if dtype else []) + DTYPE_PREFERENCE

    def emit(self, **event) -> None:
        self.out.write(json.dumps(event) + "\n")
        self.out.flush()

    def phase(self, text: str) -> None:
        self.emit(event="phase", op=self.op, phase=text)

    # -- one call, replayed --

    def replay(self, call, op) -> str | None:
        """Runs the recorded ``(func, args, kwargs)`` through torch (twice) and through st, on
        fresh copies, and raises AssertionError (or st's error) if st differs from torch: in
        the results, in the tensor arguments afterwards (in-place and out= writes), in which
        results are arguments, and in which results share memory with an argument (views).
        Returns a note when only shapes and dtypes could be compared."""
        import simple_torch as st
        from torch.utils._pytree import tree_flatten, tree_unflatten

        func, args, kwargs = call
        namespace, name, overload = _aten_name(func)
        leaves, spec = tree_flatten((args, kwargs))

        def run_torch():
            copies = _copy_leaves(leaves)
            call_args, call_kwargs = tree_unflatten(copies, spec)
            return copies, func(*call_args, **call_kwargs)

        self.phase(f"torch {_call_text(func)}")
        theirs_leaves, expected = run_torch()
        note = None
        if _is_random(func, op):
            note = "random or uninitialized: shapes and dtypes compared"
        else:
            try:  # torch against itself: kernels that leave memory uninitialized differ
                _compare(run_torch()[1], expected, True, "torch")
            except AssertionError:
                note = "torch differs from itself: shapes and dtypes compared"
        exact = note is None

        ours_leaves, ranges = _st_leaves(leaves)
        ours_args, ours_kwargs = tree_unflatten(ours_leaves, spec)
        overload_fn = getattr(getattr(getattr(st.ops, namespace), name), overload)
        self.phase(f"st {_call_text(func)}")
        if os.environ.get("OP_DB_RUNNER_CRASH_IN") == self.op:  # for testing the crash handling
            os.kill(os.getpid(), signal.SIGSEGV)
        got = overload_fn(*ours_args, **ours_kwargs)

        _compare(got, expected, exact, "result")
        for index, (mine, its) in enumerate(zip(ours_leaves, theirs_leaves)):
            if isinstance(mine, st.TorchTensorWrapper):
                _compare(mine, its, exact, f"argument {index} afterwards")
        expected_flat, got_flat = tree_flatten(expected)[0], tree_flatten(got)[0]
        for position, (result, mine) in enumerate(zip(expected_flat, got_flat)):
            _check_aliasing(position, result, mine, theirs_leaves, ours_leaves, ranges)
        return note

    # -- one OpInfo --

    def samples(self, op, dtype, variant: str):
        """The (label, callable) pairs to record for one variant, the samples made up front
        (outside the recorder: making them calls aten too)."""
        import itertools

        import torch

        function = {"function": op, "inplace": op.inplace_variant, "out": op}[variant]
        if function is None or (variant == "out" and not op.supports_out):
            return []
        samples = list(itertools.islice(op.sample_inputs(DEVICE, dtype, requires_grad=False), SAMPLES[variant]))
        pairs = []
        for index, sample in enumerate(samples):
            label = f"{variant[0]}{index}"
            if variant == "inplace" and not isinstance(sample.input, torch.Tensor):
                continue
            if variant == "out":
                try:  # out= needs a tensor of the result's dtype; torch resizes it
                    result = op(sample.input, *sample.args, **sample.kwargs)
                except Exception:  # noqa: BLE001 - torch refuses this sample; nothing to compare
                    continue
                if not isinstance(result, torch.Tensor):
                    continue
                out = torch.empty(0, dtype=result.dtype, device=result.device)
                pairs.append((label, lambda s=sample, o=out: op(s.input, *s.args, out=o, **s.kwargs)))
            else:
                pairs.append((label, lambda s=sample, f=function: f(s.input, *s.args, **s.kwargs)))
        return pairs

    def run_op(self, op, key: str, dtype: str | None = None) -> dict:
        import torch

        supported = {str(d).removeprefix("torch.") for d in op.supported_dtypes(DEVICE)}
        preference = ([dtype] if dtype else []) + self.preference
        dtype_name = next((d for d in preference if d in supported), min(supported, default=None))
        result = {"op": key, "dtype": dtype_name, "samples": 0, "single": 0, "passed": 0}
        result.update(variants={}, calls=[], failures=[], notes=[])
        # why the other samples were not replayed: torch raised, no aten call, several, not aten
        lowering = result["lowering"] = {"torch_error": 0, "no_call": 0, "several_calls": 0, "not_aten": 0}
        if dtype_name is None:
            result["notes"].append(f"no dtype supported on {DEVICE}")
            return result
        dtype = getattr(torch, dtype_name)
        calls = set()
        for variant in SAMPLES:
            torch.manual_seed(0)
            try:
                pairs = self.samples(op, dtype, variant)
            except Exception as error:  # noqa: BLE001 - a broken sample generator is reported, not fatal
                result["notes"].append(f"{variant} samples: {_short(error)}")
                continue
            counts = result["variants"].setdefault(variant, [0, 0])  # [single-aten samples, passed]
            for label, run in pairs:
                result["samples"] += 1
                recorder = Recorder()
                self.phase(f"record {label}")
                try:
                    with recorder:
                        run()
                except Exception:  # noqa: BLE001 - torch refuses this sample (e.g. in-place dtype)
                    lowering["torch_error"] += 1
                    continue
                aten = recorder.calls
                if len(aten) != 1 or _aten_name(aten[0][0])[0] != "aten":
                    lowering["no_call" if not aten else "several_calls" if len(aten) > 1 else "not_aten"] += 1
                    if self.every_call and len(aten) > 1:
                        tally = result.setdefault("every_call", {"calls": 0, "passed": 0, "failures": []})
                        self.replay_each(aten, op, label, tally)
                    continue
                call_name = _call_text(aten[0][0])
                calls.add(call_name)
                result["single"] += 1
                counts[0] += 1
                try:
                    note = self.replay(aten[0], op)
                    if note:
                        result["notes"].append(f"{label} {call_name}: {note}")
                except Exception as error:  # noqa: BLE001 - any difference or st error fails the sample
                    result["failures"].append({"sample": label, "call": call_name, "error": _short(error)})
                    continue
                result["passed"] += 1
                counts[1] += 1
        result["calls"] = sorted(calls)
        result["errors"] = self.run_error_inputs(op)
        return result

    def replay_each(self, calls: list, op, label: str, tally: dict) -> None:
        """--every-call: replays each aten call of a sample that makes several (up to
        EVERY_CALL_CAP), each on the arguments it was given, counted apart from the headline."""
        for index, call in enumerate(calls[:EVERY_CALL_CAP]):
            if _aten_name(call[0])[0] != "aten":
                continue
            tally["calls"] += 1
            try:
                self.replay(call, op)
            except Exception as error:  # noqa: BLE001
                tally["failures"].append({"sample": f"{label}#{index}", "call": _call_text(call[0]), "error": _short(error)})
                continue
            tally["passed"] += 1

    def run_error_inputs(self, op) -> dict:
        """Error inputs that reach aten, replayed through st: each must raise."""
        import itertools

        summary = {"total": 0, "reach_aten": 0, "raised": 0, "returned": []}
        if op.error_inputs_func is None:
            return summary
        try:
            errors = list(itertools.islice(op.error_inputs(DEVICE), ERROR_INPUTS))
        except Exception as error:  # noqa: BLE001
            summary["note"] = _short(error)
            return summary
        for index, error_input in enumerate(errors):
            sample = error_input.sample_input
            summary["total"] += 1
            recorder = Recorder()
            self.phase(f"record error input {index}")
            try:
                with recorder:
                    op(sample.input, *sample.args, **sample.kwargs)
                continue  # torch did not raise (the OpInfo expects it to); nothing to check
            except Exception as error:  # noqa: BLE001
                raised = recorder.raised
                if raised is None or not _caused_by(error, raised[3]):
                    continue  # raised by Python code, before or outside any aten call
            func, args, kwargs, _ = raised
            summary["reach_aten"] += 1
            self.phase(f"st error input {index} {_call_text(func)}")
            try:
                self.replay_for_error((func, args, kwargs))
            except Exception:  # noqa: BLE001 - what we want: st raised
                summary["raised"] += 1
                continue
            summary["returned"].append({"input": index, "call": _call_text(func), "torch_error": _short(raised[3])})
        return summary

    def replay_for_error(self, call) -> None:
        import simple_torch as st
        from torch.utils._pytree import tree_flatten, tree_unflatten

        func, args, kwargs = call
        namespace, name, overload = _aten_name(func)
        leaves, spec = tree_flatten((args, kwargs))
        ours_args, ours_kwargs = tree_unflatten(_st_leaves(leaves)[0], spec)
        getattr(getattr(getattr(st.ops, namespace), name), overload)(*ours_args, **ours_kwargs)

    def run(self, keys: list[str]) -> None:
        import warnings

        import torch
        from torch.testing._internal.common_methods_invocations import op_db

        import simple_torch.ops  # noqa: F401 - st.ops, whether or not simple_torch/__init__ imports it

        warnings.simplefilter("ignore")
        torch.set_num_threads(1)  # the parent runs --jobs workers side by side
        by_key = {op_key(op): op for op in op_db}
        for key in keys:
            self.op = key
            self.emit(event="start", op=key)
            name, _, dtype = key.partition("@")  # "name@dtype": this OpInfo in that dtype
            op = by_key.get(name)
            if op is None:
                self.emit(event="result", op=key, status="unknown", result={"op": key, "notes": ["not in op_db"]})
                continue
            try:
                result = self.run_op(op, key, dtype)
            except Exception:  # noqa: BLE001 - a bug of this runner for this op, reported
                result = {"op": key, "notes": [_short(traceback.format_exc(limit=3))], "single": 0, "failures": []}
                self.emit(event="result", op=key, status="runner_error", result=result)
                continue
            self.emit(event="result", op=key, status=self.status_of(result), result=result)

    def status_of(self, result: dict) -> str:
        return "none" if result["single"] == 0 else "pass" if not result["failures"] else "fail"


# ---- gradient mode (--grad, --grad2): st.autograd against torch.autograd ---------------------


class _Skip(Exception):
    """A sample the gradient check cannot use, and why: not a failure of st."""


def _weights(rng, tensors: list) -> list:
    """Fixed random cotangents, one per tensor, of its shape and dtype (complex ones for complex
    tensors), from the seeded numpy generator ``rng``: the gradient taken with them as
    ``grad_outputs`` is the gradient of sum(output * weight) over the outputs."""
    import numpy as np
    import torch

    weights = []
    for tensor in tensors:
        values = rng.standard_normal(tuple(tensor.shape))
        if tensor.is_complex():
            values = values + 1j * rng.standard_normal(tuple(tensor.shape))
        weights.append(torch.from_numpy(np.asarray(values)).to(device=tensor.device, dtype=tensor.dtype))
    return weights


def _compare_grads(ours, theirs, what: str) -> int:
    """st's gradients (a tuple with Nones) against torch's, position by position. Returns how
    many were libtorch ZeroTensors: zeros without memory (``_efficientzerotensor``), which some
    derivatives give (sgn's, so abs's second derivative) in torch as in st. They must be
    ZeroTensors in both, and st's must read as zeros (numpy(), to_torch() and copies export
    real zeros for them)."""
    import torch

    import simple_torch as st

    zero_tensors = 0
    for index, (mine, its) in enumerate(zip(ours, theirs, strict=True)):
        if (mine is None) != (its is None):
            given = lambda g: "none" if g is None else "one"  # noqa: E731
            raise AssertionError(f"{what} {index}: torch gives {given(its)}, st {given(mine)}")
        if its is None:
            continue
        if st.ops.aten._is_zerotensor.default(mine):
            if not torch._is_zerotensor(its):
                raise AssertionError(f"{what} {index}: st gives a ZeroTensor, torch {its!r:.100}")
            zero_tensors += 1
            its = torch.zeros(its.shape, dtype=its.dtype, device=its.device)  # what torch's reads as
        _compare(mine.detach(), its.detach(), True, f"{what} {index}")
    return zero_tensors


def _requires_grad_alike(ours, theirs, what: str) -> None:
    """Tensors that require grad in torch must in st (st would lose the graph), and the reverse."""
    import torch

    import simple_torch as st

    for index, (mine, its) in enumerate(zip(ours, theirs)):
        if isinstance(its, torch.Tensor) and isinstance(mine, st.TorchTensorWrapper) and mine.requires_grad != its.requires_grad:
            raise AssertionError(f"{what} {index}: requires_grad is {its.requires_grad} in torch, {mine.requires_grad} in st")


class _GradCase:
    """One sample ready for the gradient check: its tensors (in ``tree_flatten`` order, tensors
    inside list arguments included), which of them require grad, the function of the tensors
    that runs the op as op_db's gradient tests do (``gradcheck_wrapper``, then the sample's
    ``output_process_fn_grad``), and that function traced into aten calls (``make_fx``), for
    st to replay."""

    def __init__(self, op, sample, seed: list[int]):
        import torch
        from torch.fx.experimental.proxy_tensor import make_fx
        from torch.utils._pytree import tree_flatten, tree_unflatten

        leaves, spec = tree_flatten((sample.input, sample.args, sample.kwargs))
        positions = [i for i, leaf in enumerate(leaves) if isinstance(leaf, torch.Tensor)]
        self.tensors = [leaves[i] for i in positions]
        self.wants = [tensor.requires_grad for tensor in self.tensors]
        self.seed = seed
        if not any(self.wants):
            raise _Skip("no input requires grad")
        if any(tensor.layout != torch.strided for tensor in self.tensors):
            raise _Skip("a sparse input (st takes strided tensors only)")

        def function(*tensors):
            full = list(leaves)
            for position, tensor in zip(positions, tensors):
                full[position] = tensor
            first, args, kwargs = tree_unflatten(full, spec)
            output = op.gradcheck_wrapper(op.get_op(), first, *args, **kwargs)
            return sample.output_process_fn_grad(output) if sample.output_process_fn_grad else output

        self.function = function
        # the inputs to differentiate with respect to: the tensors requiring grad, each once
        self.inputs = []
        for i, tensor in enumerate(self.tensors):
            if self.wants[i] and all(tensor is not self.tensors[j] for j in self.inputs):
                self.inputs.append(i)
        # st runs the op as the aten calls torch makes below autograd (what a dispatch mode sees),
        # traced on copies: a CompositeImplicitAutograd op as the calls it decomposes into, whose
        # own derivatives give its gradient, in st as in torch. A value the op reads from a
        # tensor (narrow's start, a check with aten.equal) is read from the real tensor and kept
        # in the trace, which st replays on the same values.
        torch.manual_seed(0)
        try:
            self.graph = make_fx(function, _error_on_data_dependent_ops=False)(*self.leaves()[0])
        except Exception as error:  # noqa: BLE001 - e.g. a sample torch refuses
            raise _Skip(f"torch raised while tracing: {_short(error)}") from None
        for node in self.graph.graph.nodes:
            target = node.target
            if node.op == "call_function" and not (isinstance(target, torch._ops.OpOverload) or target is operator.getitem):
                raise _Skip(f"the trace calls {getattr(target, '__name__', target)}, not an operator")
        # Random ops: st draws from the generator torch does (libtorch's default), seeded alike
        # before each run, but an OpInfo may seed it itself in Python (op_db's wrapper_set_seed),
        # which the trace does not show: torch's reference is then the trace itself.
        self.random = any(
            torch.Tag.nondeterministic_seeded in node.target.tags
            for node in self.graph.graph.nodes
            if isinstance(node.target, torch._ops.OpOverload)
        )

    def reference(self, leaves: list):
        """torch's outputs for the copies ``leaves``: the op's, or the trace's for random ops."""
        return (self.graph if self.random else self.function)(*leaves)

    def leaves(self) -> tuple[list, list]:
        """Fresh exact copies of the tensors, requiring grad where the sample's do (leaves
        now, where a sample's was a view: the gradient with respect to it is the same), and the
        inputs to differentiate."""
        copies = _copy_leaves(self.tensors)
        for copy, wants in zip(copies, self.wants):
            if wants and not copy.requires_grad:
                copy.requires_grad_()
        return copies, [copies[i] for i in self.inputs]

    def st_leaves(self) -> tuple[list, list]:
        """The same as st tensors (made as the forward mode makes them: see _st_tensor)."""
        import torch

        memo: dict = {}
        with torch.no_grad():
            converted = [_st_tensor(tensor, memo) for tensor in self.tensors]  # (memo: by id, so not detached copies)
        for tensor, wants in zip(converted, self.wants):
            if wants and not tensor.requires_grad:
                tensor.requires_grad_()
        return converted, [converted[i] for i in self.inputs]


class GradWorker(Worker):
    """--grad: for each OpInfo that supports autograd, its float64 samples (``requires_grad=True``)
    run in torch and, as the aten calls they make, in st; the gradients of a random scalar
    function of the outputs, with respect to every input requiring grad, must agree; with
    ``order=2`` also the second derivatives for OpInfos with ``supports_gradgrad``."""

    def __init__(self, out, dtype: str | None = None, order: int = 1, second_only: set | None = None):
        super().__init__(out)
        self.dtype, self.order, self.second_only = dtype or "float64", order, second_only

    def status_of(self, result: dict) -> str:
        return result["grad"]["status"]

    def run_op(self, op, key: str, dtype: str | None = None) -> dict:
        import itertools

        import torch

        # float64, or complex128 for the few ops differentiable only in complex (view_as_real, imag)
        backward = {str(d).removeprefix("torch.") for d in op.supported_backward_dtypes(DEVICE)}
        candidates = [dtype] if dtype else [self.dtype, "complex128"]
        dtype_name = next((d for d in candidates if d in backward), candidates[0])
        result = {"op": key, "dtype": dtype_name, "samples": 0, "grad": _tally(), "grad2": _tally(), "notes": []}
        if self.order < 2:
            result["grad2"].update(status="not_run", reason="--grad2 not given")
        elif not op.supports_gradgrad:
            result["grad2"].update(status="skip", reason="no second derivatives (supports_gradgrad=False)")
        elif self.second_only is not None and key not in self.second_only:
            result["grad2"].update(status="not_run", reason="not in the quick second-derivative list")
        second = result["grad2"]["status"] is None
        why = None
        if not op.supports_autograd:
            why = "not differentiable (supports_autograd=False)"
        elif dtype_name not in backward:
            why = f"no {' or '.join(candidates)} gradients on {DEVICE}"
            result["notes"].append(f"backward dtypes on {DEVICE}: {', '.join(sorted(backward)) or 'none'}")
        else:
            torch.manual_seed(0)
            try:
                samples = list(itertools.islice(op.sample_inputs(DEVICE, getattr(torch, dtype_name), requires_grad=True), GRAD_SAMPLES))
            except Exception as error:  # noqa: BLE001 - a broken sample generator is reported, not fatal
                samples, why = [], f"samples: {_short(error)}"
            why = why or (None if samples else f"no {dtype_name} samples")
        if why:
            for order in ("grad", "grad2"):
                if result[order]["status"] is None:
                    result[order].update(status="skip", reason=why)
            return result
        for index, sample in enumerate(samples):
            label = f"g{index}"
            result["samples"] += 1
            seed = [zlib.crc32(key.encode()), index]
            self.phase(f"trace {label}")
            try:
                case = _GradCase(op, sample, seed)
            except _Skip as skip:
                _count_skip(result["grad"], str(skip))
                if second:
                    _count_skip(result["grad2"], str(skip))
                continue
            for order, tally in [(1, result["grad"]), (2, result["grad2"])][: 2 if second else 1]:
                try:
                    zero_tensors = self.check(case, order, label)
                except _Skip as skip:
                    _count_skip(tally, str(skip))
                except Exception as error:  # noqa: BLE001 - any difference or st error fails the sample
                    tally["failures"].append({"sample": label, "error": _short(error)})
                else:
                    tally["passed"] += 1
                    tally["zero_tensor_samples"] += zero_tensors > 0
        for tally in (result["grad"], result["grad2"]):
            if tally["status"] is None:
                tally["status"] = "fail" if tally["failures"] else "pass" if tally["passed"] else "skip"
                if tally["status"] == "skip":  # the reason most samples gave
                    tally["reason"] = max(tally["skipped"], key=tally["skipped"].get)
        return result

    def check(self, case: _GradCase, order: int, label: str) -> int:
        """First (``order=1``) or second derivatives of one sample, torch's against st's.
        Raises _Skip where torch itself cannot differentiate it, AssertionError (or st's error)
        where st differs. For the second derivatives the first ones are recorded
        (``create_graph=True``) with the cotangents requiring grad too, as ``gradgradcheck``
        does, so that a linear op's second derivative (with respect to the cotangent) is
        checked too, and the gradient of sum(first derivatives * other random weights) is
        taken with respect to the inputs and the cotangents. Returns how many of the gradients
        were ZeroTensors (see _compare_grads)."""
        import numpy as np
        import torch
        from torch.utils._pytree import tree_flatten

        import simple_torch as st

        rng = np.random.default_rng([*case.seed, order])
        create = order == 2

        # torch, the reference: the op itself (the trace for random ops) on fresh copies
        self.phase(f"torch {label} order {order}")
        leaves, inputs = case.leaves()
        torch.manual_seed(0)
        try:
            outputs = tree_flatten(case.reference(leaves))[0]
        except Exception as error:  # noqa: BLE001
            raise _Skip(f"torch raised: {_short(error)}") from None
        differentiable = [i for i, out in enumerate(outputs) if isinstance(out, torch.Tensor) and out.requires_grad]
        if not differentiable:
            raise _Skip("no output requires grad")
        weights = [w.requires_grad_(create) for w in _weights(rng, [outputs[i] for i in differentiable])]
        try:
            grads = torch.autograd.grad([outputs[i] for i in differentiable], inputs, weights, allow_unused=True, create_graph=create)
        except Exception as error:  # noqa: BLE001 - e.g. a derivative torch does not implement
            raise _Skip(f"torch's backward raised: {_short(error)}") from None
        if create:
            grads_used = [k for k, g in enumerate(grads) if g is not None and g.requires_grad]
            if not grads_used:
                raise _Skip("the first derivatives depend on nothing that requires grad")
            weights2 = _weights(rng, [grads[k] for k in grads_used])
            try:
                grads2 = torch.autograd.grad([grads[k] for k in grads_used], inputs + weights, weights2, allow_unused=True)
            except Exception as error:  # noqa: BLE001
                raise _Skip(f"torch's double backward raised: {_short(error)}") from None

        # st: the traced aten calls, on the same values, with the same weights
        ours_leaves, ours_inputs = case.st_leaves()
        torch.manual_seed(0)  # st and torch share libtorch's default generator: random ops agree
        ours = tree_flatten(self.replay_graph(case.graph, ours_leaves, label))[0]
        if len(ours) != len(outputs):
            raise AssertionError(f"forward: {len(ours)} outputs in st, {len(outputs)} in torch")
        for index, (mine, its) in enumerate(zip(ours, outputs)):
            plain = mine.detach() if isinstance(mine, st.TorchTensorWrapper) else mine
            _compare(plain, its.detach() if isinstance(its, torch.Tensor) else its, True, f"forward output {index}")
        _requires_grad_alike(ours, outputs, "output")
        ours_weights = [_st_tensor(w.detach(), {}).requires_grad_(create) for w in weights]
        self.phase(f"st {label} backward order {order}")
        if os.environ.get("OP_DB_RUNNER_WRONG_GRAD_IN") == self.op:  # for testing that a difference is caught
            ours_weights[0] = st.ops.aten.mul.Scalar(ours_weights[0], 1.001)
        ours_grads = st.autograd.grad([ours[i] for i in differentiable], ours_inputs, ours_weights, allow_unused=True, create_graph=create)
        zero_tensors = _compare_grads(ours_grads, grads, "gradient wrt input")
        if create:
            _requires_grad_alike(ours_grads, grads, "gradient wrt input")
            ours_weights2 = [_st_tensor(w, {}) for w in weights2]
            self.phase(f"st {label} double backward")
            ours_grads2 = st.autograd.grad([ours_grads[k] for k in grads_used], ours_inputs + ours_weights, ours_weights2, allow_unused=True)
            zero_tensors += _compare_grads(ours_grads2, grads2, "second derivative wrt (inputs, then cotangents)")
        return zero_tensors

    def replay_graph(self, graph, leaves: list, label: str):
        """Runs the traced aten calls through ``st.ops.<namespace>.<name>.<overload>`` on the
        st tensors ``leaves`` (the graph's placeholders, in order); returns its output, st
        tensors where torch's trace has tensors."""
        import torch

        import simple_torch as st

        values: dict = {}
        placeholders = iter(leaves)

        def argument(value):
            if isinstance(value, torch.fx.Node):
                return values[value]
            if isinstance(value, (list, tuple)):
                return type(value)(argument(v) for v in value) if type(value) in (list, tuple) else [argument(v) for v in value]
            if isinstance(value, dict):
                return {k: argument(v) for k, v in value.items()}
            return _to_st(value, {})

        for node in graph.graph.nodes:
            if node.op == "placeholder":
                values[node] = next(placeholders)
            elif node.op == "get_attr":  # a tensor the traced code made from Python data
                with torch.no_grad():
                    values[node] = _st_tensor(getattr(graph, node.target).detach(), {})
            elif node.op == "call_function" and node.target is operator.getitem:
                values[node] = values[node.args[0]][node.args[1]]
            elif node.op == "call_function":
                namespace, name, overload = _aten_name(node.target)
                self.phase(f"st {label} {namespace}.{name}.{overload}")
                function = getattr(getattr(getattr(st.ops, namespace), name), overload)
                try:
                    values[node] = function(*argument(node.args), **argument(node.kwargs))
                except Exception as error:
                    raise AssertionError(f"forward: {namespace}.{name}.{overload}: {_short(error)}") from None
            elif node.op == "output":
                return argument(node.args[0])
        raise AssertionError("the trace has no output")


def _tally() -> dict:
    """One order's figures for an OpInfo: samples passed, failed (with why), skipped (by reason)."""
    return {"status": None, "passed": 0, "failures": [], "skipped": {}, "reason": None, "zero_tensor_samples": 0}


def _count_skip(tally: dict, reason: str) -> None:
    tally["skipped"][reason] = tally["skipped"].get(reason, 0) + 1


def _caused_by(error: BaseException, cause: BaseException) -> bool:
    """Whether ``error`` is ``cause`` or was raised from or while handling it."""
    seen = set()
    while error is not None and id(error) not in seen:
        if error is cause:
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


# ---- the parent: runs workers, catches crashes, sums up -------------------------------------


def run_batch(keys: list[str], timeout: float, extra: list[str], log=None) -> dict[str, dict]:
    """Runs ``keys`` in worker subprocesses: a new worker for the rest of the batch after one
    crashes or hangs. Returns key -> {"status", "result", ...}."""
    done: dict[str, dict] = {}
    pending = list(keys)
    while pending:
        with tempfile.NamedTemporaryFile("w+", suffix=".jsonl", delete=False) as handle:
            path = handle.name
        command = [sys.executable, os.path.abspath(__file__), "--worker", "--ops", ",".join(pending), "--out", path]
        command += extra  # options passed on to the worker
        with open(os.devnull, "w") as null:
            process = subprocess.Popen(command, stdout=null, stderr=subprocess.PIPE, text=True)
        # stderr is drained by a thread so a chatty worker cannot block on a full pipe
        stderr: list[str] = []
        drain = threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True)
        drain.start()
        current, phase, started, buffer = None, None, time.monotonic(), ""
        timed_out = False
        with open(path) as reader:
            while True:
                exited = process.poll() is not None
                buffer += reader.read()
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    event = json.loads(line)
                    if event["event"] == "start":
                        current, phase, started = event["op"], None, time.monotonic()
                    elif event["event"] == "phase":
                        phase = event["phase"]
                    elif event["event"] == "result":
                        done[event["op"]] = {"status": event["status"], "result": event["result"]}
                        current = None
                        if log:
                            log(event["op"], event["status"])
                if exited:
                    break
                if current is not None and time.monotonic() - started > timeout:
                    process.kill()
                    timed_out = True
                    process.wait()
                    continue  # read what is left, then stop
                time.sleep(0.05)
        os.unlink(path)
        drain.join(timeout=5)
        code = process.returncode
        if current is not None:  # it died (or hung) while running this op
            where = f"in {phase}" if phase else "before its first call"
            status = "timeout" if timed_out else "crash"
            reason = f"no result after {timeout:.0f}s, {where}" if timed_out else f"worker died ({_signal_name(code)}) {where}"
            tail = _short("".join(stderr[-5:])) if stderr and not timed_out else ""
            notes = [n for n in (reason, tail) if n]
            result = {"op": current, "single": 0, "failures": [], "notes": notes}
            done[current] = {"status": status, "result": result, "phase": phase}
            if log:
                log(current, status)
        elif code != 0 and not done.keys() & set(pending):
            # died before starting anything (e.g. import error): report the whole batch
            notes = [_short("".join(stderr[-20:]))]
            for key in pending:
                done[key] = {"status": "runner_error", "result": {"op": key, "single": 0, "failures": [], "notes": notes}}
        pending = [key for key in pending if key not in done]
    return done


def _signal_name(code: int) -> str:
    if code is not None and code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def summarize(results: dict[str, dict]) -> dict:
    """The figures: OpInfos with single-aten samples, passed, failed, crashes, error inputs."""
    counted = {k: v for k, v in results.items() if v["status"] in ("pass", "fail", "crash", "timeout")}
    passed = [k for k, v in counted.items() if v["status"] == "pass"]
    function_only = {}
    for key, value in counted.items():  # the figure without the in-place and out= samples
        single, ok = value["result"].get("variants", {}).get("function", [0, 0])
        if single:
            function_only[key] = single == ok
    errors = [v["result"].get("errors", {}) for v in results.values()]
    samples = {"tried": 0, "single_aten": 0, "passed": 0, "torch_error": 0, "no_call": 0, "several_calls": 0, "not_aten": 0}
    for value in results.values():
        result = value["result"]
        samples["tried"] += result.get("samples", 0)
        samples["single_aten"] += result.get("single", 0)
        samples["passed"] += result.get("passed", 0)
        for why, count in result.get("lowering", {}).items():
            samples[why] += count
    return {
        "opinfos": len(results),
        "with_single_aten_samples": len(counted),
        "passed": len(passed),
        "failed": len(counted) - len(passed),
        "pass_rate": round(100 * len(passed) / len(counted), 2) if counted else 0.0,
        "function_variant_only": {"counted": len(function_only), "passed": sum(function_only.values())},
        "crashes": sorted(k for k, v in results.items() if v["status"] == "crash"),
        "timeouts": sorted(k for k, v in results.items() if v["status"] == "timeout"),
        "runner_errors": sorted(k for k, v in results.items() if v["status"] in ("runner_error", "unknown")),
        "no_single_aten_sample": len([v for v in results.values() if v["status"] == "none"]),
        "samples": samples,
        "aten_overloads": len({call for v in results.values() for call in v["result"].get("calls", [])}),
        "every_call": {
            "calls": sum(v["result"].get("every_call", {}).get("calls", 0) for v in results.values()),
            "passed": sum(v["result"].get("every_call", {}).get("passed", 0) for v in results.values()),
        },
        "shape_only_samples": sum(
            1 for v in results.values() for note in v["result"].get("notes", []) if "shapes and dtypes compared" in note
        ),
        "error_inputs": sum(e.get("total", 0) for e in errors),
        "error_inputs_reaching_aten": sum(e.get("reach_aten", 0) for e in errors),
        "error_inputs_raised": sum(e.get("raised", 0) for e in errors),
    }


def reason(entry: dict) -> str:
    """One line saying why an OpInfo failed: its first failing sample, or how it died."""
    result = entry["result"]
    if result.get("failures"):
        first = result["failures"][0]
        return f"[{first['sample']} {first['call']}] {first['error']}"
    return "; ".join(n for n in result.get("notes", []) if n) or entry["status"]


def run(keys: list[str], jobs: int, timeout: float, batch: int, verbose: bool, extra: list[str] = ()) -> dict[str, dict]:
    """Runs ``keys`` in batches over ``jobs`` parallel workers."""
    batches = [keys[i : i + batch] for i in range(0, len(keys), batch)]
    finished = [0]
    lock = threading.Lock()

    def log(key, status):
        with lock:
            finished[0] += 1
            if verbose or status in ("crash", "timeout"):
                print(f"[{finished[0]}/{len(keys)}] {key}: {status}", file=sys.stderr, flush=True)

    results: dict[str, dict] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for part in pool.map(lambda b: run_batch(b, timeout, list(extra), log), batches):
            results.update(part)
    return {key: results[key] for key in keys if key in results}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every OpInfo in op_db")
    which.add_argument("--quick", action="store_true", help=f"the representative subset ({len(QUICK)} OpInfos; the default)")
    which.add_argument("--ops", help="comma-separated OpInfo names (name or name.variant_test_name, each optionally @dtype)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="parallel workers")
    parser.add_argument("--timeout", type=float, default=300, help="seconds one OpInfo may take before it counts as hung")
    parser.add_argument(
        "--batch", type=int, help="OpInfos per worker process (default 25; with --grad, the subset split over --jobs)"
    )
    parser.add_argument("--dtype", help="try this dtype first (default: float32, then int64, bool, complex64, ...)")
    parser.add_argument("--device", default="cpu", help="where the samples live: cpu (default) or cuda (the GPU check)")
    parser.add_argument(
        "--every-call", action="store_true", help="also replay each call of samples that make several (reported apart)"
    )
    parser.add_argument(
        "--grad", action="store_true", help="gradient mode: st.autograd.grad against torch.autograd.grad, float64 samples"
    )
    parser.add_argument("--grad2", action="store_true", help="gradient mode with second derivatives too (implies --grad)")
    parser.add_argument("--json", help="write the full report here")
    parser.add_argument("-v", "--verbose", action="store_true", help="a line per OpInfo as it finishes")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--grad2-only", help=argparse.SUPPRESS)  # the OpInfos whose second derivatives run
    options = parser.parse_args(argv)
    global DEVICE
    DEVICE = options.device
    order = 2 if options.grad2 else 1 if options.grad else 0

    if options.worker:
        with open(options.out, "w") as out:
            if order:
                only = set(options.grad2_only.split(",")) if options.grad2_only else None
                GradWorker(out, options.dtype, order, only).run(options.ops.split(","))
            else:
                Worker(out, options.dtype, options.every_call).run(options.ops.split(","))
        return 0
    if order:
        return grad_main(options, order)

    if options.all:
        from torch.testing._internal.common_methods_invocations import op_db

        keys = [op_key(op) for op in op_db]
    elif options.ops:
        keys = [key.strip() for key in options.ops.split(",") if key.strip()]
    else:
        keys = QUICK
    begun = time.monotonic()
    extra = (["--dtype", options.dtype] if options.dtype else []) + (["--every-call"] if options.every_call else [])
    extra += ["--device", DEVICE]
    results = run(keys, options.jobs, options.timeout, options.batch or 25, options.verbose, extra)
    summary = summarize(results)
    summary["seconds"] = round(time.monotonic() - begun, 1)

    print(
        f"op_db through st.ops.aten ({DEVICE}): {summary['opinfos']} OpInfos run, {summary['with_single_aten_samples']} with "
        f"single-aten samples, {summary['passed']} passed, {summary['failed']} failed ({summary['pass_rate']}% pass); "
        f"function variant only: {summary['function_variant_only']['passed']}/{summary['function_variant_only']['counted']}; "
        f"{len(summary['crashes'])} crashes, {len(summary['timeouts'])} timeouts, {len(summary['runner_errors'])} runner errors; "
        f"error inputs: {summary['error_inputs']}, {summary['error_inputs_reaching_aten']} reach aten, "
        f"{summary['error_inputs_raised']} raised through st; {summary['seconds']}s"
    )
    print(
        f"samples: {summary['samples']}; {summary['aten_overloads']} aten overloads called; "
        f"{summary['shape_only_samples']} samples compared on shape and dtype only (random or uninitialized)"
    )
    if options.every_call:
        tally = summary["every_call"]
        print(f"--every-call: {tally['passed']} of {tally['calls']} calls from several-call samples passed")
        for key, entry in results.items():
            for failure in entry["result"].get("every_call", {}).get("failures", [])[:1]:
                print(f"  CALL-FAIL {key}: [{failure['sample']} {failure['call']}] {failure['error']}")
    for key, entry in results.items():
        if entry["status"] in ("fail", "crash", "timeout", "runner_error", "unknown"):
            print(f"  {entry['status'].upper():8} {key}: {reason(entry)}")
        for returned in entry["result"].get("errors", {}).get("returned", []):
            print(
                f"  NO-RAISE {key}: error input {returned['input']} ({returned['call']}) returned; "
                f"torch raised {returned['torch_error']}"
            )
    if options.json:
        with open(options.json, "w") as handle:
            json.dump({"summary": summary, "results": results}, handle, indent=1)
    return 0


def summarize_grad(results: dict[str, dict]) -> dict:
    """The gradient mode's figures, for first and second derivatives: OpInfos passed (every
    sample checked agreed, and at least one was checked), failed (a sample differed, or st
    crashed or hung: counted in the first derivatives), skipped (nothing to check, with why);
    the pass rate is of those checked."""
    summary = {"opinfos": len(results)}
    for order in ("grad", "grad2"):
        statuses = {}
        for key, entry in results.items():
            if entry["status"] in ("crash", "timeout"):
                statuses[key] = "fail" if order == "grad" else "not_run"
            elif entry["status"] in ("runner_error", "unknown"):
                statuses[key] = "runner_error"
            else:
                statuses[key] = entry["result"][order]["status"]
        count = lambda status: sum(1 for s in statuses.values() if s == status)  # noqa: E731
        passed, failed = count("pass"), count("fail")
        reasons: dict[str, int] = {}
        for key, status in statuses.items():
            if status == "skip":
                why = _skip_kind(results[key]["result"][order]["reason"])
                reasons[why] = reasons.get(why, 0) + 1
        summary[order] = {
            "passed": passed,
            "failed": failed,
            "skipped": count("skip"),
            "not_run": count("not_run"),
            "pass_rate": round(100 * passed / (passed + failed), 2) if passed + failed else 0.0,
            "skip_reasons": dict(sorted(reasons.items(), key=lambda item: -item[1])),
            "samples_passed": sum(e["result"].get(order, {}).get("passed", 0) for e in results.values()),
            "samples_failed": sum(len(e["result"].get(order, {}).get("failures", [])) for e in results.values()),
            "samples_skipped": sum(sum(e["result"].get(order, {}).get("skipped", {}).values()) for e in results.values()),
            "zero_tensor_ops": sorted(k for k, e in results.items() if e["result"].get(order, {}).get("zero_tensor_samples")),
        }
    summary["crashes"] = sorted(k for k, v in results.items() if v["status"] == "crash")
    summary["timeouts"] = sorted(k for k, v in results.items() if v["status"] == "timeout")
    summary["runner_errors"] = sorted(k for k, v in results.items() if v["status"] in ("runner_error", "unknown"))
    return summary


def _skip_kind(reason: str) -> str:
    """A skip reason without its details (the error text after the colon), for counting."""
    return reason.split(":")[0]


def grad_reason(entry: dict, order: str) -> str:
    """One line saying why an OpInfo failed or was skipped in one order."""
    result = entry["result"]
    tally = result.get(order)
    if tally is None:  # crashed, hung or broke the runner
        return reason(entry)
    if tally["failures"]:
        first = tally["failures"][0]
        return f"[{first['sample']}] {first['error']}"
    return tally["reason"] or ""


def grad_main(options, order: int) -> int:
    """--grad / --grad2: runs the gradient check in workers and prints its summary."""
    if options.all:
        from torch.testing._internal.common_methods_invocations import op_db

        keys, second_only = [op_key(op) for op in op_db], None
    elif options.ops:
        keys, second_only = [key.strip() for key in options.ops.split(",") if key.strip()], None
    else:
        keys, second_only = QUICK_GRAD, QUICK_GRAD2
    extra = ["--grad2" if order == 2 else "--grad", "--device", DEVICE]
    extra += ["--dtype", options.dtype] if options.dtype else []
    extra += ["--grad2-only", ",".join(second_only)] if second_only and order == 2 else []
    # the quick subset in one worker per job: starting a worker (importing torch and op_db) takes
    # longer than checking 25 OpInfos' gradients
    batch = options.batch or (25 if options.all else -(-len(keys) // options.jobs))
    begun = time.monotonic()
    results = run(keys, options.jobs, options.timeout, batch, options.verbose, extra)
    summary = summarize_grad(results)
    summary["seconds"] = round(time.monotonic() - begun, 1)

    dtype = options.dtype or "float64 (else complex128)"
    print(f"op_db gradients, st.autograd against torch.autograd ({DEVICE}, {dtype} samples): {summary['opinfos']} OpInfos run")
    for name, title in [("grad", "first derivatives"), ("grad2", "second derivatives")][:order]:
        figures = summary[name]
        print(
            f"{title}: {figures['passed']} passed, {figures['failed']} failed ({figures['pass_rate']}% pass), "
            f"{figures['skipped']} skipped" + (f", {figures['not_run']} not run" if figures["not_run"] else "")
            + f"; samples: {figures['samples_passed']} passed, {figures['samples_failed']} failed, "
            f"{figures['samples_skipped']} skipped"
        )
        if figures["zero_tensor_ops"]:
            print(f"  gradients that are ZeroTensors (in both; st's read as zeros) in: {' '.join(figures['zero_tensor_ops'])}")
        if figures["skip_reasons"]:
            print("  skipped because: " + "; ".join(f"{why} ({n})" for why, n in figures["skip_reasons"].items()))
    print(
        f"{len(summary['crashes'])} crashes, {len(summary['timeouts'])} timeouts, "
        f"{len(summary['runner_errors'])} runner errors; {summary['seconds']}s"
    )
    for name, tag in [("grad", ""), ("grad2", "2")][:order]:
        for key, entry in results.items():
            status = entry["status"] if entry["status"] in ("crash", "timeout", "runner_error", "unknown") else None
            status = status or entry["result"][name]["status"]
            if status in ("fail", "crash", "timeout", "runner_error", "unknown") and (name == "grad" or status == "fail"):
                print(f"  {status.upper() + tag:8} {key}: {grad_reason(entry, name)}")
            elif status == "skip" and (name == "grad" or options.verbose):  # second-order skips: -v
                print(f"  {'SKIP' + tag:8} {key}: {grad_reason(entry, name)}")
    if options.json:
        with open(options.json, "w") as handle:
            json.dump({"summary": summary, "results": results}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
