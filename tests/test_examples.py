"""The examples run as a user runs them and check their own results."""

import subprocess
import sys
from pathlib import Path

import pytest

import simple_torch as st

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("[0-9]*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example):
    done = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    if not st.torch_cuda_available():
        assert "CPU" in done.stdout, "without CUDA an example must say it falls back to the CPU"


def test_there_are_three_examples():
    assert [p.name for p in EXAMPLES] == ["01_device_management.py", "02_forward_pass.py", "03_multi_gpu.py"]


def test_the_readme_python_examples_run(capsys):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    blocks = [block.split("```", 1)[0] for block in readme.split("```python\n")[1:]]
    assert len(blocks) == 2, "the API example and the interop example"
    for block in blocks:
        exec(compile(block.replace("    ...", "    pass"), "README.md", "exec"), {})
    assert capsys.readouterr().out.startswith("[32, 64] float32 cpu\n")
