"""simple_torch against torch on a CUDA GPU, in one process and one run.

Each row does the same work both ways and reports the median time of each and the ratio
ours/torch (below 1.0: we are faster). Rounds alternate which side goes first, and each round
ends with that side's synchronize, so the GPU's work is counted. Rows:

- transfer: 256 MiB of float32 host to device (H2D) and device to host (D2H), pageable and
  pinned, blocking and ``non_blocking``, against torch's ``.to()`` and ``copy_()``, in GB/s;
- small: add and relu of 4 elements and an 8x8 matmul on the GPU: the cost of a call;
- matmul: a bf16 8192x8192 matmul, in TFLOP/s;
- stream: an event's record + synchronize, an add inside ``with stream:``, the bf16 matmul
  timed by CUDA events (GPU time), and a pinned copy beside three matmuls, on one stream and
  on a side stream (where the two can overlap);
- graph: a small MLP's forward (Linear-ReLU-Linear), batch 1 and 32, replayed as a CUDA graph
  (``st.cuda.CUDAGraph.replay()``, and the ``st.cuda.make_graphed_callables`` module, which
  also copies the input in) against torch's eager forward of the same model.

Prints a table, writes gpu_bench.json and draws gpu_bench.png (with matplotlib, if installed)
into --out. Without a CUDA device it says so and exits with status 3. About a minute on an H100.

Run: python benches/gpu.py [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import timeit
from pathlib import Path

import torch

import simple_torch as st

sys.path.insert(0, str(Path(__file__).parent))
import python_vs_torch  # noqa: E402  (its machine line, units, goals and chart)

NO_CUDA = 3
MIB = 1 << 20
MATMUL_N = 8192

#: Each group's goal, as python_vs_torch.GOALS gives them: transfers as its GPU rows, small ops as
#: its small ones, the big matmul as its large ones.
GOALS = {
    "transfer": python_vs_torch.GOALS["gpu"],
    "small": python_vs_torch.GOALS["small"],
    "matmul": python_vs_torch.GOALS["large"],
    "stream": (None, None, "reference: streams and events, both ways"),
    "graph": ("<=", 1 / 3, "at least 3x faster than torch eager (time ratio <= 0.333)"),
}

#: The graph rows' MLP: Linear(MLP_IN, MLP_HIDDEN) - ReLU - Linear(MLP_HIDDEN, MLP_OUT).
MLP_IN, MLP_HIDDEN, MLP_OUT = 256, 1024, 256


def sync_ours() -> None:
    st.synchronize("cuda:0")


def compare(ours: str, theirs: str, names: dict, calls: int, rounds: int) -> tuple[float, float]:
    """Median seconds per run of the statement ``ours`` and of ``theirs``: each round runs one
    ``calls`` times, then waits for the GPU with its own library's synchronize.

    Example:
        >>> compare("a.add(b)", "ta.add(tb)", {"a": a, "b": b, "ta": ta, "tb": tb}, 1000, 5)
        (6.1e-06, 5.2e-06)
    """
    sides = [(timeit.Timer(ours, globals=names), sync_ours), (timeit.Timer(theirs, globals=names), torch.cuda.synchronize)]

    def once(side: int, n: int) -> float:
        timer, sync = sides[side]
        sync()
        start = time.perf_counter()
        timer.timeit(n)
        sync()
        return (time.perf_counter() - start) / n

    return alternate(lambda: once(0, calls), lambda: once(1, calls), rounds)


def alternate(ours, theirs, rounds: int) -> tuple[float, float]:
    """Medians of ``ours()`` and ``theirs()`` (each returns seconds) over ``rounds`` rounds,
    after one warm-up each; which one goes first alternates.

    Example:
        >>> alternate(lambda: 1.0, lambda: 2.0, 3)
        (1.0, 2.0)
    """
    ours(), theirs()
    samples = ([], [])
    for round_ in range(rounds):
        for side in (0, 1) if round_ % 2 == 0 else (1, 0):
            samples[side].append((ours, theirs)[side]())
    return statistics.median(samples[0]), statistics.median(samples[1])


def transfer_rows(quick: bool):
    rounds = 3 if quick else 9
    numel = 256 * MIB // 4
    host = st.tensor_randn([numel])
    thost = host.to_torch().clone()
    pinned, tpinned = host.pin_memory(), thost.pin_memory()
    on_gpu, ton_gpu = host.cuda(0), thost.to("cuda:0")
    out, tout = st.tensor_zeros([numel]).pin_memory(), torch.zeros(numel).pin_memory()
    names = locals()
    cases = [
        ("H2D pageable", "host.cuda(0)", "thost.to('cuda:0')"),
        ("H2D pinned", "pinned.cuda(0)", "tpinned.to('cuda:0')"),
        ("H2D pinned, non_blocking", "pinned.cuda(0, non_blocking=True)", "tpinned.to('cuda:0', non_blocking=True)"),
        ("D2H to pageable: cpu()", "on_gpu.cpu()", "ton_gpu.to('cpu')"),
        # libtorch (for both) allocates a pinned result for a non-blocking copy to the CPU
        ("D2H non_blocking: to('cpu')", "on_gpu.to('cpu', non_blocking=True)", "ton_gpu.to('cpu', non_blocking=True)"),
        ("D2H into pinned: copy_", "out.copy_(on_gpu)", "tout.copy_(ton_gpu)"),
        ("D2H into pinned: copy_, non_blocking", "out.copy_(on_gpu, non_blocking=True)", "tout.copy_(ton_gpu, non_blocking=True)"),
    ]
    for name, ours, theirs in cases:
        ours_s, torch_s = compare(ours, theirs, names, 3, rounds)
        yield "transfer", f"{name} 256 MiB", ours_s, torch_s, ("GB/s", 256 * MIB / 1e9)


def small_rows(quick: bool):
    calls, rounds = (1_000, 3) if quick else (10_000, 9)
    a, b = st.tensor_randn([4], device="cuda:0"), st.tensor_randn([4], device="cuda:0")
    ta, tb = torch.randn(4, device="cuda:0"), torch.randn(4, device="cuda:0")
    m, tm = st.tensor_randn([8, 8], device="cuda:0"), torch.randn(8, 8, device="cuda:0")
    names = locals()
    for name, ours, theirs in [("add [4]", "a + b", "ta + tb"), ("relu [4]", "a.relu()", "ta.relu()"), ("matmul 8x8", "m @ m", "tm @ tm")]:
        yield "small", f"{name} on cuda:0", *compare(ours, theirs, names, calls, rounds), None


def matmul_operands():
    """bf16 MATMUL_N x MATMUL_N operands on cuda:0: two ours, two torch's."""
    a, b = (st.tensor_randn([MATMUL_N, MATMUL_N], device="cuda:0").bfloat16() for _ in range(2))
    ta, tb = (torch.randn(MATMUL_N, MATMUL_N, device="cuda:0", dtype=torch.bfloat16) for _ in range(2))
    return a, b, ta, tb


