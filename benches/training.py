"""Time per training step, simple_torch against torch in the same process: the MLP at batch 64
and 512 and the CNN at batch 128 of tests/test_training_parity.py (forward, cross-entropy,
backward, AdamW step), on the CPU. Prints a table (ours/torch; the goal is at most 1.1 at the
larger batches) and writes benches/results/training.json.

Run: python benches/training.py [--repeats N]
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import simple_torch as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_training_parity import cnn, mlp  # noqa: E402  - the same models the parity test trains

CASES = [("MLP", mlp, 64, (64,)), ("MLP", mlp, 512, (64,)), ("CNN", cnn, 128, (1, 8, 8))]


def step_time(lib, make_model, batch: int, shape: tuple, repeats: int) -> float:
    """Median seconds per training step over `repeats` rounds of 20 steps, after a warm-up."""
    lib.manual_seed(0)
    model = make_model(lib.nn)
    optimizer = lib.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = lib.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((batch, *shape)).astype(np.float32))
    y = lib.tensor(rng.integers(0, 10, batch))

    def steps(n):
        for _ in range(n):
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    steps(5)
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        steps(20)
        rounds.append((time.perf_counter() - start) / 20)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rows = []
    print(f"{'model':6} {'batch':>5} {'st ms':>8} {'torch ms':>9} {'st/torch':>9}  goal")
    for name, make_model, batch, shape in CASES:
        ours = step_time(st, make_model, batch, shape, args.repeats)
        theirs = step_time(torch, make_model, batch, shape, args.repeats)
        ratio = ours / theirs
        goal = "met" if ratio <= 1.1 else "missed"
        goal = goal if batch >= 128 else f"({goal}; the goal is for the larger batches)"
        print(f"{name:6} {batch:5d} {ours * 1e3:8.2f} {theirs * 1e3:9.2f} {ratio:9.2f}  {goal}")
        rows.append({"model": name, "batch": batch, "st_s": ours, "torch_s": theirs, "ratio": ratio})
    out = Path(__file__).parent / "results" / "training.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
