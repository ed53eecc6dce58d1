"""The examples run as a user runs them and check their own results."""

import subprocess
import sys
import warnings
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


def test_there_are_seven_examples():
    assert [p.name for p in EXAMPLES] == [
        "01_device_management.py", "02_forward_pass.py", "03_multi_gpu.py", "04_config.py", "05_torch_code.py",
        "06_train_digits.py", "07_data_parallel.py",
    ]


def test_the_torch_code_example_agrees_with_torch():
    """examples/05_torch_code.py runs the same torch code with both libraries and compares."""
    done = subprocess.run([sys.executable, str(EXAMPLES[4])], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("(same as torch)") == 7 and done.stdout.rstrip().endswith("simple_torch and torch agree")


def test_the_config_example_loads_its_file_and_falls_back(tmp_path):
    """Run from another folder: the example names its own folder, so the file is found."""
    example = EXAMPLES[3]
    done = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"device: cuda:1  ({example.parent / 'dl.config.sdn'}, line 3)" in done.stdout
    if st.cuda_device_count() < 2:
        assert "computed on the CPU (fallback)" in done.stdout
        assert done.stderr.count("DeviceFallbackWarning: cannot use cuda:1") == 1
        assert "policy='error' raises instead: cannot use cuda:1" in done.stdout
    else:
        assert "computed on GPU 1" in done.stdout and not done.stderr


def test_the_readme_python_examples_run(capsys):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    blocks = [block.split("```", 1)[0] for block in readme.split("```python\n")[1:]]
    # (The distributed example is fenced as ```py: it needs a launched job, which examples/07 is.)
    assert len(blocks) == 5, "the API example, st.ops, training, the devices example and the interop example"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", st.DeviceFallbackWarning)  # the devices example asks for cuda:1
        for block in blocks:
            exec(compile(block.replace("    ...", "    pass"), "README.md", "exec"), {})
    assert capsys.readouterr().out.startswith("[32, 64] float32 cpu\n")


def test_the_training_example_reaches_97_percent_and_its_checkpoint_reproduces_it(tmp_path):
    """examples/06_train_digits.py with bfloat16 autocast on the CPU, writing into tmp_path."""
    done = subprocess.run([sys.executable, str(EXAMPLES[5]), "--amp", "--epochs", "8", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "done: at least 97% accuracy, and the checkpoint reproduces it" in done.stdout
    assert (tmp_path / "digits_training.png").stat().st_size > 10_000 and (tmp_path / "digits_cnn.pt").is_file()
