"""simple_torch against PyTorch's own Python bindings, in one process and one run.

Each row does the same work both ways and reports the median time of each and the ratio
ours/torch (below 1.0: we are faster). Rounds alternate ours and torch, so that drift in the
machine's speed hits both alike. Rows:

- small ops on 4-element float32 tensors (zeros, add, mul, relu), an 8x8 matmul, and the chain
  ``x.matmul(w).add(b).relu()``: the cost of a call;
- the same small ops through the generic operator entry and the torch-shaped surface;
- factories with the ``dl`` config's defaults (``st.zeros(4)`` against ``torch.zeros(4)``);
- large ops, add on 16M elements and a 1024x1024 matmul: throughput, where both run the same
  libtorch kernels;
- start-up: a fresh interpreter importing the library and running one op;
- on a GPU: cuda()/cpu() of 256 MiB against torch's .to(), and pinned non-blocking copies;
- the ctypes floor: the cheapest possible ctypes calls into our library, which bound the
  small ops (see README, "Benchmarks").

Writes the results to JSON and draws the ratios as a PNG (with matplotlib, if installed;
``--plot results.json`` draws a chart from an earlier run's JSON).

Run: python benches/python_vs_torch.py [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import time
import timeit
from pathlib import Path

import torch

import simple_torch as st
from simple_torch.config import factory_options

#: The issue's goals, as limits on the time ratio ours/torch for each group of rows.
GOALS = {
    "small": ("<=", 1.0, "at most 1.0 (as fast as torch or faster)"),
    "generic": ("<=", 1.3, "at most 1.3 through the generic operator entry"),
    "factory": ("<=", 1.0, "at most 1.0 for zeros/ones/randn with the config's defaults"),
    "large": ("<=", 1 / 0.98, "at least 0.98 of torch's throughput (time ratio <= 1.020)"),
    "startup": ("<=", 0.3, "at most 0.3 of torch's start-up"),
    "gpu": ("<=", 1 / 0.95, "at least 0.95 of torch's bandwidth (time ratio <= 1.053)"),
    "floor": (None, None, "reference: what ctypes itself costs"),
}


def compare(ours: str, theirs: str, names: dict, calls: int, rounds: int) -> tuple[float, float]:
    """Median seconds per run of the statements ``ours`` and ``theirs`` (timeit compiles each
    into its loop, so no Python call is added around them). Rounds alternate between them,
    and which one goes first alternates too, so that neither always follows the other."""
    timers = [timeit.Timer(statement, globals=names) for statement in (ours, theirs)]
    for timer in timers:
        timer.timeit(max(1, calls // 4))  # warm up
    samples = [[], []]
    for round_ in range(rounds):
        order = (0, 1) if round_ % 2 == 0 else (1, 0)
        for side in order:
            samples[side].append(timers[side].timeit(calls) / calls)
    return statistics.median(samples[0]), statistics.median(samples[1])


def startup(code: str, rounds: int) -> float:
    """Median wall time of a fresh interpreter running ``code``."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def small_rows(quick: bool):
    calls, rounds = (2_000, 5) if quick else (20_000, 15)
    a, b = st.tensor_randn([4]), st.tensor_randn([4])
    ta, tb = a.to_torch().clone(), b.to_torch().clone()
    m, tm = st.tensor_randn([8, 8]), torch.randn(8, 8)
    x, w, bias = st.tensor_randn([8, 8]), st.tensor_randn([8, 8]), st.tensor_randn([8])
    tx, tw, tbias = x.to_torch().clone(), w.to_torch().clone(), bias.to_torch().clone()
    names = locals() | {"st": st, "torch": torch}
    cases = [
        ("zeros [4]", "st.tensor_zeros([4])", "torch.zeros([4])"),
        ("add [4]", "a.add(b)", "ta.add(tb)"),
        ("mul [4]", "a.mul(b)", "ta.mul(tb)"),
        ("relu [4]", "a.relu()", "ta.relu()"),
        ("matmul 8x8", "m.matmul(m)", "tm.matmul(tm)"),
        ("x.matmul(w).add(b).relu() 8x8", "x.matmul(w).add(bias).relu()", "tx.matmul(tw).add(tbias).relu()"),
    ]
    for name, ours, theirs in cases:
        yield "small", name, *compare(ours, theirs, names, calls, rounds)


