"""Misuse of every export through raw ctypes: the process survives and each error is reported.

The cases come from misuse_worker.py, which builds them from the ctypes table and the header,
so a new export is covered as soon as it is declared. They run in a worker subprocess: a crash
is counted against the case that caused it, and the worker is restarted at the next case.
"""

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import misuse_worker
from simple_torch._native import SIGNATURES

WORKER = Path(__file__).with_name("misuse_worker.py")
CASE_TIMEOUT_S = 60  # one case, or the worker's start (loading libtorch)


class Run:
    """What a run of the cases gave: problems per case, crashes, and the worker's handle counts."""

    def __init__(self):
        self.total = None
        self.problems: dict[int, list[str]] = {}
        self.crashes: list[tuple[int, str]] = []  # (case index, how it ended)
        self.reported: list[int] = []
        self.live_counts: list[tuple[int, int]] = []


def lines_of(process: subprocess.Popen) -> queue.Queue:
    """The worker's stdout lines, then None at its end, read in a thread so that reads can time out."""
    lines = queue.Queue()

    def read():
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def run_cases(stop=None, crash_at=None) -> Run:
    """Runs cases [0, stop) in as many workers as it takes, one more after each crash. Their
    FileStores go in a directory removed afterwards, even if a worker crashed."""
    with tempfile.TemporaryDirectory(prefix="misuse-") as directory:
        return run_workers(stop, crash_at, {**os.environ, "MISUSE_TMPDIR": directory})


def run_workers(stop, crash_at, env) -> Run:
    run, start = Run(), 0
    while stop is None or start < stop:
        command = [sys.executable, str(WORKER), str(start)]
        command += [str(stop)] if stop is not None else []
        command += ["--crash-at", str(crash_at)] if crash_at is not None else []
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
            stderr = []
            stderr_reader = threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True)
            stderr_reader.start()
            lines, current, finished = lines_of(process), start, False
            while True:
                try:
                    line = lines.get(timeout=CASE_TIMEOUT_S)
                except queue.Empty:
                    process.kill()
                    how = f"no answer within {CASE_TIMEOUT_S} s (hung), killed"
                    break
                if line is None:
                    how = f"the worker died with exit status {process.wait(timeout=CASE_TIMEOUT_S)}"
                    break
                try:
                    event = json.loads(line)
                except ValueError:  # not ours: something in the process printed to stdout
                    continue
                if "ready" in event:
                    run.total = event["ready"]
                elif "i" in event:
                    run.reported.append(event["i"])
                    if event["problems"]:
                        run.problems[event["i"]] = event["problems"]
                    current = event["i"] + 1
                elif "end" in event:
                    run.live_counts.append((event["live_start"], event["live_end"]))
                    finished = True
            process.wait(timeout=CASE_TIMEOUT_S)
            stderr_reader.join(timeout=10)
            if finished:
                assert process.returncode == 0, "".join(stderr)
                return run
            assert run.total is not None, f"the worker did not start ({how}):\n{''.join(stderr)[-3000:]}"
            run.crashes.append((current, f"{how}; stderr: {''.join(stderr)[-500:]}"))
            start = current + 1
            if stop is None and start >= run.total:
                return run
    return run


def describe(cases, index: int) -> str:
    return cases[index].describe() if index < len(cases) else f"case {index}"


def test_every_misuse_fails_cleanly_and_nothing_crashes():
    """Each case: alive, sentinel iff a message naming the function, the right error kind,
    the stale error cleared on success, and no handle leaked or lost."""
    cases = misuse_worker.build_cases()
    run = run_cases()
    print(f"\nmisuse: {run.total} cases over {len(SIGNATURES)} exports, {len(run.crashes)} crashes, "
          f"{len(run.problems)} cases with problems")
    assert run.total == len(cases), "the worker and the test built different cases"
    crashes = [f"{describe(cases, i)}: {how}" for i, how in run.crashes]
    problems = [f"{describe(cases, i)}: {'; '.join(found)}" for i, found in sorted(run.problems.items())]
    assert not crashes, f"{len(crashes)} crashes:\n" + "\n".join(crashes[:20])
    assert not problems, f"{len(problems)} cases went wrong:\n" + "\n".join(problems[:40])
    assert run.reported == list(range(len(cases)))
    assert run.live_counts and all(start == end for start, end in run.live_counts), run.live_counts


def test_every_export_is_misused():
    """Each export is called, and each one with arguments gets bad values; the header names
    the parameters of each, so none falls back to the generic values."""
    cases = misuse_worker.build_cases()
    called = {case.function for case in cases}
    misused = {case.function for case in cases if misuse_worker.expectation(case)[0] == "error"}
    assert called == set(SIGNATURES)
    with_arguments = {name for name, (_, argtypes, _) in SIGNATURES.items() if argtypes}
    without_cuda = misuse_worker.NEEDS_CUDA if misuse_worker.GPUS == 0 else set()  # they fail whatever the arguments
    assert misused == (with_arguments | without_cuda) - misuse_worker.UNCHECKABLE - misuse_worker.NO_BAD_VALUES
    for name, (_, argtypes, _) in SIGNATURES.items():
        assert len(misuse_worker.HEADER[name][1]) == len(argtypes), f"{name}: the header and the ctypes table disagree"


def test_handle_kinds_are_all_misused_both_ways():
    """Once streams exist, a stream goes where a tensor is expected and a tensor where a stream is;
    once stores exist, so do stores, process groups and works, each where the others go."""
    labels = {value.label for case in misuse_worker.build_cases() for value in case.values}
    assert {"NULL", "freed tensor", "0xdeadbeef", "0xffffffffffffffff"} <= labels
    if "rt_torch_stream_create" in SIGNATURES:
        assert {"a stream", "a tensor", "freed stream"} <= labels
    if misuse_worker.HAS_DISTRIBUTED:
        slots = [[value.label for value in slot] for name in SIGNATURES
                 for slot in misuse_worker.arguments(name, misuse_worker.GPUS)]
        kinds = ("store", "process group", "work", "tensor")
        for kind in kinds:  # each in a slot of each other kind
            for other in kinds:
                if other != kind:
                    assert any(slot[0] == kind and f"a {other}" in slot for slot in slots), (other, kind)
        assert {"freed store", "freed process group", "freed work"} <= labels


def test_the_generic_entry_gets_every_tag_at_every_argument_type():
    """rt_torch_op_call: each kind of schema argument in misuse_worker.sites() is given a value
    of every tag (and unknown tags), and bad handles go inside Tensor lists too."""
    labels = {value.label for case in misuse_worker.build_cases() if case.function == "rt_torch_op_call"
              for value in case.values}
    for site in misuse_worker.sites():
        for tag in [*misuse_worker.TAG_NAMES, *misuse_worker.UNKNOWN_TAGS]:
            label = f"{site.op[0]}.{site.op[1] or 'default'}: {site.type} as {misuse_worker.tag_label(tag)}"
            assert label in labels, label
    for bad in ("NULL", "freed tensor", "0xdeadbeef", "a stream"):
        assert f"cat([t, {bad}])" in labels


def test_a_crash_is_counted_and_the_run_goes_on():
    """The harness itself: a worker that segfaults on case 2 costs that case only."""
    run = run_cases(stop=6, crash_at=2)
    assert [i for i, _ in run.crashes] == [2]
    assert "exit status -11" in run.crashes[0][1]
    assert run.reported == [0, 1, 3, 4, 5] and not run.problems
