"""Start N copies of a program with torchrun's environment, for users without torch's launcher.

Usage, spelled as ``torchrun`` (dashes or underscores)::

    python -m simple_torch.distributed.run --nproc-per-node=2 train.py --epochs 3
    python -m simple_torch.distributed.run --nproc-per-node=4 -m mypackage.train --lr 0.1
    python -m simple_torch.distributed.run --standalone --nproc-per-node=auto train.py
    # two machines with four processes each: run this on both, with --node-rank=0 and 1
    python -m simple_torch.distributed.run --nnodes=2 --node-rank=0 --nproc-per-node=4 \\
        --master-addr=10.0.0.1 --master-port=29500 train.py

Each process runs ``python -u train.py ...`` in the current folder, sharing the launcher's stdout
and stderr, with RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, ROLE_RANK,
ROLE_WORLD_SIZE, MASTER_ADDR, MASTER_PORT and TORCHELASTIC_* set as torchrun sets them. When one
process fails, the launcher stops the others and exits with the failure's code.

Unlike torchrun there is no elastic agent (no restarts, no rendezvous backend) and the launcher
hosts no store: rank 0 does, so TORCHELASTIC_USE_AGENT_STORE is not set. This module imports only
the standard library, never torch nor simple_torch's native library.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from typing import Any, Callable

NAME = "simple_torch.distributed.run"
GRACE_S = 5.0  # how long stopped processes get to exit after SIGTERM (or a forwarded signal) before SIGKILL
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)  # torchrun's default set
FLAGS = {"-h", "--help", "-m", "--module", "--no-python", "--no_python", "--standalone"}  # options without a value
OMP_WARNING = (
    "\n*****************************************\n"
    "Setting OMP_NUM_THREADS environment variable for each process to be 1 in default, to avoid your "
    "system being overloaded, please further tune the variable for optimal performance in your "
    "application as needed. \n*****************************************"
)


def _positive(kind: Callable[[str], Any], allow_zero: bool = False) -> Callable[[str], Any]:
    """An argparse type: kind(text), refusing negative numbers, and 0 unless allow_zero."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"must be {'at least 0' if allow_zero else 'positive'}, got {text}")
        return value
    return parse


def _nproc(text: str) -> int:
    # torchrun's "auto" counts accelerators when it finds some; asking would need torch, so both count CPUs.
    return (os.cpu_count() or 1) if text in ("auto", "cpu") else _positive(int)(text)


def build_parser() -> argparse.ArgumentParser:
    """The launcher's options, spelled as torchrun's.

    Example:
        >>> build_parser().parse_args(["--nproc_per_node=2"]).nproc_per_node
        2
    """
    # No abbreviations: split_command() must know which words are options that take a value.
    p = argparse.ArgumentParser(prog=f"python -m {NAME}", allow_abbrev=False,
                                usage="%(prog)s [options] (script.py | -m module | --no-python program) [args ...]",
                                description="Start N copies of a program with torchrun's environment variables. "
                                "Everything from the script on (or after --) goes to the program unchanged.")
    p.add_argument("--nproc-per-node", "--nproc_per_node", type=_nproc, default=1,
                   help="processes on this node: a number, or 'auto'/'cpu' for one per CPU (default 1)")
    p.add_argument("--nnodes", type=_positive(int), default=1, help="number of nodes (default 1)")
    p.add_argument("--node-rank", "--node_rank", type=_positive(int, allow_zero=True), default=0,
                   help="this node's rank, 0 to nnodes-1 (default 0)")
    p.add_argument("--master-addr", "--master_addr", default="127.0.0.1",
                   help="address of the node running rank 0 (default 127.0.0.1)")
    p.add_argument("--master-port", "--master_port", type=_positive(int, allow_zero=True), default=29500,
                   help="port rank 0 listens on; 0 picks a free one (single node only; default 29500)")
    p.add_argument("--standalone", action="store_true", help="one node, a free port and a fresh run id")
    p.add_argument("--rdzv-id", "--rdzv_id", default="none", help="sets TORCHELASTIC_RUN_ID (default none)")
    p.add_argument("--monitor-interval", "--monitor_interval", type=_positive(float), default=0.1,
                   help="seconds between checks of the processes (default 0.1)")
    p.add_argument("-m", "--module", action="store_true", help="run a module, as python -m does")
    p.add_argument("--no-python", "--no_python", action="store_true", help="run the program itself, not with python")
    return p


