"""``st.cuda``: CUDA as ``torch.cuda`` spells it, with CUDA graphs.

A CUDA graph records the GPU work of some code once (a *capture*) and then runs all of it again
with one launch (a *replay*), which saves the cost of issuing each operation: a small model's
forward pass replays several times faster than it runs. A replay reads and writes the very
memory the capture used, so new inputs are copied into the captured (static) input tensors, and
the outputs appear in the captured output tensors. :func:`make_graphed_callables` does that
bookkeeping for a module or function.

Only forward work is graphed here: no autograd graph is recorded, so capture and call the
graphed code under ``st.no_grad()`` or ``st.inference_mode()``. Without a GPU, every function
but :func:`is_available` and :func:`device_count` raises :class:`DeviceError` saying "CUDA is
not available".

Example:
    >>> model = st.nn.Sequential(st.nn.Linear(64, 256), st.nn.ReLU(), st.nn.Linear(256, 10)).cuda()
    >>> with st.no_grad():
    ...     fast = st.cuda.make_graphed_callables(model, (st.randn(32, 64, device="cuda"),))
    ...     y = fast(st.randn(32, 64, device="cuda"))  # one graph launch
"""

from __future__ import annotations

import contextlib
from ctypes import byref, c_uint64

from . import streams as _streams
from ._native import lib
from .amp import is_autocast_enabled
from .autograd import is_grad_enabled
from .config import dl
from .devices import Device
from .errors import ArgumentError, DeviceError, SimpleTorchError
from .library import cuda_device_count
from .memory import empty_cache

__all__ = [
    "CUDAGraph",
    "Event",
    "Stream",
    "current_stream",
    "device_count",
    "graph",
    "graph_pool_handle",
    "is_available",
    "make_graphed_callables",
    "stream",
    "synchronize",
]

#: ``capture_error_mode`` by torch's names, as the C ABI numbers them (RT_TORCH_CAPTURE_MODE_*).
_CAPTURE_MODES = {"global": 0, "thread_local": 1, "relaxed": 2}


def is_available() -> bool:
    """True when libtorch sees at least one CUDA GPU, as ``torch.cuda.is_available()``.

    Example:
        >>> device = "cuda" if st.cuda.is_available() else "cpu"
    """
    return cuda_device_count() > 0


def device_count() -> int:
    """The number of CUDA GPUs libtorch sees (0 without CUDA), as ``torch.cuda.device_count()``.

    Example:
        >>> [f"cuda:{i}" for i in range(st.cuda.device_count())]
        ['cuda:0']
    """
    return cuda_device_count()


def _cuda(device, what: str) -> Device:
    """The CUDA device ``device`` names; None is ``dl.default_device`` if that is a GPU, else
    cuda:0 (torch's "current device"). Raises DeviceError, saying so, when there is no CUDA."""
    if not is_available():
        raise DeviceError(f"{what}: CUDA is not available (libtorch found no CUDA device)")
    if device is None:
        return dl.default_device if dl.default_device.kind == "cuda" else Device.cuda(0)
    device = Device(device)
    if device.kind != "cuda":
        raise ArgumentError(f"{what}: expected a CUDA device, got {device}")
    return device


def synchronize(device=None) -> None:
    """Waits for all work queued on the GPU (default: the current one), on every stream.

    Example:
        >>> y = model(x); st.cuda.synchronize()  # y is computed now
    """
    _streams.synchronize(_cuda(device, "cuda.synchronize"))


class Stream(_streams.Stream):
    """A CUDA stream, as ``torch.cuda.Stream``: :class:`simple_torch.Stream` whose device
    defaults to the current GPU rather than ``dl.default_device``.

    Example:
        >>> side = st.cuda.Stream()
        >>> with st.cuda.stream(side):
        ...     y = x @ x  # queued on side
    """

    __slots__ = ()

    def __init__(self, device=None):
        super().__init__(_cuda(device, "cuda.Stream"))


#: A CUDA event, as ``torch.cuda.Event`` (:class:`simple_torch.Event`).
Event = _streams.Event


def current_stream(device=None) -> _streams.Stream:
    """The calling thread's current stream on the GPU (default: the current one), as
    ``torch.cuda.current_stream``.

    Example:
        >>> st.cuda.current_stream().synchronize()
    """
    return Stream.current(_cuda(device, "cuda.current_stream"))


@contextlib.contextmanager
def stream(stream: _streams.Stream | None):
    """Makes ``stream`` current inside the block, then restores the previous one, as
    ``torch.cuda.stream``; None changes nothing.

    Example:
        >>> with st.cuda.stream(st.cuda.Stream()):
        ...     y = x * 2  # queued on the new stream
    """
    if stream is None:
        yield
        return
    with stream:
        yield


