"""A C program drives the library through the shipped header, with no Python in the process."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import simple_torch as st

CLIENT = Path(__file__).parent / "c" / "client.c"
COMPILER = next((shutil.which(name) for name in ("cc", "gcc", "clang") if shutil.which(name)), None)


@pytest.mark.skipif(COMPILER is None, reason="no C compiler (cc, gcc or clang) on this machine")
def test_c_client_computes_and_reports_every_error(tmp_path):
    """Compiles tests/c/client.c strictly against get_include() and get_library(), runs it, and
    expects exit status 0: exact numbers, and the message and kind of every error path."""
    library = Path(st.get_library())
    binary = tmp_path / "client"
    build = subprocess.run(
        [COMPILER, "-Wall", "-Wextra", "-Werror", "-std=c11", f"-I{st.get_include()}", str(CLIENT),
         str(library), f"-Wl,-rpath,{library.parent}", "-lm", "-o", str(binary)],
        capture_output=True, text=True, timeout=120,
    )
    assert build.returncode == 0, f"the C client does not compile:\n{build.stdout}{build.stderr}"
    # No LD_LIBRARY_PATH: the rpath finds the .so, and the .so finds libtorch by its RUNPATH.
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD")}
    done = subprocess.run([str(binary)], capture_output=True, text=True, timeout=120, env=env)
    print(done.stdout)
    assert done.returncode == 0, f"the C client failed (exit status {done.returncode}):\n{done.stdout}{done.stderr}"
    assert done.stdout.rstrip().endswith("checks passed"), done.stdout