def generic_rows(quick: bool):
    """Small ops through the generic entry (st.ops.aten and the surface made from schemas) against
    torch's own generic path (torch.ops.aten) and its bindings; 4-element float32 tensors, and
    2x3 ones for the ops that take sizes or dims (int lists)."""
    calls, rounds = (2_000, 5) if quick else (20_000, 15)
    a, b = st.tensor_randn([4]), st.tensor_randn([4])
    ta, tb = a.to_torch().clone(), b.to_torch().clone()
    m = st.tensor_randn([2, 3])
    tm = m.to_torch().clone()
    names = locals() | {"st": st, "torch": torch}
    cases = [
        ("ops.aten.add.Tensor [4]", "st.ops.aten.add.Tensor(a, b)", "torch.ops.aten.add.Tensor(ta, tb)"),
        ("ops.aten.add packet [4]", "st.ops.aten.add(a, b)", "torch.ops.aten.add(ta, tb)"),
        ("st.add(x, y) [4]", "st.add(a, b)", "torch.add(ta, tb)"),
        ("x.sum(dim=0) [4]", "a.sum(dim=0)", "ta.sum(dim=0)"),
        ("x == y [4]", "a == b", "ta == tb"),
        ("x[1:3] [4]", "a[1:3]", "ta[1:3]"),
        ("x.view(3, 2) [2x3]", "m.view(3, 2)", "tm.view(3, 2)"),
        ("x.permute(1, 0) [2x3]", "m.permute(1, 0)", "tm.permute(1, 0)"),
        ("x.sum(dim=(0,)) [2x3]", "m.sum(dim=(0,))", "tm.sum(dim=(0,))"),
    ]
    for name, ours, theirs in cases:
        yield "generic", name, *compare(ours, theirs, names, calls, rounds)
    big, tbig = st.tensor_randn([1 << 24]), torch.randn(1 << 24)
    names = locals() | {"st": st, "torch": torch}
    yield "generic", "ops.aten.add.Tensor 16M", *compare("st.ops.aten.add.Tensor(big, big)", "torch.ops.aten.add.Tensor(tbig, tbig)", names, 5, 5 if quick else 21)


def factory_rows(quick: bool):
    """The torch-shaped factories with their defaults from the ``dl`` config (st.zeros(4)), against
    torch's (torch.zeros(4))."""
    calls, rounds = (2_000, 5) if quick else (20_000, 15)
    names = {"st": st, "torch": torch}
    for name in ("zeros", "ones", "randn"):
        yield "factory", f"{name}(4)", *compare(f"st.{name}(4)", f"torch.{name}(4)", names, calls, rounds)
    yield "factory", "zeros(2, 3)", *compare("st.zeros(2, 3)", "torch.zeros(2, 3)", names, calls, rounds)


def large_rows(quick: bool):
    rounds = 5 if quick else 21
    a, b = st.tensor_randn([1 << 24]), st.tensor_randn([1 << 24])
    ta, tb = a.to_torch().clone(), b.to_torch().clone()
    m = st.tensor_randn([1024, 1024])
    tm = m.to_torch().clone()
    names = locals()
    yield "large", "add 16M", *compare("a.add(b)", "ta.add(tb)", names, 5, rounds)
    yield "large", "matmul 1024x1024", *compare("m.matmul(m)", "tm.matmul(tm)", names, 3, rounds)


def startup_rows(quick: bool):
    rounds = 3 if quick else 11
    ours, theirs = [], []
    for _ in range(rounds):  # alternating, as above
        ours.append(startup("import simple_torch as st; st.tensor_zeros([4]).add(st.tensor_ones([4]))", 1))
        theirs.append(startup("import torch; torch.zeros([4]).add(torch.ones([4]))", 1))
    yield "startup", "import + one op (fresh process)", statistics.median(ours), statistics.median(theirs)


