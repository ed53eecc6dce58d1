"""One process of tests/test_ddp.py: trains examples/07_data_parallel.py's model for a number of
steps of SGD on the digits, from the parameters in INIT (.npz), and writes the final parameters
to OUT (.npz) from rank 0.

    python tests/ddp_worker.py single INIT OUT STEPS DTYPE                  # one process, whole batches
    python tests/ddp_worker.py st|torch INIT OUT STEPS DTYPE RANK WORLD PORT   # DDP, a share each

DTYPE is float32 or float64: the parameters, the images and the training are in it.
"""

import datetime
import importlib.util
import sys
from pathlib import Path

import numpy as np

BATCH = 64
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "07_data_parallel.py"


def example():
    spec = importlib.util.spec_from_file_location("data_parallel_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def batches(steps: int, rank: int, world: int):
    """Step i's share of rank `rank`: its 1/world of the i-th batch of 64 training images."""
    train_x, _, train_y, _ = example().digits()
    per_batch = len(train_x) // BATCH
    share = BATCH // world
    for step in range(steps):
        start = (step % per_batch) * BATCH + rank * share
        yield train_x[start:start + share], train_y[start:start + share]


def run_st(mode, init, out, steps, dtype, rank=0, world=1, port=0):
    import simple_torch as st
    import simple_torch.distributed as dist
    from simple_torch.nn.parallel import DistributedDataParallel

    model = example().make_model()
    model.load_state_dict({name: st.tensor(value) for name, value in np.load(init).items()})
    model.to(getattr(st, dtype))
    if mode == "st":
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=30))
        model = DistributedDataParallel(model)
    optimizer = st.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = st.nn.CrossEntropyLoss()
    for x, y in batches(steps, rank, world):
        optimizer.zero_grad()
        loss_fn(model(st.tensor(x.astype(dtype))), st.tensor(y)).backward()
        optimizer.step()
    module = model.module if mode == "st" else model
    if rank == 0:
        np.savez(out, **{name: value.detach().numpy() for name, value in module.state_dict().items()})
    if mode == "st":
        dist.destroy_process_group()


def run_torch(init, out, steps, dtype, rank, world, port):
    import torch
    import torch.distributed as dist
    from torch import nn

    model = example().make_model(nn)
    model.load_state_dict({name: torch.from_numpy(value) for name, value in np.load(init).items()})
    model.to(getattr(torch, dtype))
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=30))
    ddp = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for x, y in batches(steps, rank, world):
        optimizer.zero_grad()
        loss_fn(ddp(torch.from_numpy(x.astype(dtype))), torch.from_numpy(y)).backward()
        optimizer.step()
    if rank == 0:
        np.savez(out, **{name: value.detach().numpy() for name, value in model.state_dict().items()})
    dist.destroy_process_group()


if __name__ == "__main__":
    mode, init, out, steps, dtype = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    rest = [int(a) for a in sys.argv[6:]]
    if mode == "torch":
        run_torch(init, out, steps, dtype, *rest)
    else:
        run_st(mode, init, out, steps, dtype, *rest)