def split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split argv into the launcher's options and the command, which starts at the first plain word
    (or after ``--``) and is passed on word for word, even its own ``--``.

    Example:
        >>> split_command(["--nproc-per-node", "2", "train.py", "--", "-x"])
        (['--nproc-per-node', '2'], ['train.py', '--', '-x'])
    """
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return argv[:i], argv[i + 1:]
        if not word.startswith("-") or word == "-":
            return argv[:i], argv[i:]
        i += 1 if word in FLAGS or "=" in word else 2
    return argv, []


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on host now. Rank 0 binds it a moment later, a race torchrun has too.

    Example:
        >>> 0 < free_port() < 65536
        True
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as s:
        s.bind(address)
        return int(s.getsockname()[1])


def describe(returncode: int) -> str:
    """A child's return code in words; Popen gives -N for a death by signal N.

    Example:
        >>> describe(3), describe(-9)
        ('exit code 3', 'signal SIGKILL (9)')
    """
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"signal {signal.Signals(-returncode).name} ({-returncode})"
    except ValueError:
        return f"signal {-returncode}"


def stop(procs: list[subprocess.Popen[bytes]], sig: int, received: list[int]) -> None:
    """Send sig to the process group of each running child, wait up to GRACE_S for them (less if the
    launcher gets another signal: a second Ctrl-C kills at once), then SIGKILL those left.

    Example:
        >>> stop([subprocess.Popen(["sleep", "60"], start_new_session=True)], signal.SIGTERM, [])
    """
    def signal_running(s: int) -> None:
        for p in procs:
            if p.poll() is None:
                try:  # the group also holds the child's own children, e.g. data-loader workers
                    os.killpg(p.pid, s)
                except ProcessLookupError:
                    pass  # it exited just now
    signal_running(sig)
    deadline, seen = time.monotonic() + GRACE_S, len(received)
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline and len(received) == seen:
        time.sleep(0.05)
    signal_running(signal.SIGKILL)
    for p in procs:
        p.wait()


def supervise(procs: list[subprocess.Popen[bytes]], ranks: list[int], interval: float, received: list[int]) -> int:
    """Poll the children until all succeed (0), one fails (its code) or the launcher gets a signal (128+signal).

    Example:
        >>> supervise([subprocess.Popen(["true"], start_new_session=True)], [0], 0.1, [])
        0
    """
    while True:
        if received:  # seen at the next poll: the handler only notes it, so it cannot interrupt a Popen
            print(f"{NAME}: got {signal.Signals(received[0]).name}, passing it on to the processes",
                  file=sys.stderr, flush=True)
            stop(procs, received[0], received)
            return 128 + received[0]
        codes = [p.poll() for p in procs]
        failed = [(local, code) for local, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            stop(procs, signal.SIGTERM, received)
            lines = [f"  local rank {local} (global rank {ranks[local]}): {describe(code)}" for local, code in failed]
            others = ", the others were stopped" if len(failed) < len(procs) else ""
            print(f"{NAME}: {len(failed)} of {len(procs)} processes failed{others}:",
                  *lines, sep="\n", file=sys.stderr, flush=True)
            code = failed[0][1]
            return code if code > 0 else 128 - code  # as a shell reports a death by signal
        if all(code == 0 for code in codes):
            return 0
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    """Start the processes, watch them, and return the exit code (argparse exits with 2 on bad arguments).

    Example:
        >>> main(["--nproc-per-node=2", "train.py", "--epochs", "3"])  # doctest: +SKIP
        0
    """
    parser = build_parser()
    options, command = split_command(sys.argv[1:] if argv is None else list(argv))
    args = parser.parse_args(options)
    if not command:
        parser.error("give the script to run (or, with -m, the module; with --no-python, the program)")
    if args.module and args.no_python:
        parser.error("use either -m/--module or --no-python, not both")
    if not (args.module or args.no_python or os.path.exists(command[0])):
        parser.error(f"cannot find the script {command[0]!r}")
    if args.node_rank >= args.nnodes:
        parser.error(f"--node-rank must be below --nnodes ({args.nnodes}), got {args.node_rank}")
    if args.standalone:
        args.master_port, args.rdzv_id = 0, str(uuid.uuid4())
    if args.master_port == 0:
        if args.nnodes > 1:  # the other nodes could not learn the port
            parser.error("a free port (--standalone or --master-port=0) works on one node only")
        try:
            args.master_port = free_port(args.master_addr)
        except OSError as e:
            parser.error(f"cannot find a free port on {args.master_addr}: {e}")

    nproc, base = args.nproc_per_node, dict(os.environ)
    if nproc > 1 and "OMP_NUM_THREADS" not in base:
        print(OMP_WARNING, file=sys.stderr, flush=True)  # torchrun's warning, once for all the processes
        base["OMP_NUM_THREADS"] = "1"
    if args.no_python:
        cmd = command
    else:
        cmd = [os.environ.get("PYTHON_EXEC", sys.executable), "-u", *(["-m"] if args.module else []), *command]
    world = args.nnodes * nproc
    ranks = [args.node_rank * nproc + local for local in range(nproc)]
    shared = {
        "LOCAL_WORLD_SIZE": str(nproc), "WORLD_SIZE": str(world), "ROLE_WORLD_SIZE": str(world),
        "GROUP_RANK": str(args.node_rank), "GROUP_WORLD_SIZE": str(args.nnodes), "ROLE_NAME": "default",
        "MASTER_ADDR": args.master_addr, "MASTER_PORT": str(args.master_port),
        "TORCHELASTIC_RESTART_COUNT": "0", "TORCHELASTIC_MAX_RESTARTS": "0", "TORCHELASTIC_RUN_ID": args.rdzv_id,
        "TORCH_NCCL_ASYNC_ERROR_HANDLING": os.environ.get("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1"),
    }

    # Handlers go in before the first child starts, so that no signal can leave a child unwatched.
    received: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _frame: received.append(signum)) for s in FORWARDED}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for local, rank in enumerate(ranks):
            env = {**base, **shared, "RANK": str(rank), "ROLE_RANK": str(rank), "LOCAL_RANK": str(local)}
            # A session of its own, as torchrun does: a terminal's Ctrl-C reaches the launcher only, which
            # forwards it once, and stopping a child's process group also stops the processes it started.
            procs.append(subprocess.Popen(cmd, env=env, start_new_session=True))
        return supervise(procs, ranks, args.monitor_interval, received)
    except OSError as e:  # the program could not be started, e.g. --no-python with a missing program
        print(f"{NAME}: cannot start {cmd[0]!r}: {e}", file=sys.stderr)
        return 1
    finally:
        stop(procs, signal.SIGKILL, received)  # nothing left to do unless starting failed or a bug raised
        for s, handler in previous.items():
            signal.signal(s, handler)


if __name__ == "__main__":
    sys.exit(main())
