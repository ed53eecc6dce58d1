import gc

import pytest

import simple_torch as st


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU (skipped without one)")
    config.addinivalue_line("markers", "multi_gpu: needs two CUDA GPUs (skipped with fewer)")


def pytest_collection_modifyitems(config, items):
    gpus = st.cuda_device_count()
    for item in items:
        if "cuda" in item.keywords and gpus == 0:
            item.add_marker(pytest.mark.skip(reason="CUDA is not available on this machine"))
        if "multi_gpu" in item.keywords and gpus < 2:
            item.add_marker(pytest.mark.skip(reason=f"needs two GPUs, this machine has {gpus}"))


@pytest.fixture(autouse=True)
def no_leaked_handles():
    """Every test must leave the library's live-handle count where it found it."""
    gc.collect()
    start = st.live_handles()
    yield
    gc.collect()
    end = st.live_handles()
    assert end == start, f"live handles went from {start} to {end} during the test"
