"""The GPU check (tests/gpu/) on a machine without CUDA: tests/gpu/run installs the wheel into a
private folder, says that there is nothing to check and exits with its own status; the GPU
benchmark says the same. On a GPU, run would run the whole check, so those tests skip there."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import simple_torch as st

ROOT = Path(__file__).parent.parent
GPU = ROOT / "tests" / "gpu"
NO_CUDA = 3  # tests/gpu/run's and benches/gpu.py's exit status when no CUDA device is present
without_cuda = pytest.mark.skipif(st.torch_cuda_available(), reason="on a GPU, tests/gpu/run runs the whole check")


def run_check(tmp_path, wheels: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"OUT": str(tmp_path / "out"), "PYTHON": sys.executable, "GPU_WHEELS": str(wheels)}
    return subprocess.run(["bash", str(GPU / "run")], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("script", ["prepare", "run"])
def test_the_scripts_parse(script):
    done = subprocess.run(["bash", "-n", str(GPU / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_carried_hypothesis_is_the_one_the_tests_pin():
    def pins(path):
        return dict(re.findall(r"^([\w-]+)==(\S+)", path.read_text(), re.MULTILINE))

    assert pins(GPU / "requirements.txt")["hypothesis"] == pins(ROOT / ".ci" / "requirements.txt")["hypothesis"]


@without_cuda
def test_run_installs_the_wheel_and_says_there_is_no_cuda(tmp_path):
    cache = Path(os.environ.get("SIMPLE_TORCH_CACHE", Path.home() / ".cache" / "simple-torch"))
    built = sorted((cache / "wheels").glob("simple_torch-*.whl"))
    if not built:
        pytest.skip(f"no wheel in {cache / 'wheels'}: .ci/setup.sh builds it (bash tests/run)")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    shutil.copy(built[0], wheels)  # a copy: another run of .ci/setup.sh may replace the cache's
    done = run_check(tmp_path, wheels)
    assert done.returncode == NO_CUDA, done.stdout + done.stderr
    assert "no CUDA device is present: nothing to check" in done.stdout
    # simple_torch came from the private folder (removed afterwards), not from this environment
    site = re.search(r"simple_torch \S+ from (\S+)/simple_torch/__init__\.py", done.stdout).group(1)
    assert not Path(site).exists() and not site.startswith(sys.prefix)
    assert (tmp_path / "out" / "gpu-check.log").read_text() == done.stdout


@without_cuda
def test_run_without_a_wheel_fails_and_says_what_to_do(tmp_path):
    done = run_check(tmp_path, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no simple_torch wheel in" in done.stdout and "run tests/gpu/prepare first" in done.stdout


@without_cuda
def test_the_gpu_benchmark_says_there_is_no_cuda(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benches" / "gpu.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == NO_CUDA, done.stdout + done.stderr
    assert "no CUDA device is present: nothing to benchmark" in done.stdout
    assert not any(tmp_path.iterdir())
