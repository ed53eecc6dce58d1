"""st.cuda's CUDA graphs (torch.cuda.CUDAGraph, graph, graph_pool_handle, make_graphed_callables).

Without a GPU: every entry point raises DeviceError saying "CUDA is not available", and bad
graph handles are reported, never used. With one (tests marked cuda, as tests/gpu/run selects
them): captures replay what torch computes eagerly.
"""

import ctypes

import numpy as np
import pytest

import simple_torch as st
from helpers import run_python
from simple_torch._native import lib

NO_CUDA = pytest.mark.skipif(st.cuda.is_available(), reason="checks a machine without CUDA")


def on_gpu(test):
    """A test that needs a GPU: marked cuda (tests/gpu/run selects those), skipped without CUDA."""
    return pytest.mark.cuda(pytest.mark.skipif(not st.cuda.is_available(), reason="CUDA is not available")(test))


# ---- without CUDA ---------------------------------------------------------------------------


ENTRY_POINTS = {
    "synchronize": lambda: st.cuda.synchronize(),
    "current_stream": lambda: st.cuda.current_stream(),
    "Stream": lambda: st.cuda.Stream(),
    "Event": lambda: st.cuda.Event(),
    "graph_pool_handle": lambda: st.cuda.graph_pool_handle(),
    "CUDAGraph": lambda: st.cuda.CUDAGraph(),
    "CUDAGraph on cuda:1": lambda: st.cuda.CUDAGraph(device="cuda:1"),
    "graph": lambda: st.cuda.graph(None),
    "make_graphed_callables": lambda: st.cuda.make_graphed_callables(lambda x: x * 2, (st.ones(2),)),
}


@NO_CUDA
@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_without_cuda_every_entry_point_says_so(name):
    with pytest.raises(st.DeviceError, match="CUDA is not available"):
        ENTRY_POINTS[name]()
    assert (st.ones(2) * 2).tolist() == [2.0, 2.0]  # and the library goes on working


@NO_CUDA
def test_without_cuda_is_available_and_device_count_answer():
    assert st.cuda.is_available() is False and st.cuda.device_count() == 0


@NO_CUDA
def test_without_cuda_the_c_abi_says_so_and_the_process_survives():
    done = run_python(
        "import ctypes, simple_torch as st\n"
        "from simple_torch._native import lib\n"
        "dll = ctypes.CDLL(st.get_library())\n"
        "dll.rt_torch_cuda_graph_create.restype = ctypes.c_void_p\n"
        "dll.rt_torch_cuda_graph_pool_handle.restype = dll.rt_torch_torchcudagraph_replay.restype = ctypes.c_bool\n"
        "dll.rt_torch_last_error.restype = ctypes.c_char_p\n"
        "first, second = ctypes.c_uint64(), ctypes.c_uint64()\n"
        "print(dll.rt_torch_cuda_graph_create(0), dll.rt_torch_last_error_kind(), dll.rt_torch_last_error().decode())\n"
        "print(dll.rt_torch_cuda_graph_pool_handle(ctypes.byref(first), ctypes.byref(second)),\n"
        "      dll.rt_torch_last_error_kind(), dll.rt_torch_last_error().decode())\n"
        "print(dll.rt_torch_torchcudagraph_replay(None), dll.rt_torch_last_error().decode())\n"
        "print((st.ones(2) + 1).tolist())\n"
    )
    assert done.returncode == 0, done.stderr
    created, pool, replay, alive = done.stdout.splitlines()
    assert created.startswith("None 2 rt_torch_cuda_graph_create: cannot use cuda:0: CUDA is not available")
    assert pool.startswith("False 2 rt_torch_cuda_graph_pool_handle: cannot make a graph memory pool handle: CUDA is not available")
    assert replay == "False rt_torch_torchcudagraph_replay: the CUDA graph handle is NULL"
    assert alive == "[2.0, 2.0]"


# ---- misuse, on any machine -----------------------------------------------------------------


def test_the_cpu_is_not_a_graph_device():
    with pytest.raises(st.ArgumentError, match="invalid CUDA device index -1"):
        lib.rt_torch_cuda_graph_create(-1)


@pytest.mark.parametrize("export", ["capture_end", "replay", "reset"])
def test_bad_graph_handles_are_reported_by_name(export):
    call = getattr(lib, f"rt_torch_torchcudagraph_{export}")
    python_name = f"CUDAGraph.{export}"
    with pytest.raises(st.HandleError, match=f"^{python_name}: the CUDA graph handle is NULL$"):
        call(None)
    with pytest.raises(st.HandleError, match="0xdeadbeef is not a CUDA graph handle returned by simple_torch"):
        call(0xDEADBEEF)
    stream = st.Stream("cpu")
    with pytest.raises(st.HandleError, match="is a stream handle, not a CUDA graph handle"):
        call(stream._handle)
    freed = lib.rt_torch_stream_create(-1)
    lib.rt_torch_torchstream_free(freed)
    with pytest.raises(st.HandleError, match=f"CUDA graph handle {freed:#x} was already freed"):
        call(freed)


