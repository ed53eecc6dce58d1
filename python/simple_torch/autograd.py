"""Autograd, spelled as ``torch.autograd``: libtorch's own engine records operations on tensors
that require grad, and ``backward()`` / :func:`grad` compute gradients through it.

Example:
    >>> x = st.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.grad_fn
    <SumBackward0 object at 0x...>
    >>> y.backward()
    >>> x.grad
    tensor([2., 4., 6.])

Grad mode, inference mode and autocast are per thread, as in libtorch (and torch): ``no_grad()``
in one thread does not affect another, and a thread starts with gradients recorded whatever the
thread that made it does (the ``dl`` config's ``autograd: false`` turns grad mode off in the
thread that loads the config, the one that imports simple_torch). The engine runs a backward's
CPU work on the thread that called ``backward()``, and GPU work on its own threads; a custom
function's ``backward`` or a hook then runs on that thread, holding the GIL as any Python code.

Custom functions (:class:`Function`) and hooks (``Tensor.register_hook``) run inside libtorch's
graph: the library calls back into Python through one :class:`AutogradHost` for the whole
process, and an exception raised there reaches the caller of ``backward()`` as itself.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import itertools
from collections.abc import Sequence

from ._native import HOST_EXCEPTIONS, TENSOR, AutogradHost, lib
from ._tensor import Tensor, _owned

__all__ = [
    "Function",
    "backward",
    "enable_grad",
    "grad",
    "gradcheck",
    "inference_mode",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "no_grad",
    "set_grad_enabled",
]


# ---- grad mode ---------------------------------------------------------------------------------


def is_grad_enabled() -> bool:
    """Whether the calling thread records operations for autograd.

    Example:
        >>> with st.no_grad():
        ...     st.is_grad_enabled()
        False
    """
    return bool(lib.rt_torch_is_grad_enabled())


class _ContextDecorator:
    """A context manager that is also a decorator, entering a fresh copy of itself around each
    call of the decorated function."""

    def __call__(self, function):
        @functools.wraps(function)
        def decorated(*args, **kwargs):
            with self._fresh():
                return function(*args, **kwargs)

        return decorated

    def _fresh(self):
        raise NotImplementedError


class _NoParamDecorator(_ContextDecorator):
    """Also decorates without parentheses (``@st.no_grad``), as torch's."""

    def __new__(cls, function=None):
        return super().__new__(cls) if function is None else cls()(function)


class set_grad_enabled(_ContextDecorator):
    """Turns gradient recording on or off in the calling thread: at once when called, and back
    to what it was on leaving a ``with`` block (or around each call, as a decorator).

    Example:
        >>> with st.set_grad_enabled(False):
        ...     y = x * 2        # not recorded
        >>> st.set_grad_enabled(True)   # as a plain call: stays on
    """

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.previous = bool(lib.rt_torch_set_grad_enabled(self.mode))

    def __call__(self, function):
        lib.rt_torch_set_grad_enabled(self.previous)  # decorating sets nothing now
        return super().__call__(function)

    def _fresh(self):
        return _GradMode(self.mode)

    def __enter__(self):
        return None

    def __exit__(self, *exc_info):
        lib.rt_torch_set_grad_enabled(self.previous)


class _GradMode:
    """Sets grad mode on entering and puts back the previous one on leaving."""

    def __init__(self, mode: bool):
        self.mode = mode
        self.previous: list[bool] = []

    def __enter__(self):
        self.previous.append(bool(lib.rt_torch_set_grad_enabled(self.mode)))

    def __exit__(self, *exc_info):
        lib.rt_torch_set_grad_enabled(self.previous.pop())


class no_grad(_GradMode, _NoParamDecorator):
    """Operations inside are not recorded: their results do not require grad.

    Example:
        >>> with st.no_grad():
        ...     w -= 0.1 * w.grad          # an update autograd must not see
        >>> @st.no_grad()
        ... def evaluate(model, x): return model(x)
    """

    def __init__(self, function=None):
        super().__init__(False)

    def _fresh(self):
        return _GradMode(False)


