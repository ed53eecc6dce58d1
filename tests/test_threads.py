"""Many threads at once: 8 threads x 50,000 mixed operations, every result checked against NumPy.

ctypes releases the GIL during each call, so the threads really run inside the library together:
creating, computing, reading back, freeing (explicitly, by ``with`` and by garbage collection,
which may run in another thread) and failing. Each thread uses shapes no other thread uses, so
an error message that leaked from another thread would name the wrong shapes or handle.
"""

import gc
import random
import threading
import time
import traceback

import numpy as np

import simple_torch as st
from simple_torch._native import lib

THREADS = 8
OPERATIONS_PER_THREAD = 50_000  # each call that creates, computes, reads back, frees or fails

# Read-only operands every thread uses, with the values they must keep.
SHARED_MAT = np.random.default_rng(100).standard_normal((3, 5)).astype(np.float32)
SHARED_ROW = np.random.default_rng(101).standard_normal(5).astype(np.float32)
SHARED_ONE = np.array([0.75], dtype=np.float32)


def close(ours, expected) -> bool:
    """Same shape, dtype and values (to float32 rounding) as NumPy computed."""
    return ours.shape == expected.shape and ours.dtype == expected.dtype and np.allclose(ours, expected, rtol=1e-5, atol=1e-6)


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class Worker:
    """One thread's inputs, expected results and steps; shapes [m, 3], [m, k] and [k, n] are its own."""

    def __init__(self, index, shared):
        self.index = index
        self.m, self.k, self.n = 2 + index, 4 + index, 3 + index  # distinct in every thread
        self.shared = shared
        self.rng = random.Random(index)
        rng = np.random.default_rng(index)
        self.inputs = []
        for _ in range(4):  # a few input sets, each with all its expected results precomputed
            x = rng.standard_normal((self.m, 3)).astype(np.float32)
            a = rng.standard_normal((self.m, self.k)).astype(np.float32)
            b = (rng.standard_normal((self.m, self.k)) + 3).astype(np.float32)  # well away from 0
            c = rng.standard_normal((self.k, self.n)).astype(np.float32)
            xw = x @ SHARED_MAT
            self.inputs.append(
                {
                    "x": x, "a": a, "b": b, "c": c, "a_list": a.tolist(),
                    "xw_row_relu": np.maximum(xw + SHARED_ROW, 0),
                    "a_plus_b": a + b, "a_minus_b": a - b, "a_times_b": a * b, "a_over_b": a / b,
                    "ac": a @ c, "sigmoid_a": (1 / (1 + np.exp(-a))).astype(np.float32), "tanh_a": np.tanh(a),
                    "softmax_a0": softmax(a, 0), "softmax_a1": softmax(a, 1),
                    "scalars": (a * np.float32(2.5) + np.float32(1) - np.float32(0.5)) / np.float32(4),
                    "reflected": np.float32(2) - a, "shared_one": a * SHARED_ONE,
                    "ones_plus_a": a + 1,
                }
            )
        self.steps = [
            self.create_from_numpy_and_compute, self.create_from_list, self.zeros_and_ones,
            self.matmul_with_shared, self.unary_ops, self.scalar_operators, self.dropped_to_gc,
            self.cycle_collected_by_gc, self.matmul_mismatch_names_my_shapes, self.freed_wrapper_raises,
            self.raw_call_on_freed_handle_names_it, self.softmax_dim_out_of_range,
            self.stream_handle_passed_as_a_tensor,
        ]

    def run(self, barrier, failures):
        try:
            barrier.wait(timeout=120)
            done = 0
            while done < OPERATIONS_PER_THREAD:
                step = self.rng.choice(self.steps)
                done += step(self.inputs[done % 4])
        except BaseException:
            failures.append(f"thread {self.index} (m={self.m}, k={self.k}):\n{traceback.format_exc()}")
            barrier.abort()

    # Each step returns how many operations it ran.

    def create_from_numpy_and_compute(self, v):
        a, b = st.from_numpy(v["a"]), st.from_numpy(v["b"])
        s, d, p, q = a + b, a - b, a * b, a / b
        assert close(s.numpy(), v["a_plus_b"]) and close(d.numpy(), v["a_minus_b"])
        assert close(p.numpy(), v["a_times_b"]) and close(q.numpy(), v["a_over_b"])
        for t in (a, b, s, d, p, q):
            t.free()
        return 2 + 4 + 4 + 6

    def create_from_list(self, v):
        with st.from_list(v["a_list"]) as a, st.from_numpy(v["c"]) as c:
            with a.matmul(c) as ac:
                assert close(ac.numpy(), v["ac"])
            clone = a.clone()
        assert close(clone.numpy(), v["a"]) and a.is_freed
        return 2 + 1 + 1 + 1 + 1 + 2 + 1 + 1  # clone freed by refcount on return

    def zeros_and_ones(self, v):
        with st.tensor_zeros([self.m, self.k]) as z, st.tensor_ones([self.m, self.k]) as o, st.from_numpy(v["a"]) as a:
            total = (z + o + a)  # an intermediate (z + o) collected on the way
            assert close(total.numpy(), v["ones_plus_a"])
            assert z.shape() == [self.m, self.k] and o.dtype is st.DType.float32
        return 3 + 2 + 1 + 2 + 3 + 2

    def matmul_with_shared(self, v):
        mat, row, _ = self.shared
        with st.from_numpy(v["x"]) as x:
            y = (x @ mat + row).relu()
            assert close(y.numpy(), v["xw_row_relu"])
            y.free()
        return 1 + 3 + 2 + 1 + 1 + 1

    def unary_ops(self, v):
        with st.from_numpy(v["a"]) as a:
            assert close(a.sigmoid().numpy(), v["sigmoid_a"])
            assert close(a.tanh().numpy(), v["tanh_a"])
            assert close(a.softmax(0).numpy(), v["softmax_a0"])
            assert close(a.softmax(-1).numpy(), v["softmax_a1"])
            assert close(a.relu().numpy(), np.maximum(v["a"], 0))
        return 1 + 5 * 3 + 1

    def scalar_operators(self, v):
        _, _, one = self.shared
        with st.from_numpy(v["a"]) as a:
            assert close(((a * 2.5 + 1 - 0.5) / 4).numpy(), v["scalars"])
            assert close((2.0 - a).numpy(), v["reflected"])
            assert close((a * one).numpy(), v["shared_one"])
        return 1 + (4 * 3 + 3 + 2) + (3 + 2) + 3 + 1  # a Python number is a 0-d tensor, created and freed

    def dropped_to_gc(self, v):
        kept = [st.from_numpy(v["b"]).relu() for _ in range(3)]  # intermediates dropped at once
        assert close(kept[-1].numpy(), v["b"].clip(min=0))
        del kept
        return 3 * 3 + 1 + 3

    def cycle_collected_by_gc(self, v):
        cycle = [st.from_numpy(v["x"])]
        cycle.append(cycle)  # freed by the collector, in whichever thread runs it
        del cycle
        if self.rng.random() < 0.05:
            gc.collect()
        return 2

    def matmul_mismatch_names_my_shapes(self, v):
        m, k = self.m, self.k
        with st.tensor_zeros([m, k]) as a, st.tensor_zeros([k + 1, 2]) as b:
            try:
                a @ b
            except st.ArgumentError as error:
                message = str(error)
            else:
                raise AssertionError("matmul of mismatched shapes did not raise")
            expected = (
                f"Tensor.matmul: float32[{m}, {k}] on cpu with float32[{k + 1}, 2] on cpu: "
                f"mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {k + 1}x2)"
            )
            assert message == expected, message
            # the library's own message names the C function; Python's names the method
            assert lib.rt_torch_last_error() == b"rt_torch_torchtensor_matmul: " + expected.encode().removeprefix(b"Tensor.matmul: ")
            assert a.numel() == m * k and lib.rt_torch_last_error() is None  # a success clears it
        return 2 + 1 + 1 + 1 + 1 + 2

    def freed_wrapper_raises(self, v):
        t = st.from_numpy(v["x"])
        t.free()
        for use in (t.relu, t.numpy, t.free, lambda: self.shared[0] @ t):
            try:
                use()
            except st.FreedTensorError as error:
                assert "this tensor was already freed" in str(error), str(error)
            else:
                raise AssertionError(f"{use} on a freed wrapper did not raise")
        return 2 + 4

    def raw_call_on_freed_handle_names_it(self, v):
        t = st.tensor_ones([self.m, self.k])
        handle = t.handle
        t.free()
        try:
            lib.rt_torch_torchtensor_ndim(handle)
        except st.HandleError as error:
            expected = f"Tensor.ndim: tensor handle {handle:#x} was already freed"
            assert str(error) == expected, str(error)
        else:
            raise AssertionError("ndim of a freed handle did not raise")
        return 3

    def softmax_dim_out_of_range(self, v):
        dim = 2 + self.index
        with st.from_numpy(v["a"]) as a:
            try:
                a.softmax(dim)
            except st.TensorIndexError as error:
                prefix = f"aten::softmax.int(float32[{self.m}, {self.k}] on cpu, {dim}, None): "
                assert str(error).startswith(prefix + "Dimension out of range"), str(error)
            else:
                raise AssertionError(f"softmax over dim {dim} of a 2-d tensor did not raise")
        return 3

    def stream_handle_passed_as_a_tensor(self, v):
        stream = lib.rt_torch_stream_create(-1)  # a CPU stream: a handle of the other kind
        try:
            lib.rt_torch_torchtensor_relu(stream)
        except st.HandleError as error:
            assert str(error) == f"Tensor.relu: {stream:#x} is a stream handle, not a tensor handle", str(error)
        else:
            raise AssertionError("relu of a stream handle did not raise")
        lib.rt_torch_torchstream_free(stream)
        return 3


