"""A forward pass, input.matmul(weights).add(bias).relu(), on a chosen GPU.

Falls back to the CPU, and says so, when that GPU does not exist. The result is checked
against NumPy computing the same thing.
Run: python examples/02_forward_pass.py [GPU index, default 0]
"""

import sys

import numpy as np

import simple_torch as st

gpu = int(sys.argv[1]) if len(sys.argv) > 1 else 0
if gpu < st.cuda_device_count():
    device = st.Device.cuda(gpu)
else:
    device = st.Device.cpu()
    print(f"no cuda:{gpu} here (CUDA available: {st.torch_cuda_available()}): running on the CPU instead")

rng = np.random.default_rng(0)
batch, features, hidden = 32, 128, 64
inputs_np = rng.standard_normal((batch, features), dtype=np.float32)
weights_np = (rng.standard_normal((features, hidden)) / np.sqrt(features)).astype(np.float32)
bias_np = rng.standard_normal(hidden, dtype=np.float32)

inputs = st.from_numpy(inputs_np).to(device)
weights = st.from_numpy(weights_np).to(device)
bias = st.from_numpy(bias_np).to(device)

output = inputs.matmul(weights).add(bias).relu()
print(f"forward pass on {output.device()}: {inputs.shape()} @ {weights.shape()} + {bias.shape()} -> {output.shape()}")

expected = np.maximum(inputs_np @ weights_np + bias_np, 0)
error = np.abs(output.numpy() - expected).max()
print(f"max difference from NumPy: {error:.2e}; active units: {(output.numpy() > 0).mean():.0%}")
assert error < 1e-3, "the forward pass disagrees with NumPy"
