"""Shared by the tests: the same data as ours and as torch's, comparing the two, and fresh interpreters."""

import subprocess
import sys

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