class enable_grad(_GradMode, _NoParamDecorator):
    """Records operations inside even within ``no_grad()``.

    Example:
        >>> with st.no_grad(), st.enable_grad():
        ...     y = x * 2                  # recorded
    """

    def __init__(self, function=None):
        super().__init__(True)

    def _fresh(self):
        return _GradMode(True)


class inference_mode(_ContextDecorator):
    """Inference mode (``mode=True``): like ``no_grad()`` and faster, and tensors made inside are
    inference tensors that autograd refuses later. ``inference_mode(False)`` inside one leaves it.

    Example:
        >>> with st.inference_mode():
        ...     y = model(x)
        >>> y.is_inference()
        True
    """

    def __new__(cls, mode=True):
        return super().__new__(cls) if isinstance(mode, bool) else cls()(mode)

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)

    def _fresh(self):
        return inference_mode(self.mode)

    def __enter__(self):
        lib.rt_torch_inference_mode_enter(self.mode)

    def __exit__(self, *exc_info):
        lib.rt_torch_inference_mode_exit()


def is_inference_mode_enabled() -> bool:
    """Whether the calling thread is in inference mode.

    Example:
        >>> with st.inference_mode():
        ...     st.is_inference_mode_enabled()
        True
    """
    return bool(lib.rt_torch_is_inference_mode_enabled())


# ---- backward and grad -------------------------------------------------------------------------


def _handles(tensors: Sequence, what: str, optional: bool = False):
    array = (TENSOR * len(tensors))()
    for i, tensor in enumerate(tensors):
        if tensor is None and optional:
            continue
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{what} must be tensors, but element {i} is {type(tensor).__name__}")
        array[i] = tensor._live()
    return array


def _as_tuple(tensors) -> tuple:
    return (tensors,) if tensors is None or isinstance(tensors, Tensor) else tuple(tensors)


