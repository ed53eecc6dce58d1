"""The NCCL process group on a GPU machine: one rank per GPU (launched through
``python -m simple_torch.distributed.run``), each all-reducing and broadcasting CUDA tensors,
checked against the expected values, then the bandwidth of a 64 MiB all_reduce. Run by
tests/gpu/run; exits 0 when every rank's results are right.

Run: python tests/gpu/nccl_check.py
"""

import datetime
import os
import subprocess
import sys
import time

import simple_torch as st
import simple_torch.distributed as dist


def rank_main() -> None:
    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    device = f"cuda:{local}"
    dist.init_process_group("nccl", timeout=datetime.timedelta(seconds=60))
    t = st.ones(1 << 20, device=device) * (rank + 1)
    dist.all_reduce(t)
    assert t.min().item() == t.max().item() == world * (world + 1) / 2, t[:4].tolist()
    b = st.arange(8.0, device=device) if rank == 0 else st.zeros(8, device=device)
    dist.broadcast(b, src=0)
    assert b.tolist() == list(map(float, range(8))), b.tolist()
    big = st.ones(16 << 20, device=device)  # 64 MiB of float32
    for _ in range(3):
        dist.all_reduce(big)
    st.synchronize(device)
    start = time.perf_counter()
    for _ in range(20):
        dist.all_reduce(big)
    st.synchronize(device)
    bandwidth = 64 * 20 / 1024 / (time.perf_counter() - start)
    if rank == 0:
        print(f"NCCL on {world} GPU(s): all_reduce and broadcast of CUDA tensors correct; 64 MiB all_reduce {bandwidth:.1f} GiB/s")
    dist.destroy_process_group()


if __name__ == "__main__":
    if "RANK" in os.environ:
        rank_main()
    else:
        gpus = st.cuda_device_count()
        if gpus == 0:
            sys.exit("no CUDA device")
        command = [sys.executable, "-m", "simple_torch.distributed.run", f"--nproc-per-node={gpus}", "--standalone", __file__]
        sys.exit(subprocess.run(command).returncode)