def test_eight_threads_of_mixed_operations_match_numpy_and_keep_their_own_errors():
    """8 threads x 50,000 operations on their own and on shared tensors; every result checked."""
    gc.collect()
    start = st.live_handles()
    shared = (st.from_numpy(SHARED_MAT), st.from_numpy(SHARED_ROW), st.from_numpy(SHARED_ONE))
    workers = [Worker(index, shared) for index in range(THREADS)]
    failures = []
    barrier = threading.Barrier(THREADS)
    threads = [threading.Thread(target=w.run, args=(barrier, failures), name=f"worker-{w.index}") for w in workers]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    elapsed = time.perf_counter() - began
    assert not any(thread.is_alive() for thread in threads), "a worker thread did not finish"
    assert not failures, "\n".join(failures)
    print(f"threads: {THREADS} x {OPERATIONS_PER_THREAD} operations in {elapsed:.1f} s")

    for ours, values in zip(shared, (SHARED_MAT, SHARED_ROW, SHARED_ONE)):
        np.testing.assert_array_equal(ours.numpy(), values)  # operands are never modified
        ours.free()
    gc.collect()
    assert st.live_handles() == start


def test_an_error_in_one_thread_leaves_another_threads_slot_alone():
    """The last error is per thread: a failure here is not seen there, and a success there does
    not clear it here."""
    failed_here, cleared_there = threading.Event(), threading.Event()
    seen = {}

    def other():
        failed_here.wait(timeout=60)
        seen["before"] = lib.rt_torch_last_error()
        st.tensor_zeros([1]).free()
        seen["after"] = lib.rt_torch_last_error()
        cleared_there.set()

    thread = threading.Thread(target=other)
    thread.start()
    try:
        try:
            lib.rt_torch_torchtensor_relu(None)
        except st.HandleError:
            pass
        failed_here.set()
        cleared_there.wait(timeout=60)
        assert lib.rt_torch_last_error() == b"rt_torch_torchtensor_relu: the tensor handle is NULL"
    finally:
        failed_here.set()
        thread.join(timeout=60)
    assert seen == {"before": None, "after": None}
    lib.rt_torch_clear_error()


