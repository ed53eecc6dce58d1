"""Zero-copy interop, measured: moving a 1 KiB and a 256 MiB float32 tensor in and out of
simple_torch through DLPack takes the same time (no copy), beside the copying path.

Run: bash benches/run (or, in the environment that has simple_torch, python benches/interop.py).
Prints the median time per call of each operation at both sizes, and their ratio.
"""

from __future__ import annotations

import platform
import statistics
import timeit

import numpy as np
import torch

import simple_torch as st

SIZES = {"1 KiB": 256, "256 MiB": 64 * 2**20}  # float32 elements
REPEATS = 7


def median_seconds(call) -> float:
    """The median time of one call, over REPEATS runs of as many calls as fill ~0.2 s."""
    timer = timeit.Timer(call)
    number, _ = timer.autorange()
    return statistics.median(timer.repeat(repeat=REPEATS, number=number)) / number


def cases(elements: int) -> dict[str, callable]:
    array = np.ones(elements, dtype=np.float32)
    theirs = torch.ones(elements)
    ours = st.from_numpy(array.copy())
    return {
        "from_numpy(a)": lambda: st.from_numpy(array),
        "from_numpy(a, copy=True)": lambda: st.from_numpy(array, copy=True),
        "t.numpy()": lambda: ours.numpy(),
        "t.numpy(copy=True)": lambda: ours.numpy(copy=True),
        "from_torch(x)": lambda: st.from_torch(theirs),
        "from_torch(x.clone())": lambda: st.from_torch(theirs.clone()),
        "t.to_torch()": lambda: ours.to_torch(),
        "t.clone().to_torch()": lambda: ours.clone().to_torch(),
    }


def format_time(seconds: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.1f} {unit}"
    return f"{seconds * 1e9:.0f} ns"


def main() -> None:
    print(f"interop benchmark: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"numpy {np.__version__}, median of {REPEATS} runs")
    results = {size: {name: median_seconds(call) for name, call in cases(n).items()} for size, n in SIZES.items()}
    small, large = SIZES
    print(f"\n| operation | {small} | {large} | {large} / {small} |")
    print("|---|---:|---:|---:|")
    for name in results[small]:
        a, b = results[small][name], results[large][name]
        print(f"| `{name}` | {format_time(a)} | {format_time(b)} | {b / a:.1f}x |")


if __name__ == "__main__":
    main()
