"""Random sequences of create / compute / move / free / misuse, each step done by us and by
PyTorch side by side: the results must agree, the failures must match torch's, and the library
must hold exactly the handles the machine's live wrappers hold."""

import operator

import torch
from hypothesis import settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, multiple, rule

import simple_torch as st
from simple_torch._native import lib
from helpers import assert_same

CUDA = st.torch_cuda_available()
DTYPES = hs.sampled_from(["float32", "float64"])
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv, "matmul": operator.matmul}
UNARY = ["relu", "sigmoid", "tanh", "clone"]
TO_THE_CPU = {
    "cpu()": lambda t: t.cpu(),
    "to('cpu')": lambda t: t.to("cpu"),
    "to(Device.cpu())": lambda t: t.to(st.Device.cpu()),
    "to(-1)": lambda t: t.to(-1),
    "to('cpu', non_blocking=True)": lambda t: t.to("cpu", non_blocking=True),
}
# Uses of a freed wrapper (with a live one where an operation needs two).
USES = {
    "relu": lambda freed, live: freed.relu(),
    "shape": lambda freed, live: freed.shape(),
    "numpy": lambda freed, live: freed.numpy(),
    "dtype": lambda freed, live: freed.dtype,
    "add": lambda freed, live: freed + live,
    "radd": lambda freed, live: live + freed,
    "matmul": lambda freed, live: live @ freed,
    "softmax": lambda freed, live: freed.softmax(0),
    "to": lambda freed, live: freed.to("cpu"),
    "handle": lambda freed, live: freed.handle,
    "free": lambda freed, live: freed.free(),
}


class Pair:
    """Our tensor and torch's, holding the same values; ``handle`` is kept for after free()."""

    def __init__(self, ours: st.TorchTensorWrapper, theirs: torch.Tensor):
        self.ours, self.theirs, self.handle = ours, theirs, ours.handle

    def __repr__(self):
        return f"Pair({self.theirs.dtype}{list(self.theirs.shape)} on {self.theirs.device})"


def describe(t: torch.Tensor) -> str:
    """How the library's messages name a tensor: ``float32[2, 3] on cpu``."""
    return f"{str(t.dtype).removeprefix('torch.')}[{', '.join(map(str, t.shape))}] on {t.device}"


def values(shape, dtype):
    return hnp.arrays(dtype, shape, elements=hs.floats(-8, 8, width=32 if dtype == "float32" else 64))


