"""Nothing leaks: a million create/compute/free cycles end with every handle freed and resident
memory where it was, and exiting the interpreter with tensors still alive is clean.

Both run in a fresh interpreter, so that resident memory belongs to the cycles alone.
"""

import re
import subprocess
import sys

CYCLES = 1_000_000
WARM_UP = 20_000
MAX_RSS_GROWTH_KIB = 1024

LEAK_SCRIPT = r"""
import gc, os, sys
import numpy as np
import simple_torch as st
from simple_torch._native import lib

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
VALUES = np.arange(6, dtype=np.float32).reshape(2, 3)
LISTED = [1.0, -2.0, 3.0]

def rss_kib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_KIB

def explicit_free():
    t = st.from_numpy(VALUES)
    u = t.add(t)
    u.free()
    t.free()

def with_block():
    with st.tensor_ones([2, 3]) as t, t.relu() as u:
        pass

def dropped():
    st.from_list(LISTED).sigmoid()  # the result is dropped: freed by its reference count

def intermediates():
    x = st.tensor_zeros([3])
    y = ((x + 1.5) * x - 2).tanh()  # 0-d scalars and intermediates, all collected as they go
    assert y.numel() == 3

def cycle():
    c = [st.tensor_randn([2])]
    c.append(c)  # only the cyclic garbage collector frees this one

def dlpack_round_trip():
    t = st.from_numpy(VALUES)  # shared, not copied
    shared = t.numpy()
    capsule = t.__dlpack__(max_version=(1, 0))  # dropped unconsumed: its destructor deletes it
    again = st.from_dlpack(t)
    assert shared[1, 2] == again.numpy()[1, 2] == 5.0

def libtorch_error():
    a, b = st.tensor_zeros([2, 3]), st.tensor_zeros([4, 5])
    try:
        a @ b
    except st.ArgumentError as error:
        assert "mat1 and mat2 shapes cannot be multiplied" in str(error)
    else:
        raise AssertionError("matmul of mismatched shapes did not raise")

def handle_error():
    t = st.tensor_zeros([2])
    handle = t.handle
    t.free()
    for use in (t.relu, lambda: lib.rt_torch_torchtensor_numel(handle)):
        try:
            use()
        except st.HandleError as error:  # FreedTensorError, then the library's own HandleError
            assert "already freed" in str(error)
        else:
            raise AssertionError("using a freed tensor did not raise")

# Per 98 cycles: 16 of each of the six paths, an error about a freed handle, an error from libtorch.
PATHS = [explicit_free, with_block, dropped, intermediates, cycle, dlpack_round_trip] * 16 + [handle_error, libtorch_error]

def run(cycles):
    paths, n = PATHS, len(PATHS)
    for i in range(cycles):
        paths[i % n]()

cycles, warm_up = int(sys.argv[1]), int(sys.argv[2])
start = st.live_handles()
run(warm_up)
gc.collect()
rss_before = rss_kib()
run(cycles)
gc.collect()
rss_after = rss_kib()
end = st.live_handles()
exports = st.live_dlpack_exports()
print(f"leaks: {cycles} cycles, live handles start={start} end={end}, dlpack exports={exports}, rss growth={rss_after - rss_before} KiB")
"""


def test_a_million_cycles_free_every_handle_and_keep_resident_memory_flat(tmp_path):
    """1,000,000 cycles (free(), with, reference counting, cyclic GC, intermediates, DLPack
    exports and imports, errors):
    live handles back at the start, and RSS grown by less than 1 MiB after warm-up."""
    done = subprocess.run(
        [sys.executable, "-c", LEAK_SCRIPT, str(CYCLES), str(WARM_UP)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    print(done.stdout.strip())
    summary = re.fullmatch(
        r"leaks: (\d+) cycles, live handles start=(\d+) end=(\d+), dlpack exports=(\d+), rss growth=(-?\d+) KiB", done.stdout.strip()
    )
    assert summary, done.stdout
    cycles, start, end, exports, growth = map(int, summary.groups())
    assert cycles == CYCLES and end == start and exports == 0
    assert growth < MAX_RSS_GROWTH_KIB, f"resident memory grew by {growth} KiB over {cycles} cycles"


SHUTDOWN_SCRIPT = r"""
import atexit, sys, threading
import simple_torch as st
from simple_torch._native import lib

class Holder:
    # Uses its tensor in __del__ and sits in a cycle: finalized by the collector at exit, or never.
    def __init__(self, t):
        self.t, self.me = t, self
    def __del__(self):
        self.t.relu().numpy()

def busy():
    a = st.tensor_randn([16, 16])
    while True:
        (a @ a).softmax(-1).numpy()

for _ in range(4):
    threading.Thread(target=busy, daemon=True).start()
holders = [Holder(st.tensor_ones([3])) for _ in range(10)]
owner = st.tensor_randn([4, 4])
borrowed = st.TorchTensorWrapper(owner.handle, owns_handle=False)
freed = st.tensor_zeros([2]); freed.free()
stream = lib.rt_torch_stream_create(-1)
atexit.register(lambda: print((st.tensor_ones([2]) * 3).tolist()))
try:
    st.tensor_zeros([2, 3]) @ st.tensor_zeros([4, 5])
except st.ArgumentError as error:
    kept_error = error  # its traceback keeps the operands alive
with st.tensor_ones([5]) as inside:
    print("exiting")
    sys.exit(0)
"""


def test_exit_while_daemon_threads_compute_is_clean(tmp_path):
    """Exiting (sys.exit inside a with block) while daemon threads are inside the library, with
    tensors in finalizer cycles, a borrowed and a freed wrapper, a live stream and an error's
    traceback holding operands: exit status 0, nothing on stderr, and atexit can still compute."""
    for _ in range(3):  # the threads are caught at a different point each time
        done = subprocess.run([sys.executable, "-c", SHUTDOWN_SCRIPT], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert (done.returncode, done.stdout, done.stderr) == (0, "exiting\n[3.0, 3.0]\n", "")