def _retain(retain_graph) -> int:
    return -1 if retain_graph is None else int(bool(retain_graph))


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph: bool = False, inputs=None) -> None:
    """Computes the gradients of ``tensors`` (with respect to every leaf that requires grad, or
    only ``inputs``) and adds them to the leaves' ``.grad``, as ``torch.autograd.backward``.
    A non-scalar tensor needs its gradient in ``grad_tensors``. The graph is freed unless
    ``retain_graph`` (or ``create_graph``, which records the backward itself, for higher
    derivatives).

    Example:
        >>> st.autograd.backward([y1, y2], [st.ones_like(y1), None])
    """
    roots = _as_tuple(tensors)
    grads = _as_tuple(grad_tensors) if grad_tensors is not None else (None,) * len(roots)
    if len(grads) != len(roots):
        raise RuntimeError(f"grad can be implicitly created only for scalar outputs; got {len(grads)} gradients for {len(roots)} tensors")
    wanted = _as_tuple(inputs) if inputs is not None else ()
    lib.rt_torch_autograd_backward(_handles(roots, "tensors"), len(roots), _handles(grads, "grad_tensors", optional=True),
                                   _retain(retain_graph), bool(create_graph), _handles(wanted, "inputs"), len(wanted))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         allow_unused: bool | None = None, materialize_grads: bool = False) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs``, as a tuple (``.grad`` is left
    alone), as ``torch.autograd.grad``. ``create_graph=True`` records them, so that they can be
    differentiated again. An input the outputs do not depend on is an error unless
    ``allow_unused``; it then gets None (or zeros with ``materialize_grads``).

    Example:
        >>> x = st.tensor(3.0, requires_grad=True)
        >>> (dx,) = st.autograd.grad(x ** 3, x, create_graph=True)     # 3x^2 = 27
        >>> st.autograd.grad(dx, x)                                    # 6x = 18
        (tensor(18.),)
    """
    roots, wanted = _as_tuple(outputs), _as_tuple(inputs)
    grads = _as_tuple(grad_outputs) if grad_outputs is not None else (None,) * len(roots)
    if len(grads) != len(roots):
        raise RuntimeError(f"grad_outputs has {len(grads)} tensors but outputs has {len(roots)}")
    allow_unused = materialize_grads if allow_unused is None else allow_unused
    if materialize_grads and not allow_unused:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, but got: allow_unused=False.")
    results = (TENSOR * len(wanted))()
    lib.rt_torch_autograd_grad(_handles(roots, "outputs"), len(roots), _handles(grads, "grad_outputs", optional=True),
                               _handles(wanted, "inputs"), len(wanted), _retain(retain_graph), bool(create_graph),
                               bool(allow_unused), results)
    gradients = tuple(_owned(handle) if handle else None for handle in results)
    if materialize_grads:
        gradients = tuple(g if g is not None else x.new_zeros(x.shape) for g, x in zip(gradients, wanted))
    return gradients


class Node:
    """The operation that made a tensor (its ``grad_fn``): ``name()`` is libtorch's name for it
    (``"AddmmBackward0"``), or a custom function's (``"MyFunctionBackward"``).

    Example:
        >>> (x * 2).grad_fn.name()
        'MulBackward0'
    """

    __slots__ = ("_name",)

    def __init__(self, name: str):
        self._name = name

    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<{self._name} object at {id(self):#x}>"


def grad_fn_of(tensor: Tensor) -> Node | None:
    """``tensor.grad_fn``."""
    name = ctypes.create_string_buffer(256)
    length = lib.rt_torch_torchtensor_grad_fn(tensor._live(), name, len(name))
    return Node(name.value.decode()) if length else None


# ---- the host's code in libtorch's graph -------------------------------------------------------

# What libtorch's nodes and hooks call back for, by token: a _FunctionCall or a hook function.
_calls: dict[int, object] = {}
_tokens = itertools.count(1)
_exception_numbers = itertools.count(1)


def _write_error(error: int, error_len: int, exception: BaseException) -> None:
    number = next(_exception_numbers)
    HOST_EXCEPTIONS[number] = exception
    text = f"simple_torch host exception #{number}: {type(exception).__name__}: {exception}".encode()[: error_len - 1]
    ctypes.memmove(error, text + b"\0", len(text) + 1)


def _host_backward(token, grads, n_grads, saved, n_saved, results, n_results, error, error_len) -> int:
    try:
        grad_tensors = [_owned(grads[i]) if grads[i] else None for i in range(n_grads)]
        saved_tensors = [_owned(saved[i]) for i in range(n_saved)]
        call = _calls[token]
        if isinstance(call, _FunctionCall):
            computed = call.backward(grad_tensors, saved_tensors)
        elif n_results == 0:  # a post-accumulate-grad hook: it gets the tensor and returns nothing
            call(grad_tensors[0])
            computed = []
        else:
            computed = [call(grad_tensors[0])]
        if len(computed) != n_results:
            raise RuntimeError(f"expected {n_results} gradients, got {len(computed)}")
        for tensor in computed:
            if tensor is not None and not isinstance(tensor, Tensor):
                raise TypeError(f"a gradient must be a tensor or None, not {type(tensor).__name__}")
        for i, tensor in enumerate(computed):
            results[i] = lib.rt_torch_torchtensor_share(tensor._live()) if tensor is not None else None
        return 0
    except BaseException as exception:  # noqa: BLE001 - it must reach backward()'s caller, not stop here
        _write_error(error, error_len, exception)
        return 1


def _host_release(token) -> None:
    _calls.pop(token, None)


# One host for the process; the functions stay referenced here for as long as libtorch may call them.
_HOST = AutogradHost(AutogradHost.BACKWARD(_host_backward), AutogradHost.RELEASE(_host_release))


@atexit.register
def _shut_down_host() -> None:
    # Nodes freed while the interpreter finalizes must not call into it: NULL functions.
    _HOST.backward = AutogradHost.BACKWARD()
    _HOST.release = AutogradHost.RELEASE()


def _register(call) -> int:
    token = next(_tokens)
    _calls[token] = call
    return token


class RemovableHandle:
    """Removes the hook it was returned for (``handle.remove()``), as torch's.

    Example:
        >>> handle = x.register_hook(lambda g: g * 2)
        >>> handle.remove()
    """

    def __init__(self, tensor: Tensor, hook_id: int, remove):
        self._tensor, self._id, self._remove = tensor, hook_id, remove

    def remove(self) -> None:
        if self._tensor is not None:
            self._remove(self._tensor._live(), self._id)
            self._tensor = None


def register_hook(tensor: Tensor, hook) -> RemovableHandle:
    """``tensor.register_hook(hook)``: ``hook(grad)`` runs when the tensor's gradient is
    computed, and may return a tensor to use instead."""
    return _tensor_hook(tensor, hook, lib.rt_torch_torchtensor_register_hook, lib.rt_torch_torchtensor_remove_hook)


def register_post_accumulate_grad_hook(tensor: Tensor, hook) -> RemovableHandle:
    """``tensor.register_post_accumulate_grad_hook(hook)``: ``hook(tensor)`` runs once the leaf
    tensor's gradient has been accumulated into ``tensor.grad`` during backward; it returns
    nothing."""
    return _tensor_hook(tensor, hook, lib.rt_torch_torchtensor_register_post_accumulate_grad_hook,
                        lib.rt_torch_torchtensor_remove_post_accumulate_grad_hook)


def _tensor_hook(tensor: Tensor, hook, register, remove) -> RemovableHandle:
    """Registers ``hook`` on ``tensor`` through the export ``register``; the handle removes it
    through ``remove``."""
    if not callable(hook):
        raise TypeError(f"hook must be callable, not {type(hook).__name__}")
    token = _register(hook)
    try:
        hook_id = register(tensor._live(), ctypes.byref(_HOST), token)
    except BaseException:
        _calls.pop(token, None)
        raise
    return RemovableHandle(tensor, hook_id, remove)


class FunctionCtx:
    """The ``ctx`` of a custom :class:`Function`: what ``forward`` keeps for ``backward``.

    Example:
        >>> ctx.save_for_backward(x, weight)       # in forward
        >>> x, weight = ctx.saved_tensors          # in backward
        >>> ctx.needs_input_grad                   # (True, False, ...) per forward argument
    """

    def __init__(self):
        self.to_save: tuple = ()
        self.dirty: tuple = ()
        self.non_differentiable: tuple = ()
        self.materialize_grads = True
        self.needs_input_grad: tuple = ()
        self._saved = None

    def save_for_backward(self, *tensors) -> None:
        """Saves tensors (or None) for ``backward``: libtorch checks that none of them was modified
        in place before it runs."""
        for tensor in tensors:
            if tensor is not None and not isinstance(tensor, Tensor):
                raise TypeError(f"save_for_backward can only save variables, but argument is of type {type(tensor).__name__}")
        self.to_save = tensors

    def mark_dirty(self, *tensors) -> None:
        """Marks inputs that ``forward`` modified in place."""
        self.dirty = tensors

    def mark_non_differentiable(self, *tensors) -> None:
        """Marks outputs that have no gradient."""
        self.non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        """Whether ``backward`` gets zeros (True, the default) or None for outputs that were not
        used."""
        self.materialize_grads = bool(value)

    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to ``save_for_backward``, in ``backward``."""
        if self._saved is None:
            raise RuntimeError("saved_tensors is only available in backward (and not after the graph was freed)")
        return self._saved