def graph_pool_handle() -> tuple[int, int]:
    """A new graph memory pool id, as ``torch.cuda.graph_pool_handle()``: graphs captured with
    ``pool=`` it share one pool, which saves memory when they replay in the order they were
    captured.

    Example:
        >>> pool = st.cuda.graph_pool_handle()
        >>> with st.cuda.graph(first, pool=pool): ...
        >>> with st.cuda.graph(second, pool=pool): ...
    """
    _cuda(None, "cuda.graph_pool_handle")
    first, second = c_uint64(), c_uint64()
    lib.rt_torch_cuda_graph_pool_handle(byref(first), byref(second))
    return first.value, second.value


def _pool_id(pool) -> tuple[int, int]:
    """A pool as the C ABI takes it: (0, 0) for None (a new private pool)."""
    if pool is None:
        return 0, 0
    try:
        first, second = pool
        return int(first), int(second)
    except (TypeError, ValueError):
        raise ArgumentError(f"pool must be None, graph_pool_handle() or another graph's pool(), got {pool!r}") from None


class CUDAGraph:
    """A CUDA graph, as ``torch.cuda.CUDAGraph``: bound to one GPU (``device``, default the
    current one), it captures the work queued on that GPU's current stream between
    :meth:`capture_begin` and :meth:`capture_end`, and :meth:`replay` runs it again. Usually
    captured with :class:`graph`. Only ``keep_graph=False`` (torch's default) is supported.

    Example:
        >>> g = st.cuda.CUDAGraph()
        >>> static_x = st.zeros(8, device="cuda")
        >>> with st.no_grad(), st.cuda.graph(g):
        ...     static_y = static_x * 2 + 1
        >>> static_x.copy_(st.arange(8.0, device="cuda")); g.replay()
        >>> static_y.tolist()
        [1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0]
    """

    __slots__ = ("_handle", "device")

    def __init__(self, keep_graph: bool = False, *, device=None):
        self._handle = None
        if keep_graph:
            raise NotImplementedError("CUDAGraph(keep_graph=True) is not supported: simple_torch has no raw_cuda_graph()")
        self.device = _cuda(device, "cuda.CUDAGraph")
        self._handle = lib.rt_torch_cuda_graph_create(self.device.index)

    def capture_begin(self, pool=None, capture_error_mode: str = "global") -> None:
        """Begins capturing the work queued on the current stream of the graph's GPU, which must
        not be the default stream (:class:`graph` takes care of that). ``pool``: None for a
        private memory pool, or :func:`graph_pool_handle` or another graph's :meth:`pool` to
        share that one. ``capture_error_mode``: "global", "thread_local" or "relaxed", which CUDA
        calls in other threads may break the capture.

        Example:
            >>> with st.cuda.stream(st.cuda.Stream()):
            ...     g.capture_begin(); y = x * 2; g.capture_end()
        """
        if capture_error_mode not in _CAPTURE_MODES:
            raise ArgumentError(f"capture_error_mode must be one of {list(_CAPTURE_MODES)}, got {capture_error_mode!r}")
        first, second = _pool_id(pool)
        lib.rt_torch_torchcudagraph_capture_begin(self._handle, first, second, _CAPTURE_MODES[capture_error_mode])

    def capture_end(self) -> None:
        """Ends the capture, with the stream it began on still current, and makes the graph
        ready to replay.

        Example:
            >>> g.capture_end()
        """
        lib.rt_torch_torchcudagraph_capture_end(self._handle)

    def replay(self) -> None:
        """Runs the captured work again, on the current stream, without waiting for it.

        Example:
            >>> static_x.copy_(new_x); g.replay(); print(static_y)
        """
        lib.rt_torch_torchcudagraph_replay(self._handle)

    def reset(self) -> None:
        """Drops what was captured (tensors the capture made stay valid); the graph can then
        capture again, and replays fail until it does.

        Example:
            >>> g.reset()
        """
        lib.rt_torch_torchcudagraph_reset(self._handle)

    def pool(self) -> tuple[int, int]:
        """The id of this graph's memory pool, for another capture to share it.

        Example:
            >>> with st.cuda.graph(second, pool=first.pool()): ...
        """
        first, second = c_uint64(), c_uint64()
        lib.rt_torch_torchcudagraph_pool(self._handle, byref(first), byref(second))
        return first.value, second.value

    def __repr__(self) -> str:
        return f"CUDAGraph(device={str(self.device)!r})"

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle:
            lib.rt_torch_torchcudagraph_finalize(handle)


