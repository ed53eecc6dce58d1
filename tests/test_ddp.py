"""DistributedDataParallel: training examples/07_data_parallel.py's model for 50 SGD steps on 2
ranks (each with half of every batch of 64 digits) gives the parameters of 1 process training
on the whole batches, and those of torch's own DistributedDataParallel on the same setup.

Parameters are compared per tensor by the largest difference relative to the tensor's largest
value. In float32, simple_torch and torch differ by libtorch's own thread-dependent rounding
(about 1e-5 after 50 steps, with or without DDP), so the comparison with torch's DDP runs in
float64, where any difference in what DDP computes would show far above 1e-6.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import simple_torch as st
from helpers import child_environment, free_port

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "ddp_worker.py"
STEPS = 50


def run(*jobs: list[str]) -> None:
    """Runs the worker command lines together (one job's ranks) and checks they all succeed."""
    children = [subprocess.Popen([sys.executable, str(WORKER), *job], cwd=ROOT, env=child_environment(GLOO_SOCKET_IFNAME="lo"),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for job in jobs]
    try:
        outputs = [child.communicate(timeout=120)[0] for child in children]
    finally:
        for child in children:
            child.kill()
    for child, output in zip(children, outputs):
        assert child.returncode == 0, output


def train(tmp_path: Path, mode: str, dtype: str, world: int = 2) -> dict:
    init, out = tmp_path / "init.npz", tmp_path / f"{mode}-{dtype}.npz"
    if mode == "single":
        run(["single", str(init), str(out), str(STEPS), dtype])
    else:
        port = str(free_port())
        run(*[[mode, str(init), str(out), str(STEPS), dtype, str(rank), str(world), port] for rank in range(world)])
    return dict(np.load(out))


def largest_relative_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max() / np.abs(b[k]).max()) for k in a)


@pytest.fixture
def initial(tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import ddp_worker
    finally:
        sys.path.pop(0)
    st.manual_seed(0)
    model = ddp_worker.example().make_model()
    np.savez(tmp_path / "init.npz", **{name: value.numpy() for name, value in model.state_dict().items()})
    del model
    return tmp_path


def test_two_ranks_train_as_one_process_on_the_whole_batch(initial):
    single, ddp = train(initial, "single", "float32"), train(initial, "st", "float32")
    untrained = dict(np.load(initial / "init.npz"))
    assert largest_relative_difference(single, untrained) > 1e-2  # it trained
    assert largest_relative_difference(ddp, single) < 1e-6


def test_two_ranks_train_as_torchs_distributed_data_parallel(initial):
    ours, torchs = train(initial, "st", "float64"), train(initial, "torch", "float64")
    assert largest_relative_difference(ours, torchs) < 1e-6
    assert largest_relative_difference(ours, train(initial, "single", "float64")) < 1e-6
