"""Work split across two GPUs, gathered on the CPU.

Each half of a batch goes through the same layer on its own GPU; the results come back to the
CPU and are checked against doing it all on the CPU. With one GPU both halves share it; with
none, both run on the CPU. Either way the script says what it did.
Run: python examples/03_multi_gpu.py
"""

import numpy as np

import simple_torch as st

count = st.cuda_device_count()
if count >= 2:
    devices = [st.Device.cuda(0), st.Device.cuda(1)]
elif count == 1:
    devices = [st.Device.cuda(0)] * 2
    print("only one GPU here: both halves run on cuda:0")
else:
    devices = [st.Device.cpu()] * 2
    print("CUDA is not available here: both halves run on the CPU (CPU fallback)")

rng = np.random.default_rng(1)
batch = rng.standard_normal((64, 256), dtype=np.float32)
weights = (rng.standard_normal((256, 32)) / 16).astype(np.float32)

results = []
for device, part in zip(devices, np.split(batch, 2)):
    x = st.from_numpy(part).to(device)
    w = st.from_numpy(weights).to(device)
    y = x.matmul(w).tanh()
    print(f"{part.shape[0]} rows on {y.device()}")
    results.append(y.cpu())

gathered = np.concatenate([r.numpy() for r in results])
print(f"gathered {gathered.shape} on {results[0].device()}")
expected = np.tanh(batch @ weights)
error = np.abs(gathered - expected).max()
print(f"max difference from NumPy on the whole batch: {error:.2e}")
assert error < 1e-3, "the split computation disagrees with NumPy"