def matmul_rows(quick: bool):
    a, b, ta, tb = matmul_operands()
    names = locals()
    ours_s, torch_s = compare("a @ b", "ta @ tb", names, 10, 3 if quick else 9)
    yield "matmul", f"bf16 {MATMUL_N}x{MATMUL_N} @ {MATMUL_N}x{MATMUL_N}", ours_s, torch_s, ("TFLOP/s", 2 * MATMUL_N**3 / 1e12)


def stream_rows(quick: bool):
    calls, rounds = (500, 3) if quick else (5_000, 9)
    x, y = st.tensor_randn([4], device="cuda:0"), st.tensor_randn([4], device="cuda:0")
    tx, ty = torch.randn(4, device="cuda:0"), torch.randn(4, device="cuda:0")
    event, tevent = st.Event(), torch.cuda.Event()
    side, tside = st.Stream("cuda:0"), torch.cuda.Stream()
    names = locals() | {"torch": torch}
    yield "stream", "event record + synchronize", *compare(
        "event.record(); event.synchronize()", "tevent.record(); tevent.synchronize()", names, calls, rounds), None
    yield "stream", "add [4] inside with stream:", *compare(
        "with side:\n    x + y", "with torch.cuda.stream(tside):\n    tx + ty", names, calls, rounds), None

    a, b, ta, tb = matmul_operands()

    def gpu_time(event_class, left, right, count=10) -> float:
        start, end = event_class(enable_timing=True), event_class(enable_timing=True)
        start.record()
        for _ in range(count):
            left @ right
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / count

    ours_s, torch_s = alternate(lambda: gpu_time(st.Event, a, b), lambda: gpu_time(torch.cuda.Event, ta, tb), 3 if quick else 9)
    yield "stream", f"bf16 {MATMUL_N} matmul, GPU time by events", ours_s, torch_s, ("TFLOP/s", 2 * MATMUL_N**3 / 1e12)

    # A 256 MiB pinned copy and three matmuls: queued on one stream they run one after the other;
    # with the copy on a side stream the copy engine can run it beside them.
    pinned, tpinned = st.tensor_randn([256 * MIB // 4]).pin_memory(), torch.randn(256 * MIB // 4).pin_memory()
    names = locals() | {"torch": torch}
    matmuls, tmatmuls = "for _ in range(3):\n    a @ b", "for _ in range(3):\n    ta @ tb"
    yield "stream", "pinned H2D 256 MiB + 3 matmuls, one stream", *compare(
        f"pinned.cuda(0, non_blocking=True)\n{matmuls}", f"tpinned.to('cuda:0', non_blocking=True)\n{tmatmuls}", names, 1, rounds), None
    yield "stream", "pinned H2D 256 MiB + 3 matmuls, copy on a side stream", *compare(
        f"with side:\n    copy = pinned.cuda(0, non_blocking=True)\n{matmuls}",
        f"with torch.cuda.stream(tside):\n    copy = tpinned.to('cuda:0', non_blocking=True)\n{tmatmuls}", names, 1, rounds), None


def mlp_pair():
    """The same MLP as torch's and as ours (torch's weights loaded), both on cuda:0."""
    twin = torch.nn.Sequential(torch.nn.Linear(MLP_IN, MLP_HIDDEN), torch.nn.ReLU(), torch.nn.Linear(MLP_HIDDEN, MLP_OUT))
    ours = st.nn.Sequential(st.nn.Linear(MLP_IN, MLP_HIDDEN), st.nn.ReLU(), st.nn.Linear(MLP_HIDDEN, MLP_OUT))
    ours.load_state_dict(twin.state_dict())
    return ours.cuda(0), twin.to("cuda:0")


def graph_rows(quick: bool):
    calls, rounds = (200, 3) if quick else (2_000, 9)
    rows = []
    with torch.no_grad(), st.no_grad():  # forward graphs only, and torch's fair eager forward
        for batch in (1, 32):
            model, twin = mlp_pair()
            static_x, tx = st.randn(batch, MLP_IN, device="cuda:0"), torch.randn(batch, MLP_IN, device="cuda:0")
            # As torch.cuda.graph's documentation does: warm up on the capture's side stream, then capture.
            side, graph = st.cuda.Stream("cuda:0"), st.cuda.CUDAGraph(device="cuda:0")
            with side:
                for _ in range(3):
                    model(static_x)
            st.cuda.synchronize("cuda:0")
            with st.cuda.graph(graph, stream=side):
                static_y = model(static_x)  # each replay writes model(static_x) here
            # model's forward becomes a graph too (with a graph of its own), which copies x in.
            model = st.cuda.make_graphed_callables(model, (st.randn(batch, MLP_IN, device="cuda:0"),))
            x = st.randn(batch, MLP_IN, device="cuda:0")
            names = {"graph": graph, "static_y": static_y, "model": model, "x": x, "twin": twin, "tx": tx}
            rows.append(("graph", f"MLP forward batch {batch}: CUDAGraph.replay()",
                         *compare("graph.replay()", "twin(tx)", names, calls, rounds), None))
            rows.append(("graph", f"MLP forward batch {batch}: make_graphed_callables module",
                         *compare("model(x)", "twin(tx)", names, calls, rounds), None))
    yield from rows


def met(group: str, ratio: float) -> str:
    kind, limit, _ = GOALS[group]
    return "" if kind is None else "met" if ratio <= limit else "missed"


def cell(seconds: float, rate: float | None, unit: str) -> str:
    return python_vs_torch.show(seconds) + (f" ({rate:.1f} {unit})" if rate is not None else "")


def table(results: dict) -> str:
    """python_vs_torch's table, each time with its rate (GB/s, TFLOP/s) where it has one."""
    return python_vs_torch.table(results, lambda row, side: cell(row[f"{side}_s"], row[f"{side}_rate"], row["unit"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="folder for the JSON and PNG")
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds (a smoke run, not for numbers)")
    options = parser.parse_args()
    if not (st.torch_cuda_available() and torch.cuda.is_available()):
        print("no CUDA device is present: nothing to benchmark")
        sys.exit(NO_CUDA)
    options.out.mkdir(parents=True, exist_ok=True)

    results = {"machine": python_vs_torch.machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S"),
               "goals": {group: goal[2] for group, goal in GOALS.items()}, "rows": []}
    for rows in (transfer_rows, small_rows, matmul_rows, stream_rows, graph_rows):
        for group, name, ours, theirs, rate in rows(options.quick):
            unit, amount = rate or ("", None)
            row = {"group": group, "name": name, "ours_s": ours, "torch_s": theirs, "ratio": ours / theirs, "goal": "",
                   "unit": unit, "ours_rate": amount and amount / ours, "torch_rate": amount and amount / theirs}
            row["goal"] = met(group, row["ratio"])
            results["rows"].append(row)
            print(f"{group:8} {name:56} ours {cell(ours, row['ours_rate'], unit):>24}  torch "
                  f"{cell(theirs, row['torch_rate'], unit):>24}  ratio {row['ratio']:5.2f} {row['goal']}", flush=True)
        st.empty_cache()  # give the next group the memory back (torch's cache is the same one)
    print()
    print(table(results))
    json_path = options.out / "gpu_bench.json"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    png = json_path.with_suffix(".png")
    print(f"\nresults: {json_path}")
    drawn = python_vs_torch.plot(results, png, goals=GOALS, title="simple_torch vs torch on a GPU, same process, same run")
    print(f"chart: {png}" if drawn else "matplotlib is not installed: no chart")


if __name__ == "__main__":
    main()