def test_freeing_a_shared_tensor_while_other_threads_use_it():
    """One thread frees a tensor's handle while four others keep computing with it: each call
    either succeeds with the right values or raises HandleError naming the freed handle."""
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    failures, outcomes = [], {"ok": 0, "raised": 0}
    lock = threading.Lock()

    for _ in range(20):
        shared = st.from_numpy(values)
        handle = shared.handle
        barrier = threading.Barrier(5)

        def user():
            try:
                barrier.wait(timeout=60)
                for _ in range(200):
                    try:
                        result = lib.rt_torch_torchtensor_relu(handle)
                    except st.HandleError as error:
                        assert str(error) == f"Tensor.relu: tensor handle {handle:#x} was already freed", str(error)
                        with lock:
                            outcomes["raised"] += 1
                        continue
                    with st.TorchTensorWrapper(result) as out:
                        np.testing.assert_array_equal(out.numpy(), values)
                    with lock:
                        outcomes["ok"] += 1
            except BaseException:
                failures.append(traceback.format_exc())

        def freer():
            barrier.wait(timeout=60)
            time.sleep(0.0005)
            shared.free()

        threads = [threading.Thread(target=user) for _ in range(4)] + [threading.Thread(target=freer)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not failures, "\n".join(failures)
        assert shared.is_freed
    assert outcomes["ok"] + outcomes["raised"] == 20 * 4 * 200 and outcomes["raised"] > 0