def gpu_rows(quick: bool):
    if not (torch.cuda.is_available() and st.torch_cuda_available()):
        return
    rounds = 5 if quick else 15
    numel = 64 << 20  # 256 MiB of float32
    host = st.tensor_randn([numel])
    thost = host.to_torch().clone()
    on_gpu, ton_gpu = host.cuda(0), thost.to("cuda:0")
    pinned, tpinned = host.pin_memory(), thost.pin_memory()
    names = locals() | {"sync": torch.cuda.synchronize}  # one libtorch: it waits for our work too
    yield "gpu", "cuda() 256 MiB", *compare("host.cuda(0); sync()", "thost.to('cuda:0'); sync()", names, 3, rounds)
    yield "gpu", "cpu() 256 MiB", *compare("on_gpu.cpu(); sync()", "ton_gpu.to('cpu'); sync()", names, 3, rounds)
    yield "gpu", "pinned, non_blocking 256 MiB", *compare(
        "pinned.cuda(0, non_blocking=True); sync()", "tpinned.to('cuda:0', non_blocking=True); sync()", names, 3, rounds
    )


def floor_rows(quick: bool):
    """What the ctypes layer costs by itself, beside torch's cheapest call and its add."""
    calls, rounds = (2_000, 5) if quick else (20_000, 15)
    dll = ctypes.CDLL(st.get_library())
    ndim = dll.rt_torch_torchtensor_ndim
    ndim.restype, ndim.argtypes = ctypes.c_int64, (ctypes.c_void_p,)
    add = dll.rt_torch_torchtensor_add
    add.restype, add.argtypes = ctypes.c_void_p, (ctypes.c_void_p, ctypes.c_void_p)
    finalize = dll.rt_torch_torchtensor_finalize
    finalize.restype, finalize.argtypes = None, (ctypes.c_void_p,)
    # the factory as st.zeros(4) calls it: integers as c_void_p (see _native.INT64)
    zeros = dll.rt_torch_tensor_zeros_opts
    zeros.restype, zeros.argtypes = ctypes.c_void_p, (ctypes.c_void_p,) * 4
    sizes, (dtype, device) = struct.pack("=q", 4), factory_options()
    # the generic entry as a compiled call uses it: one frame, packed beforehand, passed with no
    # argument types (aten::add.Tensor of two handles; the result is written after them)
    frame_call = ctypes.CFUNCTYPE(ctypes.c_void_p)(ctypes.cast(dll.rt_torch_op_call_frame, ctypes.c_void_p).value)
    a, b = st.tensor_randn([4]), st.tensor_randn([4])
    ta, tb = a.to_torch().clone(), b.to_torch().clone()
    ha, hb = a.handle, b.handle
    value = struct.Struct("=iiQqddQq")
    frame = ctypes.create_string_buffer(
        struct.pack("=qqqq", st.ops.aten.add.Tensor.op_id, 2, 1, 0) + value.pack(6, 0, 0, 0, 0, 0, ha, 0) + value.pack(6, 0, 0, 0, 0, 0, hb, 0)
        + bytes(value.size)
    )
    for made in (frame_call(frame), zeros(sizes, 1, dtype, device)):  # the rows time real work, not an error
        if not made:
            last_error = dll.rt_torch_last_error
            last_error.restype = ctypes.c_char_p
            raise RuntimeError(f"a floor row's call failed: {last_error().decode()}")
        finalize(made)
    names = locals()
    yield "floor", "one ctypes call (ndim) vs t.dim()", *compare("ndim(ha)", "ta.dim()", names, calls, rounds)
    yield "floor", "raw ctypes add + finalize [4] vs add", *compare("finalize(add(ha, hb))", "ta.add(tb)", names, calls, rounds)
    yield "floor", "raw frame call aten::add.Tensor + finalize [4] vs add", *compare("finalize(frame_call(frame))", "ta.add(tb)", names, calls, rounds)
    yield "floor", "raw ctypes zeros + finalize [4] vs torch.zeros(4)", *compare("finalize(zeros(sizes, 1, dtype, device))", "torch.zeros(4)", names | {"torch": torch}, calls, rounds)
    load = (  # what simple_torch's import must do at least: dlopen libtorch's own libraries
        "import ctypes, importlib.util, os; lib = os.path.join(os.path.dirname(importlib.util.find_spec('torch').origin), 'lib'); "
        "[ctypes.CDLL(os.path.join(lib, n), mode=ctypes.RTLD_GLOBAL) for n in "
        "('libc10.so', 'libtorch_cpu.so', 'libc10_cuda.so', 'libtorch_cuda.so', 'libtorch.so') if os.path.exists(os.path.join(lib, n))]"
    )
    yield "floor", "loading libtorch's libraries vs import torch", startup(load, 3 if quick else 9), startup("import torch", 3 if quick else 9)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}; Python {platform.python_version()}, torch {torch.__version__}"


