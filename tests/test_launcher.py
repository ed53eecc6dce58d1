"""python -m simple_torch.distributed.run: torchrun's environment, argument passing and supervision.

Each test runs the launcher as a user does, in tmp_path, on small scripts that write what they see.
"""

import ast
import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import child_environment

LAUNCHER = [sys.executable, "-m", "simple_torch.distributed.run"]
OMP_WARNING = "Setting OMP_NUM_THREADS environment variable for each process to be 1 in default"

# Each process writes its environment and arguments to env<RANK>.json in its working folder.
DUMP = """
import json, os, sys
with open(f"env{os.environ['RANK']}.json", "w") as f:
    json.dump({"env": dict(os.environ), "argv": sys.argv[1:], "unbuffered": sys.stdout.write_through}, f)
"""

# Local rank 0 sleeps (its pid in sleeper.pid) until stopped; local rank 1 waits for it, then fails as
# argv[1] says.
FAIL = """
import os, pathlib, signal, sys, time
if os.environ["LOCAL_RANK"] == "0":
    if "--ignore-sigterm" in sys.argv:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pathlib.Path("sleeper.pid").write_text(str(os.getpid()))
    time.sleep(600)
deadline = time.monotonic() + 30
while not os.path.exists("sleeper.pid") and time.monotonic() < deadline:
    time.sleep(0.05)
if sys.argv[1] == "exit":
    sys.exit(3)
os.kill(os.getpid(), signal.SIGKILL)
"""


def environment(**changes):
    """The test's environment, with relative paths made absolute (the launcher runs in tmp_path)."""
    env = child_environment()
    env.pop("OMP_NUM_THREADS", None)
    env.update(changes)
    return env


def launch(folder, *args, env=None, timeout=60):
    return subprocess.run([*LAUNCHER, *args], cwd=folder, env=env or environment(), capture_output=True,
                          text=True, timeout=timeout)


def dumps(folder, ranks):
    return [json.loads((folder / f"env{rank}.json").read_text()) for rank in ranks]


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("nproc", [2, 3])
def test_each_process_gets_torchruns_environment(tmp_path, nproc):
    (tmp_path / "dump.py").write_text(DUMP)
    if nproc == 2:  # the defaults: one node, 127.0.0.1:29500, OMP_NUM_THREADS=1 with a warning
        done = launch(tmp_path, "--nproc-per-node=2", "dump.py")
        node, nnodes, addr, port, run_id, omp = 0, 1, "127.0.0.1", "29500", "none", "1"
    else:  # the second of two nodes, with the user's own OMP_NUM_THREADS
        done = launch(tmp_path, "--nproc_per_node", "3", "--nnodes=2", "--node_rank=1", "--master-addr=10.1.2.3",
                      "--master_port=1234", "--rdzv-id=job7", "--monitor-interval=0.05", "dump.py",
                      env=environment(OMP_NUM_THREADS="4"))
        node, nnodes, addr, port, run_id, omp = 1, 2, "10.1.2.3", "1234", "job7", "4"
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(OMP_WARNING) == (1 if nproc == 2 else 0)
    world = nnodes * nproc
    for local, seen in enumerate(dumps(tmp_path, [node * nproc + local for local in range(nproc)])):
        rank = str(node * nproc + local)
        expected = {
            "RANK": rank, "LOCAL_RANK": str(local), "WORLD_SIZE": str(world), "LOCAL_WORLD_SIZE": str(nproc),
            "GROUP_RANK": str(node), "GROUP_WORLD_SIZE": str(nnodes), "ROLE_RANK": rank,
            "ROLE_WORLD_SIZE": str(world), "ROLE_NAME": "default", "MASTER_ADDR": addr, "MASTER_PORT": port,
            "TORCHELASTIC_RESTART_COUNT": "0", "TORCHELASTIC_MAX_RESTARTS": "0", "TORCHELASTIC_RUN_ID": run_id,
            "OMP_NUM_THREADS": omp,
        }
        assert {name: seen["env"].get(name) for name in expected} == expected
        assert "TORCHELASTIC_USE_AGENT_STORE" not in seen["env"], "rank 0 hosts the store, not the launcher"
        assert seen["argv"] == [] and seen["unbuffered"], "python -u, no arguments added"