class _FunctionCall:
    """One application of a custom Function: its class, ctx and the shape of its arguments."""

    def __init__(self, function: type, ctx: FunctionCtx, tensor_args: list[bool], tensor_outputs: list[bool], saved_slots: list[bool]):
        self.function, self.ctx = function, ctx
        self.tensor_args, self.tensor_outputs, self.saved_slots = tensor_args, tensor_outputs, saved_slots

    def backward(self, grads: list, saved: list) -> list:
        ctx, name = self.ctx, f"{self.function.__name__}Backward"
        saved_iter = iter(saved)
        ctx._saved = tuple(next(saved_iter) if slot else None for slot in self.saved_slots)
        grad_iter = iter(grads)
        all_grads = [next(grad_iter) if is_tensor else None for is_tensor in self.tensor_outputs]
        try:
            results = self.function.backward(ctx, *all_grads)
        finally:
            ctx._saved = None
        results = (results,) if not isinstance(results, tuple) else results
        expected = len(self.tensor_args)
        if len(results) > expected and all(r is None for r in results[expected:]):
            results = results[:expected]
        if len(results) != expected:
            raise RuntimeError(f"function {name} returned an incorrect number of gradients (expected {expected}, got {len(results)})")
        gradients = []
        for i, (result, is_tensor) in enumerate(zip(results, self.tensor_args)):
            if is_tensor:
                gradients.append(result)
            elif result is not None:
                raise RuntimeError(f"function {name} returned a gradient different than None at position {i + 1}, "
                                   f"but the corresponding forward input was not a Variable")
        return gradients


