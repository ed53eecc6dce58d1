"""Shared by the tests: the same data as ours and as torch's, comparing the two, fresh
interpreters, and what child processes (launchers, ranks) need."""

import os
import socket
import subprocess
import sys
import threading

import numpy as np
import torch

import simple_torch as st


def pair(shape, dtype="float32", seed=0):
    """The same random values as a simple_torch tensor and a torch tensor."""
    values = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return st.from_numpy(values), torch.from_numpy(values.copy())


def assert_same(ours: st.TorchTensorWrapper, theirs: torch.Tensor):
    """Same shape, dtype and values (to rounding) as torch computed."""
    assert ours.shape() == list(theirs.shape)
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
    tolerance = {"float32": 1e-6, "float64": 1e-12}.get(ours.dtype.name, 0)
    np.testing.assert_allclose(ours.numpy(), theirs.cpu().numpy(), rtol=tolerance, atol=tolerance)


def run_python(code: str) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh interpreter (this one's), capturing its output as text."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS's choice), for a job's store."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_environment(**changes) -> dict:
    """This process's environment for a child that may run in another folder: PYTHONPATH and
    SIMPLE_TORCH_LIB (relative in dev runs) made absolute, then ``changes`` applied."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "SIMPLE_TORCH_LIB"):
        if env.get(name):
            env[name] = os.pathsep.join(os.path.abspath(p) for p in env[name].split(os.pathsep) if p)
    env.update({name: str(value) for name, value in changes.items()})
    return env


def run_threads(work, count: int) -> None:
    """Runs ``work(0)`` ... ``work(count - 1)`` in as many threads at once, and waits for all."""
    threads = [threading.Thread(target=work, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