def met(group: str, ratio: float) -> str:
    kind, limit, _ = GOALS[group]
    if kind is None:
        return ""
    return "met" if ratio <= limit else "missed"


def show(value: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value / 1e-9:.0f} ns"


def table(results: dict, cell=None) -> str:
    """The results as a Markdown table; ``cell(row, side)`` ("ours" or "torch") writes a time
    (default: the median, as :func:`show` writes it)."""
    cell = cell or (lambda row, side: show(row[f"{side}_s"]))
    lines = [
        f"machine: {results['machine']}",
        "",
        "| group | operation | simple_torch | torch | ours/torch | goal |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['group']} | {row['name']} | {cell(row, 'ours')} | {cell(row, 'torch')} | {row['ratio']:.2f} | {row['goal']} |"
        )
    return "\n".join(lines)


def plot(results: dict, path: Path, goals: dict = GOALS, title: str = "simple_torch vs torch, same process, same run") -> bool:
    """A bar chart of the ratios, with each group's goal (``goals`` as :data:`GOALS`, one colour
    per group); False if matplotlib is missing.

    Example:
        >>> plot(json.loads(Path("benches/results/python_vs_torch.json").read_text()), Path("chart.png"))
        True
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = results["rows"]
    colours = dict(zip(goals, ("#4c72b0", "#dd8452", "#937860", "#55a868", "#c44e52", "#8172b2", "#999999")))
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.5))
    names = [f"{row['group']}: {row['name']}" for row in rows]
    bars = axes.barh(names, [row["ratio"] for row in rows], color=[colours[row["group"]] for row in rows])
    axes.bar_label(bars, labels=[f"{row['ratio']:.2f}" for row in rows], padding=3, fontsize=8)
    for group, (kind, limit, _) in goals.items():
        if kind and any(row["group"] == group for row in rows):
            ys = [i for i, row in enumerate(rows) if row["group"] == group]
            axes.plot([limit, limit], [min(ys) - 0.4, max(ys) + 0.4], color="black", linestyle="--", linewidth=1)
    axes.axvline(1.0, color="grey", linewidth=0.5)
    axes.invert_yaxis()
    axes.set_xlabel("time ours / torch (lower is better; dashed: the goal)")
    axes.set_title(title, fontsize=10)
    figure.text(0.01, 0.01, results["machine"], fontsize=6)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    figure.savefig(path, dpi=120)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="folder for the JSON and PNG")
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds (a smoke run, not for numbers)")
    parser.add_argument("--plot", type=Path, metavar="JSON", help="only draw the chart of an earlier run's JSON")
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    if options.plot:
        results = json.loads(options.plot.read_text())
        png = options.plot.with_suffix(".png")
        print(f"chart: {png}" if plot(results, png) else "matplotlib is not installed: no chart")
        return

    results = {"machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S"), "goals": {g: v[2] for g, v in GOALS.items()}, "rows": []}
    for rows in (small_rows, generic_rows, factory_rows, large_rows, startup_rows, gpu_rows, floor_rows):
        for group, name, ours, theirs in rows(options.quick):
            ratio = ours / theirs
            results["rows"].append({"group": group, "name": name, "ours_s": ours, "torch_s": theirs, "ratio": ratio, "goal": met(group, ratio)})
            print(f"{group:8} {name:40} ours {show(ours):>10}  torch {show(theirs):>10}  ratio {ratio:5.2f} {met(group, ratio)}", flush=True)
    print()
    print(table(results))
    json_path = options.out / "python_vs_torch.json"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    png = json_path.with_suffix(".png")
    print(f"\nresults: {json_path}")
    print(f"chart: {png}" if plot(results, png) else "matplotlib is not installed: no chart (draw it later with --plot)")


if __name__ == "__main__":
    main()