def test_freeing_bad_graph_handles_is_reported_and_finalizing_them_is_silent():
    lib.rt_torch_torchcudagraph_free(None)  # NULL: a no-op
    with pytest.raises(st.HandleError, match="not a CUDA graph handle"):
        lib.rt_torch_torchcudagraph_free(0xDEADBEEF)
    lib.rt_torch_clear_error()
    lib.rt_torch_torchcudagraph_finalize(0xDEADBEEF)
    lib.rt_torch_torchcudagraph_finalize(None)
    assert lib.rt_torch_last_error() is None


def test_pool_and_capture_begin_check_the_handle_first():
    first = ctypes.c_uint64()
    with pytest.raises(st.HandleError, match="^CUDAGraph.pool: the CUDA graph handle is NULL"):
        lib.rt_torch_torchcudagraph_pool(None, ctypes.byref(first), None)
    with pytest.raises(st.HandleError, match="^CUDAGraph.capture_begin: 0xdeadbeef is not a CUDA graph handle"):
        lib.rt_torch_torchcudagraph_capture_begin(0xDEADBEEF, 0, 0, 7)


# ---- on a GPU: the same results as torch ----------------------------------------------------


def torch_twin(model):
    """A torch model with the st model's structure and weights, on cuda:0."""
    import torch

    twin = torch.nn.Sequential(*(
        torch.nn.Linear(layer.in_features, layer.out_features) if isinstance(layer, st.nn.Linear) else torch.nn.ReLU()
        for layer in model
    ))
    twin.load_state_dict({name: value.detach().to_torch().clone() for name, value in model.state_dict().items()})
    return twin.cuda()


def close(ours, theirs, tolerance=1e-5):
    np.testing.assert_allclose(ours.cpu().numpy(), theirs.detach().cpu().numpy(), rtol=tolerance, atol=tolerance)


@on_gpu
def test_a_captured_expression_replays_with_new_inputs():
    import torch

    static_x = st.zeros(8, device="cuda")
    graph = st.cuda.CUDAGraph()
    before = st.cuda.current_stream()
    with st.no_grad(), st.cuda.graph(graph):
        assert st.cuda.current_stream() != before  # captured on a side stream
        static_y = static_x * 2 + 1
    assert st.cuda.current_stream() == before  # and the stream is restored
    for seed in range(3):
        values = np.random.default_rng(seed).standard_normal(8).astype("float32")
        static_x.copy_(st.from_numpy(values).cuda())
        graph.replay()
        close(static_y, torch.from_numpy(values).cuda() * 2 + 1)


@on_gpu
@pytest.mark.parametrize("batch", [1, 32])
def test_a_graphed_mlp_forward_matches_torch_eager(batch):
    import torch

    st.manual_seed(batch)
    model = st.nn.Sequential(st.nn.Linear(16, 64), st.nn.ReLU(), st.nn.Linear(64, 8))
    twin = torch_twin(model)
    model.cuda()
    with st.no_grad():
        graphed = st.cuda.make_graphed_callables(model, (st.randn(batch, 16, device="cuda"),))
        assert graphed is model  # a module comes back with its forward graphed, as in torch
        for seed in range(3):
            values = np.random.default_rng(seed).standard_normal((batch, 16)).astype("float32")
            y = graphed(st.from_numpy(values).cuda())
            assert y.shape == (batch, 8) and y.device == st.Device.cuda(0)
            close(y, twin(torch.from_numpy(values).cuda()))
        with pytest.raises(st.ArgumentError, match=r"argument 0 of the graphed callable must match its sample: "
                                                   rf"float32\[{batch}, 16\] on cuda:0, got float32\[{batch + 1}, 16\]"):
            graphed(st.randn(batch + 1, 16, device="cuda"))
        with pytest.raises(st.ArgumentError, match="got float64"):
            graphed(st.randn(batch, 16, device="cuda", dtype=st.float64))
        with pytest.raises(st.ArgumentError, match="on cpu"):
            graphed(st.randn(batch, 16))
        model.eval()  # another mode than the captured one: the module's own forward, as in torch
        x = st.randn(batch, 16, device="cuda")
        close(model(x), twin(x.to_torch()))


@on_gpu
def test_a_graphed_function_returns_its_outputs_as_they_were_shaped():
    import torch

    def both(x, y):
        return x + y, (x * y).relu()

    with st.no_grad():
        graphed = st.cuda.make_graphed_callables(both, (st.randn(4, device="cuda"), st.randn(4, device="cuda")))
        x, y = st.randn(4, device="cuda"), st.randn(4, device="cuda")
        total, product = graphed(x, y)
        close(total, x.to_torch() + y.to_torch())
        close(product, torch.relu(x.to_torch() * y.to_torch()))