class Function:
    """A differentiable operation written in Python, as ``torch.autograd.Function``: define
    ``forward(ctx, *args)`` and ``backward(ctx, *grads)`` as static methods and call
    ``apply``. ``backward`` returns one gradient per ``forward`` argument (None for the ones
    that are not tensors or need none). It runs inside libtorch's graph, so its result flows
    on to the rest of the backward.

    Example:
        >>> class Square(st.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x * x
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         (x,) = ctx.saved_tensors
        ...         return 2 * x * grad
        >>> y = Square.apply(st.tensor([3.0], requires_grad=True))
    """

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom autograd.Function to use it with backward mode AD.")

    @classmethod
    def apply(cls, *args):
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            outputs = cls.forward(ctx, *args)
        single = not isinstance(outputs, tuple)
        output_list = (outputs,) if single else outputs
        tensor_outputs = [isinstance(o, Tensor) for o in output_list]
        inputs = [a for a in args if isinstance(a, Tensor)]
        results_in = [o for o in output_list if isinstance(o, Tensor)]
        saved = [t for t in ctx.to_save if t is not None]
        call = _FunctionCall(cls, ctx, [isinstance(a, Tensor) for a in args], tensor_outputs, [t is not None for t in ctx.to_save])
        token = _register(call)
        results = (TENSOR * len(results_in))()
        try:
            lib.rt_torch_autograd_function_apply(
                ctypes.byref(_HOST), token, f"{cls.__name__}Backward".encode(), _handles(inputs, "inputs"), len(inputs),
                _handles(results_in, "outputs"), len(results_in), _handles(saved, "saved tensors"), len(saved),
                _handles(ctx.dirty, "dirty tensors"), len(ctx.dirty),
                _handles(ctx.non_differentiable, "non-differentiable tensors"), len(ctx.non_differentiable),
                ctx.materialize_grads, results)
        except BaseException:
            _calls.pop(token, None)
            raise
        wrapped = iter([_owned(handle) for handle in results])
        final = tuple(next(wrapped) if is_tensor else output for output, is_tensor in zip(output_list, tensor_outputs))
        return final[0] if single else final


# ---- the Tensor's autograd API ----------------------------------------------------------------


class _TensorAutograd:
    """Tensor members, as torch's (put on the class by :func:`install`)."""

    @property
    def requires_grad(self) -> bool:
        """Whether autograd records operations on this tensor (settable on leaves).

        Example:
            >>> w = st.zeros(3); w.requires_grad = True
        """
        return bool(lib.rt_torch_torchtensor_requires_grad(self._live()))

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(bool(value))

    @property
    def grad(self):
        """The gradient accumulated by ``backward()`` (None until then); settable, and None
        clears it.

        Example:
            >>> (w * 2).sum().backward(); w.grad
            tensor([2., 2., 2.])
        """
        out = TENSOR()
        lib.rt_torch_torchtensor_grad(self._live(), ctypes.byref(out))
        return _owned(out.value) if out.value else None

    @grad.setter
    def grad(self, value) -> None:
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type {type(value).__name__}")
        lib.rt_torch_torchtensor_set_grad(self._live(), None if value is None else value._live())

    @grad.deleter
    def grad(self) -> None:
        lib.rt_torch_torchtensor_set_grad(self._live(), None)

    @property
    def grad_fn(self) -> Node | None:
        """The operation that made this tensor, if autograd recorded one (None for leaves).

        Example:
            >>> (w * 2).grad_fn.name()
            'MulBackward0'
        """
        return grad_fn_of(self)

    @property
    def is_leaf(self) -> bool:
        """True for tensors no recorded operation made: the ones ``backward()`` fills ``.grad`` of.

        Example:
            >>> w.is_leaf, (w * 2).is_leaf
            (True, False)
        """
        from . import ops

        return ops.aten.is_leaf.default(self)

    @property
    def retains_grad(self) -> bool:
        """Whether ``retain_grad()`` was called on this non-leaf tensor."""
        from . import ops

        return ops.aten.retains_grad.default(self)

    @property
    def data(self):
        """The same values without autograd history (``detach()``); assigning replaces them.

        Example:
            >>> w.data.mul_(0.5)
        """
        return self.detach()

    @data.setter
    def data(self, value) -> None:
        from . import ops

        ops.aten.set_data.default(self, value)

    def backward(self, gradient=None, retain_graph=None, create_graph: bool = False, inputs=None) -> None:
        """Computes this tensor's gradient with respect to the leaves that require grad and adds
        it to their ``.grad`` (see :func:`simple_torch.autograd.backward`). A non-scalar tensor
        needs ``gradient``.

        Example:
            >>> loss = ((model(x) - y) ** 2).mean()
            >>> loss.backward()
        """
        backward(self, None if gradient is None else (gradient,), retain_graph, create_graph, inputs)

    def register_hook(self, hook) -> RemovableHandle:
        """Runs ``hook(grad)`` when this tensor's gradient is computed; a tensor it returns is used
        instead. Returns a handle whose ``remove()`` removes the hook.

        Example:
            >>> handle = w.register_hook(lambda grad: grad.clamp(-1, 1))
        """
        return register_hook(self, hook)

    def register_post_accumulate_grad_hook(self, hook) -> RemovableHandle:
        """Runs ``hook(tensor)`` on this leaf once backward has accumulated its gradient into
        ``.grad`` (what optimizers-in-backward and DistributedDataParallel use). Returns a handle
        whose ``remove()`` removes the hook.

        Example:
            >>> handle = w.register_post_accumulate_grad_hook(lambda p: print(p.grad.norm()))
        """
        return register_post_accumulate_grad_hook(self, hook)


