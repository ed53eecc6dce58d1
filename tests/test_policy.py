"""The fallback policy for GPUs that do not exist, and auto_device. A GPU index at the device
count never exists, so these run the same on machines with and without CUDA."""

import warnings

import pytest
import torch

import simple_torch as st
from simple_torch import Device, DeviceFallbackWarning, config


@pytest.fixture(autouse=True)
def fresh_policy_state():
    """dl restored and the warn-once memory cleared around each test."""
    saved = {key: (st.dl._values[key], st.dl._sources[key]) for key in st.dl._values}
    config._warned.clear()
    yield
    st.dl._set_all(saved)
    config._warned.clear()


MISSING = Device.cuda(st.cuda_device_count())  # the first GPU this machine lacks


def moves_to(device, **options):
    """Every way of asking for a device, each returning a tensor."""
    x = st.tensor_ones([2])
    return {
        "tensor_zeros": lambda: st.tensor_zeros([2], device=device, **options),
        "tensor_randn": lambda: st.tensor_randn([2], device=device, **options),
        "from_list": lambda: st.from_list([1.0, 2.0], device=device, **options),
        "cuda": lambda: x.cuda(device.index, **options),
        "to": lambda: x.to(device, **options),
    }


def test_an_explicit_missing_gpu_raises_by_default():
    for name, call in moves_to(MISSING).items():
        with pytest.raises(st.DeviceError, match=f"cannot use {MISSING}"):
            call()


def test_policy_error_raises_even_when_the_config_says_cpu():
    st.dl.fallback = "cpu"
    for name, call in moves_to(MISSING, policy="error").items():
        with pytest.raises(st.DeviceError, match=f"cannot use {MISSING}"):
            call()


def test_policy_cpu_runs_on_the_cpu_and_warns_once():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [call() for call in moves_to(MISSING, policy="cpu").values()]
        results += [call() for call in moves_to(MISSING, policy="cpu").values()]
    assert all(t.device() == Device.cpu() for t in results)
    fallbacks = [w for w in caught if w.category is DeviceFallbackWarning]
    assert len(fallbacks) == 1, [str(w.message) for w in caught]
    message = str(fallbacks[0].message)
    assert message.startswith(f"cannot use {MISSING}: ") and "running on the CPU instead (fallback policy 'cpu')" in message
    assert fallbacks[0].filename == __file__  # points at the caller's line, not at simple_torch


def test_the_values_are_the_same_on_the_fallback():
    with pytest.warns(DeviceFallbackWarning):
        t = st.from_list([[1.5, -2.0]], device=MISSING, policy="cpu")
    assert t.tolist() == torch.tensor([[1.5, -2.0]]).tolist()


def test_each_missing_device_warns_once():
    with pytest.warns(DeviceFallbackWarning) as caught:
        for _ in range(3):
            st.tensor_zeros([1], device=MISSING, policy="cpu")
            st.tensor_zeros([1], device=Device.cuda(MISSING.index + 1), policy="cpu")
    assert sorted(str(w.message).split(":")[0] for w in caught) == ["cannot use cuda", "cannot use cuda"]
    assert len(caught) == 2


def test_the_configured_policy_applies_to_explicit_devices():
    st.dl.fallback = "cpu"
    with pytest.warns(DeviceFallbackWarning):
        assert st.tensor_zeros([1], device=MISSING).device() == Device.cpu()


def test_the_policy_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("SIMPLE_TORCH_FALLBACK", "cpu")
    st.load_local_config()
    assert st.dl.fallback == "cpu"
    with pytest.warns(DeviceFallbackWarning):
        assert st.tensor_ones([1], device=MISSING).device() == Device.cpu()


def test_a_missing_configured_default_falls_back_and_says_where_it_came_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "dl.config.sdn").write_text(f'dl:\n    device: "{MISSING}"\n')
    st.load_local_config()
    with pytest.warns(DeviceFallbackWarning, match=f"dl.default_device: {tmp_path / 'dl.config.sdn'}, line 2"):
        t = st.tensor_zeros([2])
    assert t.device() == Device.cpu()
    assert st.resolve_device() == Device.cpu()


def test_a_missing_default_raises_under_policy_error():
    st.dl.default_device = MISSING
    st.dl.fallback = "error"
    with pytest.raises(st.DeviceError, match=rf"cannot use {MISSING} \(dl.default_device: set in code\): .*policy='cpu'"):
        st.tensor_zeros([2])
    with pytest.raises(st.DeviceError):
        st.Stream()
    st.dl.fallback = None  # the default for the configured device is "cpu"
    with pytest.warns(DeviceFallbackWarning):
        assert st.tensor_zeros([2]).device() == Device.cpu()


def test_an_existing_device_never_warns():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert st.tensor_zeros([1], device="cpu", policy="cpu").device() == Device.cpu()
        assert st.resolve_device("cpu", policy="error") == Device.cpu()


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="unknown fallback policy 'gpu'; accepted: 'error' .* or 'cpu'"):
        st.tensor_zeros([1], device="cpu", policy="gpu")
    with pytest.raises(ValueError, match="unknown fallback policy"):
        st.resolve_device(MISSING, policy="fallback")


def test_auto_device_without_cuda_is_the_cpu():
    if st.cuda_device_count() == 0:
        assert st.auto_device() == Device.cpu()
    else:
        assert st.auto_device().kind == "cuda"


@pytest.mark.cuda
def test_auto_device_picks_the_gpu_with_the_most_free_memory():
    free = [torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count())]
    chosen = st.auto_device()
    # Free memory moves a little between the two readings; the choice must be (close to) the best.
    assert free[chosen.index] >= max(free) - 64 * 2**20
