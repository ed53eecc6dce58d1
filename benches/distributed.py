"""Distributed benchmarks on 2 local ranks (Gloo over loopback), simple_torch against
torch.distributed in the same run: all_reduce bandwidth of 1 MiB and 64 MiB float32 tensors
(goal: at least 0.95 of torch's), and the time of a DistributedDataParallel training step of
examples/07_data_parallel.py's model (32 digits per rank). Jobs of each library alternate, and
each figure is the median over the rounds.

simple_torch checks every collective by default (torch does only under
TORCH_DISTRIBUTED_DEBUG=DETAIL): the "st" rows run as torch does by default, with
TORCH_DISTRIBUTED_DEBUG=OFF; the "st checked" rows show what the checks cost.

Run: python benches/distributed.py [--rounds N] [--out DIR]; writes DIR/distributed.json
(default benches/results/).
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"1 MiB": 1 << 20, "64 MiB": 64 << 20}
DDP_BATCH = 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- one rank ---------------------------------------------------------------------------------


def rank_main(library: str, rank: int, port: int) -> None:
    """Times the collectives and DDP steps on this rank; rank 0 prints the results as JSON."""
    import datetime

    import numpy as np

    if library == "torch":
        import torch as lib
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel
    else:
        import simple_torch as lib
        import simple_torch.distributed as dist
        from simple_torch.nn.parallel import DistributedDataParallel
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=120))
    results = {}
    for name, nbytes in SIZES.items():
        tensor = lib.ones(nbytes // 4)
        repeats = 200 if nbytes < 1 << 24 else 10
        for _ in range(5):
            dist.all_reduce(tensor)
        dist.barrier()
        start = time.perf_counter()
        for _ in range(repeats):
            dist.all_reduce(tensor)
        results[f"all_reduce {name} GB/s"] = nbytes * repeats / (time.perf_counter() - start) / 1e9

    sys.path.insert(0, str(ROOT / "tests"))
    import ddp_worker

    model = ddp_worker.example().make_model(lib.nn)
    ddp = DistributedDataParallel(model)
    optimizer = lib.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    loss_fn = lib.nn.CrossEntropyLoss()
    rng = np.random.default_rng(rank)
    x = lib.tensor(rng.standard_normal((DDP_BATCH, 1, 8, 8)).astype(np.float32))
    y = lib.tensor(rng.integers(0, 10, DDP_BATCH))

    def steps(n: int) -> None:
        for _ in range(n):
            optimizer.zero_grad()
            loss_fn(ddp(x), y).backward()
            optimizer.step()

    steps(5)
    dist.barrier()
    start = time.perf_counter()
    steps(50)
    results["DDP step ms"] = (time.perf_counter() - start) / 50 * 1e3
    if rank == 0:
        print(json.dumps(results), flush=True)
    dist.destroy_process_group()


# ---- the parent --------------------------------------------------------------------------------


def job(library: str, checked: bool) -> dict:
    """Runs one 2-rank job and returns rank 0's results."""
    port = free_port()
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1",
               TORCH_DISTRIBUTED_DEBUG="DETAIL" if checked else "OFF")
    command = [sys.executable, __file__, "--rank-of", library, str(port)]
    ranks = [subprocess.Popen([*command, str(rank)], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True) for rank in range(2)]
    try:
        output = ranks[0].communicate(timeout=600)[0]
        ranks[1].wait(timeout=60)
    finally:
        for process in ranks:
            process.kill()
    if any(process.returncode for process in ranks):
        raise SystemExit(f"the {library} job failed")
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benches" / "results")
    parser.add_argument("--rank-of", nargs=3, metavar=("LIBRARY", "PORT", "RANK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank_of:
        library, port, rank = args.rank_of
        rank_main(library, int(rank), int(port))
        return
    configurations = {"torch": ("torch", False), "st": ("st", False), "st checked": ("st", True)}
    runs = {name: [] for name in configurations}
    for _ in range(args.rounds):
        for name, (library, checked) in configurations.items():
            runs[name].append(job(library, checked))
    medians = {name: {key: statistics.median(run[key] for run in rounds) for key in rounds[0]} for name, rounds in runs.items()}
    rows = []
    print(f"{'measure':24} {'torch':>9} {'st':>9} {'st/torch':>9} {'st checked':>11}  goal")
    for key in medians["torch"]:
        torch_value, ours, checked = (medians[name][key] for name in ("torch", "st", "st checked"))
        ratio = ours / torch_value
        if key.endswith("GB/s"):
            goal = f"at least 0.95 of torch's bandwidth: {'met' if ratio >= 0.95 else 'missed'}"
        else:
            goal = "(no goal: reported)"
        rows.append({"measure": key, "torch": torch_value, "st": ours, "st_checked": checked, "st_over_torch": ratio})
        print(f"{key:24} {torch_value:9.3f} {ours:9.3f} {ratio:9.2f} {checked:11.3f}  {goal}")
    out = args.out / "distributed.json"
    out.write_text(json.dumps({"rounds": args.rounds, "ranks": 2, "rows": rows, "runs": runs}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