def test_one_process_gets_no_omp_setting(tmp_path):
    (tmp_path / "dump.py").write_text(DUMP)
    done = launch(tmp_path, "dump.py")
    assert done.returncode == 0 and OMP_WARNING not in done.stderr, done.stderr
    [seen] = dumps(tmp_path, [0])
    assert seen["env"]["WORLD_SIZE"] == "1" and "OMP_NUM_THREADS" not in seen["env"]


def test_arguments_reach_the_script_unchanged(tmp_path):
    """Words after the script are the script's, even ones spelled as the launcher's options and --."""
    (tmp_path / "dump.py").write_text(DUMP)
    script_args = ["a b", "--nproc-per-node", "9", "-m", "--", "--standalone"]
    for args in (["--nproc-per-node=2", "dump.py"], ["--nproc-per-node=2", "--", "dump.py"]):
        done = launch(tmp_path, *args, *script_args)
        assert done.returncode == 0, done.stderr
        assert [seen["argv"] for seen in dumps(tmp_path, [0, 1])] == [script_args, script_args]


def test_module_mode(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "worker.py").write_text(DUMP)
    done = launch(tmp_path, "--nproc-per-node=2", "-m", "pkg.worker", "--lr", "0.1")
    assert done.returncode == 0, done.stderr
    assert [(s["env"]["RANK"], s["argv"]) for s in dumps(tmp_path, [0, 1])] == [("0", ["--lr", "0.1"]),
                                                                               ("1", ["--lr", "0.1"])]


def test_no_python_runs_the_program_itself(tmp_path):
    (tmp_path / "dump.py").write_text(DUMP)
    done = launch(tmp_path, "--nproc-per-node=2", "--no-python", sys.executable, "dump.py", "x")
    assert done.returncode == 0, done.stderr
    assert [s["argv"] for s in dumps(tmp_path, [0, 1])] == [["x"], ["x"]]
    missing = launch(tmp_path, "--no-python", str(tmp_path / "no-such-program"))
    assert missing.returncode == 1 and "cannot start" in missing.stderr