class graph:
    """Captures the CUDA work of its block into ``cuda_graph``, as ``torch.cuda.graph``: waits
    for the GPU, empties the memory cache, makes ``stream`` (default: a new side stream) current,
    captures, and restores the previous stream. Nothing in the block runs on the GPU then;
    :meth:`CUDAGraph.replay` runs it. Captures that share a ``pool`` reuse each other's memory
    best when they also share a ``stream``.

    Example:
        >>> g = st.cuda.CUDAGraph()
        >>> with st.no_grad(), st.cuda.graph(g):
        ...     static_y = model(static_x)
        >>> static_x.copy_(batch); g.replay()  # static_y holds model(batch)
    """

    def __init__(self, cuda_graph: CUDAGraph, pool=None, stream: _streams.Stream | None = None,
                 capture_error_mode: str = "global"):
        _cuda(None, "cuda.graph")  # without a GPU, say that first
        if not isinstance(cuda_graph, CUDAGraph):
            raise TypeError(f"cuda.graph needs a st.cuda.CUDAGraph, got {type(cuda_graph).__name__}")
        device = cuda_graph.device
        if stream is None:
            # A new one each time rather than torch's one per process: it is a handle to a stream
            # of libtorch's pool, released with this object, so no handle outlives the capture.
            stream = Stream(device)
        elif stream.device != device:
            raise ArgumentError(f"cuda.graph: the stream is on {stream.device}, the graph on {device}")
        self.cuda_graph, self.pool, self.capture_stream, self.capture_error_mode = cuda_graph, pool, stream, capture_error_mode

    def __enter__(self) -> None:
        synchronize(self.cuda_graph.device)
        empty_cache()  # as torch: give the capture as much memory as possible
        self.capture_stream.__enter__()
        try:
            self.cuda_graph.capture_begin(self.pool, capture_error_mode=self.capture_error_mode)
        except BaseException:
            self.capture_stream.__exit__(None, None, None)
            raise

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            self.cuda_graph.capture_end()
        except SimpleTorchError:
            # If the block raised, its error is the one to see (it may be what broke the capture).
            if exc is None:
                raise
        finally:
            self.capture_stream.__exit__(exc_type, exc, traceback)


def make_graphed_callables(callables, sample_args, num_warmup_iters: int = 3, allow_unused_input: bool = False,
                           pool=None):
    """CUDA-graphed versions of a module's or function's forward pass, as
    ``torch.cuda.make_graphed_callables`` (forward only). Each callable is warmed up on a side
    stream, then captured with its ``sample_args`` (a tuple of CUDA tensors) as the static
    inputs. A call copies its arguments into the static inputs (they must have the same shapes,
    dtypes and devices), replays, and returns the static outputs (as detached tensors, which
    the next call overwrites, as in torch). A module is returned with its ``forward`` graphed
    (while it stays in the training mode it was captured in); a function as a new function. A
    tuple of callables (with a tuple of sample tuples) shares one memory pool; call them in the
    order given.

    Only forward graphs are supported: capture and call under ``st.no_grad()`` or
    ``st.inference_mode()``; with grad mode on, an argument or parameter that requires grad
    raises NotImplementedError. ``allow_unused_input`` has no effect (it concerns backward).

    Example:
        >>> model = st.nn.Sequential(st.nn.Linear(64, 256), st.nn.ReLU(), st.nn.Linear(256, 10)).cuda()
        >>> with st.no_grad():
        ...     model = st.cuda.make_graphed_callables(model, (st.randn(32, 64, device="cuda"),))
        ...     y = model(st.randn(32, 64, device="cuda"))
    """
    from .nn import Module  # here: st.nn takes a while to import

    _cuda(None, "cuda.make_graphed_callables")  # without a GPU, say that first
    if is_autocast_enabled("cuda"):
        # As torch refuses autocast's cache: a weight's cast made in the capture would be freed
        # when autocast exits, while the graph still reads it. st.autocast always caches.
        raise RuntimeError("make_graphed_callables does not support autocast, whose cache of weight casts "
                           "a graph would outlive: capture outside st.autocast, with weights of the dtype you want")
    single = not isinstance(callables, tuple)
    callables, all_args = ((callables,), (sample_args,)) if single else (callables, sample_args)
    if len(all_args) != len(callables):
        raise ArgumentError(f"make_graphed_callables: {len(callables)} callables but {len(all_args)} tuples of sample_args")
    all_args = [_sample_tuple(args) for args in all_args]
    params = [tuple(c.parameters()) if isinstance(c, Module) else () for c in callables]
    for c, args, own in zip(callables, all_args, params):
        if isinstance(c, Module) and (c._forward_pre_hooks or c._forward_hooks):
            raise ArgumentError("make_graphed_callables: modules must not have hooks when they are passed "
                                "(registering hooks afterwards is allowed)")
        _refuse_grad(args + own)
    device = all_args[0][0].device
    if any(t.device != device for args in all_args for t in args):
        raise ArgumentError("make_graphed_callables: every sample argument must be on the same GPU")
    pool = graph_pool_handle() if pool is None else pool

    # Warm up on the side stream of the captures, so that lazy initialisation (cuBLAS handles,
    # workspaces) happens before a capture rather than inside it. The captures share it as
    # they share the pool, so that each can reuse the memory the others freed.
    side = Stream(device)
    synchronize(device)
    with side:
        for c, args in zip(callables, all_args):
            for _ in range(num_warmup_iters):
                c(*args)
    synchronize(device)

    graphed = []
    for c, args, own in zip(callables, all_args, params):
        fwd_graph = CUDAGraph(device=device)
        with graph(fwd_graph, pool=pool, stream=side):
            outputs = c(*args)
        run = _graphed_forward(fwd_graph, args, own, outputs)
        if isinstance(c, Module):
            c.forward = _module_forward(c, c.training, run, c.forward)  # type: ignore[method-assign]
            graphed.append(c)
        else:
            graphed.append(run)
    return graphed[0] if single else tuple(graphed)


