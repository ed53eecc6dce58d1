"""Train a digits CNN on 2 ranks with DistributedDataParallel: each rank trains on its share of
every batch, and the gradients are averaged across ranks during backward, over PyTorch's own
distributed engine (c10d, Gloo on the CPU).

Run: python examples/07_data_parallel.py [--nproc N] [--epochs N]
Without RANK in the environment it launches itself on N ranks (default 2) through
``python -m simple_torch.distributed.run``; ``torchrun --nproc-per-node=2 examples/07_data_parallel.py``
works as well. The model has no BatchNorm or Dropout, so that N ranks compute exactly what one
process computes on the whole batch (tests/test_ddp.py checks it).
"""

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import simple_torch as st
import simple_torch.distributed as dist
from simple_torch import nn

GLOBAL_BATCH = 64


def make_model(nn=nn) -> nn.Module:
    """The CNN (8x8 digit images to 10 classes), from `nn`: st.nn, or torch.nn to compare with torch."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 64 x 4 x 4
        nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def digits():
    """scikit-learn's bundled digits (no download) as float32 N x 1 x 8 x 8 in [0, 1], split 80/20."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)[:, None]
    return train_test_split(images, data.target, test_size=0.2, random_state=0, stratify=data.target)


def launch(nproc: int) -> int:
    """Runs this script on `nproc` ranks through simple_torch's launcher; its exit code."""
    print(f"launching {nproc} ranks: python -m simple_torch.distributed.run --nproc-per-node={nproc} --standalone ...")
    command = [sys.executable, "-m", "simple_torch.distributed.run", f"--nproc-per-node={nproc}", "--standalone",
               __file__, *sys.argv[1:]]
    return subprocess.run(command).returncode


def train(epochs: int, out: Path) -> None:
    from simple_torch.nn.parallel import DistributedDataParallel
    from simple_torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    rank, world = dist.get_rank(), dist.get_world_size()
    say = print if rank == 0 else (lambda *args, **kwargs: None)
    say(f"{world} ranks on the CPU (Gloo), {GLOBAL_BATCH // world} images each per step of {GLOBAL_BATCH}")

    train_x, test_x, train_y, test_y = digits()
    dataset = TensorDataset(st.tensor(train_x), st.tensor(train_y))
    sampler = DistributedSampler(dataset, seed=0)  # this rank's share of the shuffled dataset
    loader = DataLoader(dataset, batch_size=GLOBAL_BATCH // world, sampler=sampler)

    st.manual_seed(rank)  # different on purpose: DDP starts every rank from rank 0's parameters
    model = DistributedDataParallel(make_model())
    optimizer = st.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    schedule = st.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=epochs * len(loader))
    loss_fn = nn.CrossEntropyLoss()

    start = time.perf_counter()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        total = st.zeros(())
        for x, y in loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()  # gradients are averaged across the ranks here
            optimizer.step()
            schedule.step()
            total += loss.detach()
        dist.all_reduce(total, op=dist.ReduceOp.AVG)
        say(f"epoch {epoch + 1:2d}: mean loss {total.item() / len(loader):.4f}")
    elapsed = time.perf_counter() - start

    # Every rank holds the same model: compare a fingerprint of the parameters across ranks.
    fingerprint = st.stack([p.detach().double().sum() for p in model.parameters()])
    everyone = [st.zeros_like(fingerprint) for _ in range(world)]
    dist.all_gather(everyone, fingerprint)
    assert all(st.equal(f, fingerprint) for f in everyone), "the ranks' models differ"

    if rank == 0:
        with st.no_grad():
            model.eval()
            accuracy = (model(st.tensor(test_x)).argmax(dim=1) == st.tensor(test_y)).float().mean().item()
        out.mkdir(parents=True, exist_ok=True)
        checkpoint = out / "digits_ddp.pt"
        st.save(model.module.state_dict(), checkpoint)  # loads into a plain (non-DDP) model
        print(f"trained in {elapsed:.1f} s on {world} ranks: test accuracy {accuracy:.2%}; identical models on every rank")
        print(f"checkpoint: {checkpoint}")
        assert accuracy >= 0.95, f"expected at least 95% test accuracy, got {accuracy:.2%}"
    dist.barrier()
    dist.destroy_process_group()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2, help="ranks to launch (when not launched already)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "simple_torch_ddp")
    args = parser.parse_args()
    if "RANK" not in os.environ:
        return launch(args.nproc)
    train(args.epochs, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