class TensorMachine(RuleBasedStateMachine):
    pairs = Bundle("pairs")
    freed = Bundle("freed")

    @initialize()
    def remember_the_start(self):
        # No gc.collect() here or below (78 ms each with torch loaded): every wrapper the
        # machine drops is freed by its reference count, and conftest collected before the test.
        self.start = st.live_handles()
        self.live = {}  # id(pair) -> pair, for every wrapper the machine holds and has not freed

    def keep(self, ours, theirs) -> Pair:
        pair = Pair(ours, theirs)
        self.live[id(pair)] = pair
        return pair

    # -- creating ---------------------------------------------------------------------------

    @rule(target=pairs, dtype=DTYPES, shape=SHAPES, kind=hs.sampled_from(["zeros", "ones"]))
    def create_filled(self, dtype, shape, kind):
        ours = getattr(st, f"tensor_{kind}")(list(shape), dtype=dtype)
        return self.keep(ours, getattr(torch, kind)(shape, dtype=getattr(torch, dtype)))

    @rule(target=pairs, data=hs.data(), dtype=DTYPES, shape=SHAPES)
    def create_from_numpy(self, data, dtype, shape):
        array = data.draw(values(shape, dtype))
        return self.keep(st.from_numpy(array), torch.from_numpy(array.copy()))

    @rule(target=pairs, source=pairs, data=hs.data(), dtype=DTYPES)
    def create_broadcastable_with(self, source, data, dtype):
        """A new operand whose shape broadcasts with an existing one (random shapes rarely do)."""
        shape = data.draw(hnp.broadcastable_shapes(tuple(source.theirs.shape), min_dims=0, max_dims=3, max_side=4))
        array = data.draw(values(shape, dtype))
        return self.keep(st.from_numpy(array), torch.from_numpy(array.copy()))

    @rule(target=pairs, source=pairs, data=hs.data())
    def create_matmul_partner(self, source, data):
        """A new right-hand operand for ``source @ it``: [k] or [k, n] with k = source's last dim."""
        k = source.theirs.shape[-1] if source.theirs.ndim else 1
        shape = data.draw(hs.sampled_from([(k,), (k, data.draw(hs.integers(0, 4)))]))
        array = data.draw(values(shape, str(source.theirs.dtype).removeprefix("torch.")))
        return self.keep(st.from_numpy(array), torch.from_numpy(array.copy()))

    # -- computing --------------------------------------------------------------------------

    @rule(target=pairs, a=pairs, b=pairs, name=hs.sampled_from(sorted(BINARY)))
    def binary(self, a, b, name):
        function = BINARY[name]
        try:
            expected = function(a.theirs, b.theirs)
        except RuntimeError:
            try:
                function(a.ours, b.ours)
            except st.ArgumentError as error:
                assert f"Tensor.{name}: {describe(a.theirs)} with {describe(b.theirs)}: " in str(error), str(error)
            else:
                raise AssertionError(f"{name} of {a} and {b} did not raise, as torch does")
            return multiple()  # nothing new for the bundle
        return self.keep(function(a.ours, b.ours), expected)

    @rule(
        target=pairs, a=pairs, scalar=hs.one_of(hs.integers(-3, 3), hs.floats(-4, 4)),
        name=hs.sampled_from(["add", "sub", "mul", "div"]), reflected=hs.booleans(),
    )
    def with_a_python_number(self, a, scalar, name, reflected):
        function = BINARY[name]
        compute = (lambda x: function(scalar, x)) if reflected else (lambda x: function(x, scalar))
        expected = compute(a.theirs)
        if reflected and name == "div":
            # torch's number / tensor is number * tensor.reciprocal() (0 / 5e-324 is nan there);
            # ours is a true division, by a 0-d tensor of the dtype the number promotes to.
            typed = a.theirs.dtype if isinstance(scalar, float) else torch.int64
            expected = torch.div(torch.tensor(scalar, dtype=typed), a.theirs)
        return self.keep(compute(a.ours), expected)

    @rule(target=pairs, a=pairs, name=hs.sampled_from(UNARY))
    def unary(self, a, name):
        return self.keep(getattr(a.ours, name)(), getattr(a.theirs, name)())

    @rule(target=pairs, a=pairs, dim=hs.integers(-4, 4))
    def softmax(self, a, dim):
        try:
            expected = a.theirs.softmax(dim)
        except IndexError:
            try:
                a.ours.softmax(dim)
            except st.TensorIndexError as error:
                assert str(error).startswith(
                    f"aten::softmax.int({describe(a.theirs)}, {dim}, None): Dimension out of range"
                ), str(error)
            else:
                raise AssertionError(f"softmax({dim}) of {a} did not raise, as torch does")
            return multiple()
        return self.keep(a.ours.softmax(dim), expected)

    # -- moving -----------------------------------------------------------------------------

    @rule(target=pairs, a=pairs, how=hs.sampled_from(sorted(TO_THE_CPU)))
    def to_the_cpu(self, a, how):
        ours = TO_THE_CPU[how](a.ours)
        assert ours.device() == st.Device.cpu() and not ours.is_cuda()
        return self.keep(ours, a.theirs.cpu())

    @rule(target=pairs, a=pairs, how=hs.sampled_from(["cuda()", "to('cuda')"]))
    def to_the_gpu(self, a, how):
        move = (lambda t: t.cuda()) if how == "cuda()" else (lambda t: t.to("cuda"))
        if not CUDA:
            try:
                move(a.ours)
            except st.DeviceError as error:
                assert "CUDA is not available" in str(error), str(error)
            else:
                raise AssertionError(f"{how} without CUDA did not raise")
            return multiple()
        ours = move(a.ours)
        assert ours.is_cuda()
        return self.keep(ours, a.theirs.cuda())

    # -- freeing and misuse -----------------------------------------------------------------

    @rule(target=freed, a=consumes(pairs), how=hs.sampled_from(["free()", "with"]))
    def free(self, a, how):
        if how == "free()":
            a.ours.free()
        else:
            with a.ours:
                pass
        assert a.ours.is_freed
        del self.live[id(a)]
        return a

    @rule(f=freed, other=pairs, use=hs.sampled_from(sorted(USES)))
    def use_after_free(self, f, other, use):
        try:
            USES[use](f.ours, other.ours)
        except st.FreedTensorError as error:
            assert "this tensor was already freed" in str(error), str(error)
        else:
            raise AssertionError(f"{use} of a freed tensor did not raise")
        assert repr(f.ours) == "tensor(<freed>)"

    @rule(f=freed, call=hs.sampled_from(["rt_torch_torchtensor_numel", "rt_torch_torchtensor_relu", "rt_torch_torchtensor_free"]))
    def raw_call_on_a_freed_handle(self, f, call):
        try:
            getattr(lib, call)(f.handle)
        except st.HandleError as error:
            python_name = call.replace("rt_torch_torchtensor_", "Tensor.")
            assert str(error) == f"{python_name}: tensor handle {f.handle:#x} was already freed"
        else:
            raise AssertionError(f"{call} of a freed handle did not raise")

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def every_live_pair_agrees(self):
        for pair in self.live.values():
            assert_same(pair.ours, pair.theirs)
            assert pair.ours.is_cuda() == pair.theirs.is_cuda

    @invariant()
    def the_library_holds_exactly_our_live_wrappers(self):
        assert st.live_handles() == self.start + len(self.live)

    def teardown(self):
        for pair in getattr(self, "live", {}).values():
            pair.ours.free()
        self.live = {}


TensorMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None, derandomize=True, database=None, print_blob=False,
    report_multiple_bugs=False,
)
TestRandomSequencesMatchTorch = TensorMachine.TestCase
