"""Loading: the C ABI table, libtorch without torch's Python module, and the stub mode."""

import os
import re
import subprocess
import sys
from pathlib import Path

import torch

import simple_torch as st
from simple_torch import _native

# ABI.md's required functions of the library, creation, methods, properties, devices and memory.
REQUIRED = """
rt_torch_available rt_torch_version rt_torch_cuda_available rt_torch_cuda_device_count
rt_torch_live_handles rt_torch_last_error rt_torch_clear_error
rt_torch_tensor_zeros rt_torch_tensor_ones rt_torch_tensor_randn rt_torch_tensor_zeros_opts
rt_torch_tensor_ones_opts rt_torch_tensor_randn_opts rt_torch_tensor_from_data
rt_torch_torchtensor_add rt_torch_torchtensor_sub rt_torch_torchtensor_mul rt_torch_torchtensor_div
rt_torch_torchtensor_matmul rt_torch_torchtensor_relu rt_torch_torchtensor_sigmoid
rt_torch_torchtensor_tanh rt_torch_torchtensor_softmax rt_torch_torchtensor_clone
rt_torch_torchtensor_ndim rt_torch_torchtensor_numel rt_torch_torchtensor_shape
rt_torch_torchtensor_dtype rt_torch_torchtensor_copy_to
rt_torch_torchtensor_cuda rt_torch_torchtensor_cpu rt_torch_torchtensor_is_cuda
rt_torch_torchtensor_device rt_torch_torchtensor_to_device rt_torch_torchtensor_free
""".split()


def exported_names(path: Path) -> set[str]:
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(path)], check=True, capture_output=True, text=True)
    return {line.split()[-1] for line in symbols.stdout.splitlines() if line.split()[-1].startswith("rt_torch_")}


def test_the_ctypes_table_is_exactly_the_exports_of_the_shipped_library():
    assert _native.BUNDLED_LIBRARY.is_file(), "the wheel must carry libsimple_torch.so"
    assert set(_native.SIGNATURES) == exported_names(_native.BUNDLED_LIBRARY)
    assert set(REQUIRED) <= set(_native.SIGNATURES)


def test_the_shipped_header_declares_exactly_the_exports():
    header = Path(st.get_include()) / "simple_torch.h"
    code = re.sub(r"/\*.*?\*/", "", header.read_text(), flags=re.DOTALL)  # doc comments mention min(...)
    declared = set(re.findall(r"\b(\w+)\(", code))
    assert declared == set(_native.SIGNATURES)
    assert Path(st.get_library()) == _native.BUNDLED_LIBRARY


def test_the_library_agrees_with_torch():
    assert st.torch_available()
    assert st.torch_version() == torch.__version__.split("+")[0] == _native.REQUIRED_TORCH
    assert st.torch_cuda_available() == torch.cuda.is_available()
    assert st.cuda_device_count() == torch.cuda.device_count()


def run_python(code: str, **env_changes) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD")}
    env.update(env_changes)
    return subprocess.run([sys.executable, *code], capture_output=True, text=True, env=env, timeout=120)


def test_a_fresh_process_computes_without_torch_python_or_ld_library_path():
    done = run_python([
        "-c",
        "import sys, simple_torch as st\n"
        "y = st.from_list([[1.0, 2.0], [3.0, 4.0]]) @ st.from_list([[1.0], [1.0]])\n"
        "print(y.tolist(), 'torch' in sys.modules)",
    ])
    assert (done.returncode, done.stdout, done.stderr) == (0, "[[3.0], [7.0]] False\n", "")


STUB_CHECK = (
    "import simple_torch as st\n"
    "print(st.torch_available(), st.torch_version(), st.torch_cuda_available(), st.cuda_device_count())\n"
    "try:\n"
    "    st.tensor_zeros([1])\n"
    "except st.TorchNotAvailableError as error:\n"
    "    print(error)\n"
)


def test_a_missing_library_gives_the_stub_mode_with_a_fix(tmp_path):
    missing = tmp_path / "libsimple_torch.so"
    done = run_python(["-c", STUB_CHECK], SIMPLE_TORCH_LIB=str(missing))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "False None False 0"
    assert f"libsimple_torch.so is missing from SIMPLE_TORCH_LIB={missing}" in done.stdout
    assert "cargo build --release" in done.stdout


def test_a_broken_library_gives_the_stub_mode(tmp_path):
    broken = tmp_path / "libsimple_torch.so"
    broken.write_text("not an ELF file")
    done = run_python(["-c", STUB_CHECK], SIMPLE_TORCH_LIB=str(broken))
    assert done.returncode == 0 and "cannot load libtorch or libsimple_torch.so" in done.stdout, done


def test_a_wrong_torch_version_gives_the_stub_mode(tmp_path):
    fake = tmp_path / "torch"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('simple_torch must not import torch')\n")
    (fake / "version.py").write_text("__version__ = '2.10.0+cpu'\n")
    done = run_python(["-c", STUB_CHECK], PYTHONPATH=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert f"simple_torch is built against torch 2.11.0, but torch 2.10.0+cpu is installed at {fake}: pip install torch==2.11.0" in done.stdout


def test_no_torch_at_all_gives_the_stub_mode(tmp_path):
    # Only the standard library and simple_torch: -S leaves site-packages (and torch) out.
    (tmp_path / "simple_torch").symlink_to(Path(st.__file__).parent)
    done = run_python(["-S", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + STUB_CHECK])
    assert done.returncode == 0, done.stderr
    assert "the torch package is not installed: pip install torch==2.11.0" in done.stdout