@on_gpu
def test_graphing_with_grad_mode_on_is_refused():
    model = st.nn.Linear(4, 4).cuda()
    with pytest.raises(NotImplementedError, match="only forward graphs are supported"):
        st.cuda.make_graphed_callables(model, (st.randn(2, 4, device="cuda"),))
    with st.no_grad():
        graphed = st.cuda.make_graphed_callables(st.nn.Linear(4, 4).cuda(), (st.randn(2, 4, device="cuda"),))
    with pytest.raises(NotImplementedError, match="st.no_grad"):
        graphed(st.randn(2, 4, device="cuda"))


@on_gpu
def test_two_graphs_share_a_private_pool():
    pool = st.cuda.graph_pool_handle()
    assert pool[0] == 0 and pool[1] > 0
    first, second, third = st.cuda.CUDAGraph(), st.cuda.CUDAGraph(), st.cuda.CUDAGraph()
    side = st.cuda.Stream()
    static_x = st.zeros(16, device="cuda")
    with st.no_grad():
        with st.cuda.graph(first, pool=pool, stream=side):
            doubled = static_x * 2
        with st.cuda.graph(second, pool=pool, stream=side):
            shifted = doubled + 1
        assert first.pool() == second.pool() == pool
        with st.cuda.graph(third, pool=second.pool(), stream=side):
            squared = shifted * shifted
    assert third.pool() == pool
    static_x.copy_(st.arange(16.0, device="cuda"))
    for g in (first, second, third):  # in capture order, as a shared pool needs
        g.replay()
    expected = [(2 * i + 1) ** 2 for i in range(16)]
    assert squared.tolist() == expected
    own = st.cuda.CUDAGraph()
    with st.no_grad(), st.cuda.graph(own):
        static_x + 1
    assert own.pool() != pool and own.pool()[0] > 0  # a private pool of its own


@on_gpu
def test_replay_after_reset_is_refused_and_a_reset_graph_captures_again():
    static_x = st.ones(4, device="cuda")
    graph = st.cuda.CUDAGraph()
    with st.no_grad(), st.cuda.graph(graph):
        y = static_x * 3
    graph.replay()
    graph.reset()
    with pytest.raises(st.ArgumentError, match="^CUDAGraph.replay: cannot replay the CUDA graph: .*without a preceding successful capture"):
        graph.replay()
    with pytest.raises(st.ArgumentError, match="without a preceding successful capture"):
        graph.pool()
    assert y.tolist() == [3.0] * 4  # tensors the capture made stay valid
    with st.no_grad(), st.cuda.graph(graph):
        z = static_x * 5
    graph.replay()
    assert z.tolist() == [5.0] * 4


@on_gpu
def test_capture_misuse_is_reported_clearly():
    graph = st.cuda.CUDAGraph()
    with pytest.raises(st.ArgumentError, match="CUDA graphs must be captured on a non-default stream"):
        graph.capture_begin()  # the default stream is current
    with pytest.raises(st.ArgumentError, match="capture_end without a capture in progress"):
        graph.capture_end()
    with pytest.raises(st.ArgumentError, match="without a preceding successful capture"):
        graph.replay()
    with pytest.raises(st.ArgumentError, match="capture_error_mode must be one of"):
        graph.capture_begin(capture_error_mode="strict")
    with pytest.raises(st.ArgumentError, match="is not a graph pool id"):
        lib.rt_torch_torchcudagraph_capture_begin(graph._handle, 1, 2, 0)
    with pytest.raises(st.ArgumentError, match="unknown capture_error_mode 3"):
        lib.rt_torch_torchcudagraph_capture_begin(graph._handle, 0, 0, 3)
    with pytest.raises(TypeError, match="needs a st.cuda.CUDAGraph"):
        st.cuda.graph("not a graph")
    with pytest.raises(NotImplementedError, match="keep_graph=True"):
        st.cuda.CUDAGraph(keep_graph=True)
    with pytest.raises(st.ArgumentError, match="expected a CUDA device, got cpu"):
        st.cuda.CUDAGraph(device="cpu")
    side = st.cuda.Stream()
    with side:
        graph.capture_begin()
        with pytest.raises(st.ArgumentError, match="already capturing"):
            graph.capture_begin()
        graph.capture_end()
    graph.replay()  # an empty graph replays (libtorch warns that it is empty)


@on_gpu
def test_a_graph_freed_during_its_capture_gives_its_stream_back():
    x = st.ones(4, device="cuda")
    side = st.cuda.Stream()
    graph = st.cuda.CUDAGraph()
    with st.no_grad(), side:
        graph.capture_begin()
        x * 2
        lib.rt_torch_torchcudagraph_free(graph._handle)  # ends the capture, then destroys the graph
        y = x + 1  # runs, rather than going into a graph nobody replays
    side.synchronize()
    assert y.tolist() == [2.0] * 4
    with pytest.raises(st.HandleError, match="^CUDAGraph.replay: CUDA graph handle 0x[0-9a-f]+ was already freed"):
        graph.replay()
