"""The overhead per C ABI call, from the last `cargo bench --bench abi_overhead` run.

Reads criterion's results (target/criterion/*/*/new/) and prints, for each group, the median
of the direct tch side and of the rt_torch side, and their difference per rt_torch call (the
number of calls ends each group's name, e.g. "add [4] + free: 2 calls") against the budget; the
registry group's whole difference against the same budget.

Run: python benches/criterion_summary.py [CRITERION_DIR]  (default: $CARGO_TARGET_DIR/criterion)
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

#: The most the C ABI may add to one call, in ns (issue 6).
BUDGET_NS = 25.0

#: Groups judged as a whole against the budget, their names having no call count: the registry's
#: share of each tensor an export returns (register it, look it up once, release it).
WHOLE_GROUPS = {"registry alone: register, look up, release a tensor"}


def medians(folder: Path) -> dict[str, dict[str, float]]:
    """{group: {"tch": ns, "rt_torch": ns}} from criterion's benchmark.json and estimates.json."""
    groups: dict[str, dict[str, float]] = {}
    for info in folder.glob("*/*/new/benchmark.json"):
        meta = json.loads(info.read_text())
        estimates = json.loads((info.parent / "estimates.json").read_text())
        groups.setdefault(meta["group_id"], {})[meta["function_id"]] = estimates["median"]["point_estimate"]
    return groups


def show(ns: float) -> str:
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.1f} ns"


def main() -> int:
    default = Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    groups = medians(folder)
    if not groups:
        print(f"no criterion results in {folder}: run cargo bench --bench abi_overhead first")
        return 1
    print(f"| benchmark | tch | `rt_torch_*` | difference | per call | budget {BUDGET_NS:.0f} ns |")
    print("|---|---:|---:|---:|---:|---|")
    for name in sorted(groups):
        sides = groups[name]
        calls = re.search(r": (\d+) calls?$", name)
        ours = sides.get("rt_torch")
        if "tch" not in sides or ours is None:
            print(f"| {name} | | {show(ours)} | | | |" if ours is not None else f"| {name} | | | | | |")
            continue
        difference = ours - sides["tch"]
        if calls or name in WHOLE_GROUPS:
            per_call = difference / int(calls.group(1)) if calls else difference
            verdict = "met" if per_call <= BUDGET_NS else "missed"
            print(f"| {name} | {show(sides['tch'])} | {show(ours)} | {difference:+.1f} ns | {per_call:+.1f} ns | {verdict} |")
        else:
            print(f"| {name} | {show(sides['tch'])} | {show(ours)} | {difference:+.1f} ns | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