@pytest.mark.parametrize("how, code, words", [("exit", 3, "exit code 3"), ("signal", 128 + 9, "signal SIGKILL (9)")])
def test_a_failing_rank_stops_the_others(tmp_path, how, code, words):
    (tmp_path / "fail.py").write_text(FAIL)
    start = time.monotonic()
    done = launch(tmp_path, "--nproc-per-node=2", "fail.py", how)
    assert time.monotonic() - start < 30, "rank 0 sleeps 600 s: the launcher must have stopped it"
    assert done.returncode == code, done.stderr
    summary = f"1 of 2 processes failed, the others were stopped:\n  local rank 1 (global rank 1): {words}\n"
    assert summary in done.stderr
    assert gone(int((tmp_path / "sleeper.pid").read_text()))


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path):
    (tmp_path / "fail.py").write_text(FAIL)
    start = time.monotonic()
    done = launch(tmp_path, "--nnodes=2", "--node-rank=1", "--nproc-per-node=2", "fail.py", "exit",
                  "--ignore-sigterm")
    assert 5 <= time.monotonic() - start < 30
    assert done.returncode == 3 and "local rank 1 (global rank 3): exit code 3" in done.stderr, done.stderr
    assert gone(int((tmp_path / "sleeper.pid").read_text()))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_launcher_reaches_the_processes(tmp_path, sig):
    (tmp_path / "wait.py").write_text(
        "import os, pathlib, signal, sys, time\n"
        "rank = os.environ['RANK']\n"
        "def stop(signum, frame):\n"
        "    pathlib.Path(f'got{rank}').write_text(str(signum))\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGINT, stop)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "pathlib.Path(f'ready{rank}').write_text('')\n"
        "time.sleep(600)\n")
    launcher = subprocess.Popen([*LAUNCHER, "--nproc-per-node=2", "wait.py"], cwd=tmp_path, env=environment(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not all((tmp_path / f"ready{r}").exists() for r in (0, 1)) and launcher.poll() is None:
            assert time.monotonic() < deadline, "the processes did not start"
            time.sleep(0.05)
        launcher.send_signal(sig)
        _, err = launcher.communicate(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.communicate()
    assert launcher.returncode == 128 + sig, err
    assert f"got {sig.name}, passing it on to the processes" in err
    assert [(tmp_path / f"got{r}").read_text() for r in (0, 1)] == [str(int(sig))] * 2


@pytest.mark.parametrize("option", ["--master-port=0", "--standalone"])
def test_a_free_port(tmp_path, option):
    """Rank 0 can listen on the port it is given, as the store it hosts will."""
    (tmp_path / "listen.py").write_text(
        "import os, socket\n"
        "if os.environ['RANK'] == '0':\n"
        "    with socket.socket() as s:\n"
        "        s.bind((os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT'])))\n"
        "        s.listen()\n" + DUMP)
    done = launch(tmp_path, "--nproc-per-node=2", option, "listen.py")
    assert done.returncode == 0, done.stderr
    envs = [s["env"] for s in dumps(tmp_path, [0, 1])]
    assert envs[0]["MASTER_PORT"] == envs[1]["MASTER_PORT"] != "0"
    assert envs[0]["MASTER_ADDR"] == "127.0.0.1"
    run_ids = {e["TORCHELASTIC_RUN_ID"] for e in envs}
    assert len(run_ids) == 1 and (run_ids == {"none"}) == (option == "--master-port=0")


@pytest.mark.parametrize("args, message", [
    (["--nproc-per-node=0", "ok.py"], "--nproc_per_node: must be positive, got 0"),
    (["--nproc-per-node=two", "ok.py"], "'two' is not a number"),
    (["--monitor-interval=-1", "ok.py"], "must be positive"),
    (["--nproc-per-node=2"], "give the script to run"),
    (["--nproc-per-node=2", "missing.py"], "cannot find the script 'missing.py'"),
    (["--nnodes=2", "--node-rank=2", "ok.py"], "--node-rank must be below --nnodes (2), got 2"),
    (["--nnodes=2", "--standalone", "ok.py"], "works on one node only"),
    (["--nnodes=2", "--master-port=0", "ok.py"], "works on one node only"),
    (["-m", "--no-python", "ok"], "not both"),
    (["--max-restarts=1", "ok.py"], "unrecognized arguments: --max-restarts=1"),
    (["--nproc", "2", "ok.py"], "unrecognized arguments"),
])
def test_bad_arguments_say_what_is_wrong(tmp_path, args, message):
    (tmp_path / "ok.py").write_text("open('ran', 'w').close()\n")
    done = launch(tmp_path, *args)
    assert done.returncode == 2 and "error:" in done.stderr and message in done.stderr, done.stderr
    assert not (tmp_path / "ran").exists()


def test_main_in_process_leaves_the_environment_and_signal_handlers_as_they_were(monkeypatch, capsys):
    run = importlib.import_module("simple_torch.distributed.run")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    handlers = [signal.getsignal(s) for s in run.FORWARDED]
    assert run.main(["--nproc-per-node=2", "--no-python", "true"]) == 0
    assert run.main(["--nproc-per-node=2", "--no-python", "false"]) == 1
    assert "OMP_NUM_THREADS" not in os.environ and [signal.getsignal(s) for s in run.FORWARDED] == handlers
    err = capsys.readouterr().err
    assert "of 2 processes failed" in err and "exit code 1" in err  # one or both, as the polls saw them


def test_auto_and_cpu_mean_one_process_per_cpu():
    parser = importlib.import_module("simple_torch.distributed.run").build_parser()
    for word in ("auto", "cpu"):
        assert parser.parse_args([f"--nproc-per-node={word}"]).nproc_per_node == os.cpu_count()


def test_the_launcher_imports_only_the_standard_library():
    """So that it never loads torch or simple_torch's native library itself."""
    path = importlib.util.find_spec("simple_torch.distributed.run").origin
    tree = ast.parse(open(path).read())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {name.split(".")[0] for name in names} <= sys.stdlib_module_names | {"__future__"}
