"""The first step of tests/gpu/run: does simple_torch load libtorch here, and does it see a GPU?

Prints where simple_torch was imported from (the private folder tests/gpu/run installed it
into) and each GPU. Exit status: 0 with a GPU, 1 if libtorch cannot be loaded, 3 with no CUDA
device.

Run: PYTHONPATH=SITE python tests/gpu/check.py
"""

import sys

import simple_torch as st

NO_CUDA = 3

print(f"simple_torch {st.__version__} from {st.__file__}, libtorch {st.torch_version()}")
try:
    st.tensor_zeros([1])
except st.TorchNotAvailableError as error:
    sys.exit(f"simple_torch cannot load libtorch: {error}")
print(f"torch_cuda_available(): {st.torch_cuda_available()}, cuda_device_count(): {st.cuda_device_count()}")
if not st.torch_cuda_available():
    sys.exit(NO_CUDA)

import torch  # only for the GPU's name; simple_torch has no call for it

for index in range(st.cuda_device_count()):
    free, total = st.mem_get_info(index)
    print(f"cuda:{index}: {torch.cuda.get_device_name(index)}, {total / 2**30:.0f} GiB, {free / 2**30:.0f} GiB free")