def install(cls) -> None:
    """Puts the autograd members on the tensor class ``cls``.

    Example:
        >>> install(TorchTensorWrapper)  # once, in simple_torch/__init__.py
    """
    for name, member in vars(_TensorAutograd).items():
        if not name.startswith("__"):
            setattr(cls, name, member)


# ---- numerical checks --------------------------------------------------------------------------


def gradcheck(function, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Checks the gradients autograd computes for ``function(*inputs)`` against finite
    differences (central, step ``eps``), as ``torch.autograd.gradcheck``: use float64 inputs
    with ``requires_grad=True``. Returns True, or raises (returns False) naming the first
    mismatching output, input and element.

    Example:
        >>> x = st.randn(3, dtype=st.float64, requires_grad=True)
        >>> st.autograd.gradcheck(lambda t: (t * t).sin(), (x,))
        True
    """
    inputs = _as_tuple(inputs)
    differentiable = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def outputs_of(args):
        out = function(*args)
        return _as_tuple(out)

    outputs = outputs_of(inputs)
    for k, output in enumerate(outputs):
        flat_out = output.reshape(-1)
        n_out = flat_out.numel()
        for i in differentiable:
            x = inputs[i]
            # analytical: one row of the Jacobian per output element
            analytical = []
            for j in range(n_out):
                (row,) = grad(flat_out[j], x, retain_graph=True, allow_unused=True, materialize_grads=True)
                analytical.append(row.reshape(-1).detach())
            # numerical: perturb each element of x
            numerical = [[0.0] * x.numel() for _ in range(n_out)]
            base = x.detach()
            for e in range(x.numel()):
                values = []
                for sign in (1, -1):
                    moved = base.clone().reshape(-1)
                    moved[e] += sign * eps
                    args = list(inputs)
                    args[i] = moved.reshape(x.shape)
                    with no_grad():
                        values.append(outputs_of(args)[k].reshape(-1).detach())
                column = ((values[0] - values[1]) / (2 * eps)).tolist()
                for j in range(n_out):
                    numerical[j][e] = column[j]
            for j in range(n_out):
                for e, (a, n) in enumerate(zip(analytical[j].tolist(), numerical[j])):
                    if abs(a - n) > atol + rtol * abs(n):
                        if raise_exception:
                            raise RuntimeError(f"Jacobian mismatch for output {k} with respect to input {i}, element "
                                               f"({j}, {e}): numerical {n!r}, analytical {a!r}")
                        return False
    return True
