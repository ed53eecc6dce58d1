"""The original design's dl config: dl.config.sdn beside this file selects cuda:1, and tensors
made without a device go there. On a machine without cuda:1 the file's fallback policy ("cpu")
runs them on the CPU and warns once; policy="error" raises instead.
Run: python examples/04_config.py
"""

from pathlib import Path

import simple_torch as st

# The environment (SIMPLE_TORCH_DEVICE, ...) would override the file; the user's own files
# (~/.config/simple_torch) rank below it.
dl = st.load_local_config(Path(__file__).parent)
print(dl)

x = st.tensor_randn([4, 3])  # dl.default_device and dl.default_dtype, or the CPU fallback
w = st.tensor_ones([3, 2])
y = (x @ w).relu()
print(f"configured {dl.default_device} ({dl.source('device')}); tensors are on {y.device()}, {y.dtype}")

match y.device():
    case st.Device(kind="cuda", index=index):
        print(f"computed on GPU {index}")
    case st.Device(kind="cpu"):
        print("computed on the CPU (fallback)")

try:
    st.tensor_zeros([2], device=dl.default_device, policy="error")
    print(f"policy='error': {dl.default_device} exists, nothing to raise")
except st.DeviceError as error:
    print(f"policy='error' raises instead: {error}")

print(f"auto_device() picks {st.auto_device()}")