def _sample_tuple(args) -> tuple:
    from ._tensor import TorchTensorWrapper as Tensor

    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    if not args or not all(isinstance(a, Tensor) for a in args):
        raise TypeError(f"make_graphed_callables: sample_args must be a tuple of tensors, got {args!r}")
    if any(a.device.kind != "cuda" for a in args):
        raise ArgumentError("make_graphed_callables: sample_args must be CUDA tensors, got "
                            + ", ".join(str(a.device) for a in args))
    return args


def _refuse_grad(tensors) -> None:
    if is_grad_enabled() and any(getattr(t, "requires_grad", False) for t in tensors):
        raise NotImplementedError(
            "make_graphed_callables: only forward graphs are supported, and an argument or parameter requires grad "
            "with grad mode on: run it under st.no_grad() or st.inference_mode()"
        )


def _graphed_forward(fwd_graph: CUDAGraph, static_inputs: tuple, params: tuple, outputs):
    """The function that copies its arguments into ``static_inputs``, replays ``fwd_graph`` and
    returns ``outputs`` (a tensor, or a tuple or list of them) detached."""
    from ._tensor import TorchTensorWrapper as Tensor

    expected = [(t.shape, t.dtype, t.device) for t in static_inputs]
    if isinstance(outputs, Tensor):
        unpack = lambda outs: outs[0]  # noqa: E731
        static_outputs = (outputs,)
    elif isinstance(outputs, (tuple, list)) and all(isinstance(o, Tensor) for o in outputs):
        unpack, static_outputs = tuple if isinstance(outputs, tuple) else list, tuple(outputs)
    else:
        raise TypeError(f"make_graphed_callables: the callable must return a tensor or a tuple of tensors, "
                        f"got {type(outputs).__name__}")

    def run(*inputs):
        if len(inputs) != len(static_inputs):
            raise TypeError(f"the graphed callable takes {len(static_inputs)} tensors, got {len(inputs)}")
        if is_grad_enabled():  # cheap when off, as it should be
            _refuse_grad(inputs + params)
        for i, (given, static) in enumerate(zip(inputs, static_inputs)):
            if given is static:
                continue
            if not isinstance(given, Tensor):
                raise TypeError(f"argument {i} of the graphed callable must be a tensor, got {type(given).__name__}")
            got = (given.shape, given.dtype, given.device)
            if got != expected[i]:
                shape, dtype, device = expected[i]
                raise ArgumentError(
                    f"argument {i} of the graphed callable must match its sample: {dtype.name}{list(shape)} on "
                    f"{device}, got {got[1].name}{list(got[0])} on {got[2]}"
                )
            static.copy_(given)
        fwd_graph.replay()
        return unpack(tuple(o.detach() for o in static_outputs))

    return run


def _module_forward(module, graphed_training: bool, graphed, eager):
    """The module's new forward: the graph while the module is in the mode it was captured in,
    else its own forward (as torch does)."""

    def forward(*args, **kwargs):
        if module.training == graphed_training:
            return graphed(*args, **kwargs)
        return eager(*args, **kwargs)

    return forward
