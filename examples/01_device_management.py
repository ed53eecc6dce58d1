"""Basic device management: create on the CPU, move to a GPU by index, come back.

Takes the GPU path when CUDA is available and otherwise says so and stays on the CPU.
Run: python examples/01_device_management.py [GPU index, default 0]
"""

import sys

import simple_torch as st

print(f"libtorch {st.torch_version()}, CUDA available: {st.torch_cuda_available()}, GPUs: {st.cuda_device_count()}")

x = st.tensor_randn([2, 3])
print(f"created on {x.device()}: is_cuda() = {x.is_cuda()}")

gpu = int(sys.argv[1]) if len(sys.argv) > 1 else 0
if gpu < st.cuda_device_count():
    on_gpu = x.cuda(gpu)
    print(f"moved to {on_gpu.device()}: is_cuda() = {on_gpu.is_cuda()}")
    back = on_gpu.cpu()
    print(f"back on {back.device()}: is_cuda() = {back.is_cuda()}")
    assert back.tolist() == x.tolist(), "the round trip changed the values"
    print("round trip cpu -> cuda -> cpu kept every value")
else:
    reason = "CUDA is not available" if not st.torch_cuda_available() else f"there is no cuda:{gpu}"
    print(f"{reason} on this machine: staying on the CPU (CPU fallback)")
    try:
        x.cuda(gpu)
    except st.SimpleTorchError as error:
        print(f"x.cuda({gpu}) raises, as it should: {error}")
    print(f"still on {x.device()}: is_cuda() = {x.is_cuda()}")
