"""st.distributed: real multi-process Gloo jobs on 127.0.0.1.

Each job starts its ranks as `python tests/distributed/worker.py SCENARIO ARGS` (separate
processes, so the library's handles there are not this process's); every rank prints its results
as JSON and the test compares them with NumPy's answers, computed here from the same deterministic
inputs. Every wait is bounded: groups time out in a few seconds and every child is killed in a
finally block if it is still running.

The one known limitation is marked: test_LIMITATION_..., a strict xfail with the reason.
"""

import contextlib
import importlib.util
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import simple_torch as st
import simple_torch.distributed as dist
from helpers import child_environment, free_port

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "distributed" / "worker.py"
SHAPES = [(5,), (3, 4)]
DTYPES = ["float32", "float64", "int64"]
JOB_TIMEOUT = 90  # seconds for a whole job; a working job takes a few
MISMATCH = "Detected mismatch between collectives on ranks"


def value(rank, shape, dtype):
    """Rank `rank`'s input, as the worker makes it: arange * (rank + 1) + rank."""
    n = int(np.prod(shape))
    return (np.arange(n) * (rank + 1) + rank).reshape(shape).astype(dtype)


def child_env(**changes):
    """This process's environment for a rank: relative paths made absolute, loopback only, and
    none of the rendezvous variables a developer's shell may have set."""
    env = child_environment()
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCH_DISTRIBUTED_DEBUG",
                 "TORCHELASTIC_USE_AGENT_STORE"):
        env.pop(name, None)
    env.update(GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.update({name: str(v) for name, v in changes.items()})
    return env


class Rank:
    """One running worker; stdout and stderr go to files (no pipe can fill up and block it)."""

    def __init__(self, folder, name, scenario, args, env):
        self.name = name
        self.out_path, self.err_path = folder / f"{name}.out", folder / f"{name}.err"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([sys.executable, str(WORKER), scenario, json.dumps(args)], cwd=ROOT, env=env,
                                         stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    def text(self):
        return (f"--- {self.name} (exit {self.proc.returncode}) stdout:\n{self.out_path.read_text()}"
                f"--- stderr:\n{self.err_path.read_text()[-6000:]}")

    def lines(self):
        return self.out_path.read_text().splitlines()

    def result(self):
        found = [line[len("RESULT "):] for line in self.lines() if line.startswith("RESULT ")]
        assert len(found) == 1, f"{self.name} reported no result\n{self.text()}"
        return json.loads(found[0])


@contextlib.contextmanager
def job(folder):
    """Yields start(name, scenario, args, **env) -> Rank; kills any rank still running at the end."""
    ranks = []

    def start(name, scenario, args, **env):
        rank = Rank(folder, name, scenario, args, child_env(**env))
        ranks.append(rank)
        return rank

    try:
        yield start
    finally:
        for rank in ranks:
            if rank.proc.poll() is None:
                rank.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                rank.proc.wait(timeout=10)


def finish(ranks, timeout=JOB_TIMEOUT, codes=None):
    """Waits (bounded) for every rank; asserts each exits with its code (0 unless `codes` says
    otherwise) and returns their results (None for ranks expected to fail)."""
    deadline = time.monotonic() + timeout
    for rank in ranks:
        try:
            rank.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(f"{rank.name} still running after {timeout} s: a hang\n" +
                        "\n".join(r.text() for r in ranks))
    codes = codes or {}
    for rank in ranks:
        expected = codes.get(rank.name, 0)
        assert rank.proc.returncode == expected, "\n".join(r.text() for r in ranks)
    return [rank.result() if codes.get(rank.name, 0) == 0 else None for rank in ranks]


def same(got, expected):
    got = np.array(got, dtype=expected.dtype)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)
    else:
        np.testing.assert_array_equal(got, expected)


def reduced(arrays, op):
    stack = np.stack(arrays)
    dtype = stack.dtype
    return {
        "SUM": lambda: stack.sum(0),
        "AVG": lambda: stack.sum(0) / len(arrays),
        "PRODUCT": lambda: stack.prod(0),
        "MIN": lambda: stack.min(0),
        "MAX": lambda: stack.max(0),
        "BAND": lambda: np.bitwise_and.reduce(stack, axis=0),
        "BOR": lambda: np.bitwise_or.reduce(stack, axis=0),
        "BXOR": lambda: np.bitwise_xor.reduce(stack, axis=0),
    }[op]().astype(dtype)


# ---- 1. every collective, on 2 and 4 ranks ------------------------------------------------------------


def check_collectives(outs, world):
    for rank, out in enumerate(outs):
        assert (out["rank"], out["world"], out["backend"], out["initialized"]) == (rank, world, "gloo", True)
        assert out["initialized_after"] is False and out["barriers"] is True
        res = out["results"]
        for dname in DTYPES:
            for shape in SHAPES:
                key, rest = f"{dname}{list(shape)}", tuple(shape[1:])
                inputs = [value(q, shape, dname) for q in range(world)]
                ops = ["SUM", "MIN", "MAX", "PRODUCT"] + (["AVG"] if dname != "int64" else ["BAND", "BOR", "BXOR"])
                for op in ops:
                    got_dtype, got = res[f"all_reduce/{op}/{key}"]
                    assert got_dtype == dname, (op, key)
                    same(got, reduced(inputs, op))
                for op in ("SUM", "MAX"):
                    if rank == 1:  # only dst's result is defined
                        same(res[f"reduce/{op}/{key}"], reduced(inputs, op))
                same(res[f"broadcast/{key}"], inputs[world - 1])
                same(res[f"all_gather/{key}"], np.stack(inputs))
                same(res[f"all_gather_into_tensor/concat/{key}"], np.concatenate(inputs))
                # torch's Gloo refuses a stacked output too ("invalid tensor size"); the group lives on.
                stacked = res[f"all_gather_into_tensor/stack/{key}"]
                assert isinstance(stacked, dict) and "invalid tensor size" in stacked["message"], stacked
                big = [value(q, (world * shape[0],) + rest, dname) for q in range(world)]
                for op in ["SUM", "MAX"] + (["AVG"] if dname != "int64" else []):
                    same(res[f"reduce_scatter_tensor/{op}/{key}"],
                         np.split(reduced(big, op), world)[rank])
                s0 = shape[0]
                same(res[f"all_to_all_single/even/{key}"],
                     np.concatenate([big[q][rank * s0:(rank + 1) * s0] for q in range(world)]))
                pieces = []
                for q in range(world):
                    splits = [(q + j) % 3 + 1 for j in range(world)]
                    source = value(q, (sum(splits),) + rest, dname)
                    offset = sum(splits[:rank])
                    pieces.append(source[offset:offset + splits[rank]])
                same(res[f"all_to_all_single/uneven/{key}"], np.concatenate(pieces))
        # async_op=True
        assert out["async"] == {"wait": True, "completed": True, "all_gather_wait": True,
                                "all_gather_completed": True, "barrier_wait": True, "barrier_completed": True}
        same(res["async/all_reduce"], reduced([value(q, (3, 4), "float32") for q in range(world)], "SUM"))
        same(res["async/broadcast"], value(0, (5,), "int64"))
        same(res["async/all_gather"], np.stack([value(q, (5,), "float64") for q in range(world)]))
        # point to point
        for dname in DTYPES:
            sender, got, sent_completed = res[f"ring/{dname}"]
            assert sender == (rank - 1) % world and sent_completed is True
            same(got, value((rank - 1) % world, (3, 4), dname))
        if rank == 1:
            sender, got = res["send_recv/from0"]
            assert sender == 0
            same(got, value(0, (5,), "float64"))
            completed, got = res["irecv"]
            assert completed is True
            same(got, value(world - 1 if world > 2 else 0, (4,), "int64"))
        if rank == 0:
            got = sorted(res["recv_any"])
            assert [sender for sender, _ in got] == list(range(1, world)), got
            for sender, values in got:
                same(values, value(sender, (5,), "float32"))
        if world == 4:
            info = out["new_group"]
            if rank in (0, 2):
                assert info["non_member"] is False and info["ranks"] == [0, 2]
                assert (info["rank"], info["size"]) == (rank // 2, 2)
                same(info["all_reduce"], value(0, (3, 4), "float32") + value(2, (3, 4), "float32"))
                same(info["broadcast"], value(2, (5,), "int64"))
                same(info["async_max"], np.maximum(value(0, (5,), "float64"), value(2, (5,), "float64")))
                if rank == 0:
                    sender, got = info["recv_any"]
                    assert sender == 2, "recv in a group returns the sender's global rank"
                    same(got, value(2, (5,), "float32"))
            else:
                assert info["non_member"] is True
                assert (info["rank"], info["size"]) == (-1, -1)
                assert info["outside_returns"] == "None" and info["outside_warned"] == 1
                assert (info["outside_recv"], info["outside_send"]) == (-1, "None"), "send/recv outside: nothing, as torch"
                same(info["outside_unchanged"], value(rank, (5,), "float32"))
            same(res["after_new_group/all_reduce"], reduced([value(q, (5,), "float32") for q in range(world)], "SUM"))


def run_collectives(folder, world, how, **env):
    port = free_port()
    with job(folder) as start:
        ranks = []
        for rank in range(world):
            args = {"init": how, "rank": rank, "world": world, "port": port, "timeout": 20}
            rendezvous = {"RANK": rank, "WORLD_SIZE": world, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port} \
                if how == "env" else {}
            ranks.append(start(f"rank{rank}", "collectives", args, **rendezvous, **env))
        return finish(ranks)


@pytest.fixture(scope="module")
def four_ranks(tmp_path_factory):
    """The four-rank job (tcp://, checked groups), run once for the tests that read it."""
    return run_collectives(tmp_path_factory.mktemp("four_ranks"), 4, "tcp")


def test_every_collective_on_two_ranks(tmp_path):
    """env:// (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) on checked groups (the default)."""
    outs = run_collectives(tmp_path, 2, "env")
    check_collectives(outs, 2)
    for out in outs:  # two ranks: every point-to-point operation has its peer, so the counts match
        same(out["results"]["after_unbalanced_p2p"], value(0, (5,), "float32") + value(1, (5,), "float32"))


def test_every_collective_on_four_ranks(four_ranks):
    """tcp:// on four checked groups, with new_group([0, 2])."""
    check_collectives(four_ranks, 4)


def test_every_collective_unchecked(tmp_path):
    """TORCH_DISTRIBUTED_DEBUG=OFF: the same collectives on plain (unchecked) groups."""
    outs = run_collectives(tmp_path, 2, "tcp", TORCH_DISTRIBUTED_DEBUG="OFF")
    check_collectives(outs, 2)


@pytest.mark.xfail(strict=True, reason=(
    "KNOWN LIMITATION (README): on a checked group (the default, TORCH_DISTRIBUTED_DEBUG unset) Gloo counts "
    "send/recv in the group's sequence number and the check compares it, so a valid program whose ranks "
    "did different numbers of point-to-point operations (rank 0 recv()s from each other rank) fails its "
    "next collective with a false 'Detected mismatch ... Sequence number'. PyTorch does the same under "
    "DETAIL, but its default is OFF, where the program works."))
def test_LIMITATION_a_collective_after_unbalanced_point_to_point_operations(four_ranks):
    total = reduced([value(q, (5,), "float32") for q in range(4)], "SUM")
    for out in four_ranks:
        got = out["results"]["after_unbalanced_p2p"]
        assert not isinstance(got, dict), got["message"][:400]
        same(got, total)


# ---- 2. file:// init and the store API -----------------------------------------------------------------


def test_file_init_and_the_store_api(tmp_path):
    store_port = free_port()
    with job(tmp_path) as start:
        ranks = [start(f"rank{rank}", "store",
                       {"init": "file", "rank": rank, "world": 2, "path": str(tmp_path / "rendezvous"),
                        "store_port": store_port, "store_path": str(tmp_path / "filestore"), "timeout": 10})
                 for rank in range(2)]
        outs = finish(ranks)
    total = value(0, (5,), "float64") + value(1, (5,), "float64")
    for rank, out in enumerate(outs):
        assert (out["rank"], out["world"]) == (rank, 2)
        same(out["file_all_reduce"], total)
        same(out["store_all_reduce"], np.maximum(value(0, (3, 4), "int64"), value(1, (3, 4), "int64")))
        for kind in ("tcp", "file"):
            r = out[kind]
            assert r["get_other"] == (b"\x00\xff bytes" if rank == 0 else b"hello 0").hex(), kind
            assert r["add"] in ({1, 3} if rank == 0 else {2, 3}) and r["counter"] == 3, (kind, r)
            assert (r["check_both"], r["check_missing"]) == (True, False), kind
            assert r["prefix_get"] == ["A", "B"] and r["prefix_raw"] == "A" and r["nested_raw"] == "C", (kind, r)
            assert (r["prefix_plain_unset"], r["prefix_sees_outside"]) == (False, False), (kind, r)
            assert r["prefix_add"] in (10, 20), (kind, r)  # a/counter: 10 per rank, not counter's 3
            for what in ("wait_timeout", "get_timeout"):
                assert r[what] is not None and "DistError" in r[what]["mro"], (kind, what, r[what])
                assert r[what + "_s"] < 5, (kind, what, r[what + "_s"])
            # torch's FileStore.delete_key returns True whether or not the key existed; TCPStore's says.
            deleted = (True, False, False) if kind == "tcp" else (True, True, True)
            assert (r["delete_own"], r["delete_again"], r["delete_never_set"]) == deleted, (kind, r)
            assert r["check_after_delete"] == [False, False], (kind, r)
            assert r["port"] == (store_port if kind == "tcp" else -1), (kind, r)
    assert outs[0]["port0_chosen"] > 0 and outs[0]["port0_get"] == "v"


# ---- 3. a job with PyTorch ranks ---------------------------------------------------------------------------


def needs_torch():
    if importlib.util.find_spec("torch") is None:
        pytest.skip("PyTorch is not installed")


@pytest.mark.parametrize("st_rank, debug", [(0, "DETAIL"), (1, "DETAIL"), (0, "OFF"), (1, "OFF")])
def test_a_job_mixing_simple_torch_and_pytorch(tmp_path, st_rank, debug):
    """One st rank and one torch rank in the same job; under DETAIL both check every collective
    (a shape mismatch is caught on both sides), under OFF neither does. With st as rank 1, torch's
    rank 0 serves the store (a TCPStore made with wait_for_workers=False and given as store=, under
    torch's "default_pg" prefix) and the st rank joins through tcp://."""
    needs_torch()
    port = free_port()
    mismatch = debug == "DETAIL"
    with job(tmp_path) as start:
        ranks = [start(f"rank{rank}-{'st' if rank == st_rank else 'torch'}", "mixed",
                       {"lib": "st" if rank == st_rank else "torch", "rank": rank, "port": port, "mismatch": mismatch,
                        "store_init": rank == 0 != st_rank, "default_pg_prefix": True},
                       TORCH_DISTRIBUTED_DEBUG=debug) for rank in range(2)]
        outs = finish(ranks)
    for rank, out in enumerate(outs):
        assert (out["rank"], out["world"], out["lib"]) == (rank, 2, "st" if rank == st_rank else "torch")
        for dname in DTYPES:
            inputs = [value(q, (3, 4), dname) for q in range(2)]
            same(out[f"all_reduce/SUM/{dname}"], reduced(inputs, "SUM"))
            same(out[f"all_reduce/MAX/{dname}"], reduced(inputs, "MAX"))
            for src in (0, 1):
                same(out[f"broadcast/{src}/{dname}"], value(src, (5,), dname))
            same(out[f"all_gather/{dname}"], np.stack(inputs))
        if mismatch:
            assert out["mismatch"] is not None and MISMATCH in out["mismatch"]["message"], out["mismatch"]
            assert out["mismatch_s"] < 10
            same(out["after_mismatch"], value(0, (5,), "float32") + value(1, (5,), "float32"))


def test_an_st_rank_joins_a_store_served_by_torch(tmp_path):
    """torch's rank 0 serves the store as its rendezvous makes it (waiting for every client to
    check in), and the st rank joins through tcp://."""
    needs_torch()
    port = free_port()
    with job(tmp_path) as start:
        ranks = [start("rank0-torch", "mixed", {"lib": "torch", "rank": 0, "port": port, "timeout": 4},
                       TORCH_DISTRIBUTED_DEBUG="DETAIL"),
                 start("rank1-st", "mixed", {"lib": "st", "rank": 1, "port": port, "timeout": 4},
                       TORCH_DISTRIBUTED_DEBUG="DETAIL")]
        outs = finish(ranks, timeout=60)
    assert [out["lib"] for out in outs] == ["torch", "st"]


def test_init_with_a_store_meets_pytorch_ranks(tmp_path):
    """Ranks that pass store= put the job's keys straight into it, in st as in torch."""
    needs_torch()
    port = free_port()
    with job(tmp_path) as start:
        ranks = [start("rank0-st", "mixed", {"lib": "st", "rank": 0, "port": port, "timeout": 4, "store_init": True},
                       TORCH_DISTRIBUTED_DEBUG="DETAIL"),
                 start("rank1-torch", "mixed", {"lib": "torch", "rank": 1, "port": port, "timeout": 4,
                                                "store_init": True}, TORCH_DISTRIBUTED_DEBUG="DETAIL")]
        outs = finish(ranks, timeout=60)
    assert [out["lib"] for out in outs] == ["st", "torch"]


# ---- 4. errors -----------------------------------------------------------------------------------------------


def test_errors_before_any_rendezvous(monkeypatch):
    """Errors raised before any store or group exists (so in this process: nothing to leak)."""
    assert not dist.is_initialized()
    with pytest.raises(dist.DistError, match="Default process group has not been initialized"):
        dist.all_reduce(st.ones(3))
    with pytest.raises(dist.DistError, match="Default process group has not been initialized"):
        dist.barrier()
    assert issubclass(dist.DistError, RuntimeError)
    port = free_port()
    with pytest.raises(ValueError, match="rank 2 is not in a world of size 2"):
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=2, world_size=2, timeout=5)
    with pytest.raises(ValueError, match="rank -1 is not in a world of size 2|needs rank and world_size"):
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", world_size=2, timeout=5)
    with pytest.raises(ValueError, match="unknown init_method 'http://127.0.0.1:1'"):
        dist.init_process_group("gloo", init_method="http://127.0.0.1:1", rank=0, world_size=1, timeout=5)
    with pytest.raises(ValueError, match="unknown backend 'mpi'"):
        dist.init_process_group("mpi", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1, timeout=5)
    with pytest.raises(ValueError, match="timeout must be positive"):
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1, timeout=0)
    for name in ("RANK", "WORLD_SIZE", "MASTER_PORT"):
        monkeypatch.setenv(name, {"RANK": "0", "WORLD_SIZE": "1", "MASTER_PORT": str(port)}[name])
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ValueError, match="environment variable MASTER_ADDR expected, but not set"):
        dist.init_process_group("gloo", timeout=5)
    with pytest.raises(ValueError, match="environment variable MASTER_ADDR expected, but not set"):
        dist.init_process_group("gloo", init_method="env://", timeout=5)
    assert not dist.is_initialized()


def test_one_rank_job_errors_and_handles(tmp_path):
    """world_size=1: errors that need a live process (port in use, init twice, a freed tensor), and
    no store, group or work handle outlives destroy_process_group (nor a dropped async Work)."""
    with job(tmp_path) as start:
        [out] = finish([start("rank0", "single", {"path": str(tmp_path / "rendezvous")})])
    assert out["initialized_before"] is False
    for what in ("before_init", "before_init_get_rank"):
        assert out[what]["type"] == "DistError", out[what]
        assert "Default process group has not been initialized" in out[what]["message"]
    busy = out["port_in_use"]
    assert busy is not None and "DistError" in busy["mro"], busy
    assert "address already in use" in busy["message"].lower() and str(out["busy_port"]) in busy["message"], busy
    assert out["port_in_use_s"] < 15
    assert out["initialized_after_port_in_use"] is False
    assert out["handles_after_failed_init"] == out["base"], "a failed init left handles behind"
    assert out["rank_world"] == [0, 1]
    assert out["init_twice"]["type"] == "DistError" and "twice" in out["init_twice"]["message"], out["init_twice"]
    freed = out["freed_tensor"]
    assert freed is not None and freed["type"] == "FreedTensorError" and "already freed" in freed["message"], freed
    before, after = out["handles_async_dropped"]
    assert after == before, "dropping an async Work leaked its handle"
    assert out["async_wait"] == [True, True]
    same(out["all_reduce"], value(0, (3, 4), "float32"))
    same(out["all_gather"], value(0, (3, 4), "float32"))
    assert out["initialized_after_destroy"] is False
    assert out["handles_after_destroy"] == out["base"], "destroy_process_group left store/group handles"
    assert out["second_job"] == [1, 1, 1, 1]
    assert out["handles_after_second_job"] == out["base"]


@pytest.fixture(scope="module")
def mismatch_job(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mismatch")
    port = free_port()
    with job(folder) as start:
        ranks = [start(f"rank{rank}", "mismatch", {"init": "tcp", "rank": rank, "world": 2, "port": port,
                                                   "timeout": 10}) for rank in range(2)]
        return finish(ranks)


def test_mismatched_collectives_raise_on_every_rank(mismatch_job):
    """Checked groups (the default): shapes, dtypes or collectives that differ across ranks raise
    at once on both ranks, the group stays usable, and the job ends cleanly; so do the reductions
    Gloo refuses (BAND on floats, AVG on integers)."""
    for rank, out in enumerate(mismatch_job):
        for what in ("shape", "dtype", "op_type"):
            error = out[what]
            assert error is not None and error["type"] == "DistError", (rank, what, error)
            assert MISMATCH in error["message"], (rank, what, error["message"])
            assert out[what + "_s"] < 5, (rank, what, out[what + "_s"])
        assert "TensorShape=[5]" in out["shape"]["message"] and "TensorShape=[6]" in out["shape"]["message"]
        assert "Float" in out["dtype"]["message"] and "Double" in out["dtype"]["message"], out["dtype"]
        assert "ALLREDUCE" in out["op_type"]["message"] and "BROADCAST" in out["op_type"]["message"], out["op_type"]
        assert out["after"] == [3.0] * 4
        assert "DistError" in out["band_float"]["mro"], out["band_float"]
        assert "Cannot use ReduceOp.BAND with non-integral dtype" in out["band_float"]["message"], out["band_float"]
        assert "DistError" in out["avg_int"]["mro"], out["avg_int"]
        for what in ("band_float", "avg_int"):
            assert out[what + "_s"] < 8, (what, out[what + "_s"])  # bounded (see the BUG test below)
        assert out["after2"] == [2] * 4
        assert out["initialized_after"] is False


def test_an_argument_error_from_gloo_is_raised_at_once(mismatch_job):
    """ReduceOp.BAND on floats, AVG on integers: Gloo's own error, at once (no peer was lost)."""
    for out in mismatch_job:
        for what in ("band_float", "avg_int"):
            assert out[what + "_s"] < 1, (what, out[what + "_s"], out[what]["message"])


# ---- 5. faults ------------------------------------------------------------------------------------------------


FAULT_TIMEOUT = 5  # the group timeout of the fault jobs, in seconds
SLACK = 6  # how much later than the timeout an error may come


@pytest.fixture(scope="module")
def no_join_job(tmp_path_factory):
    """Ranks 0 and 1 of a world of 3 whose rank 2 never starts."""
    folder = tmp_path_factory.mktemp("no_join")
    port = free_port()
    with job(folder) as start:
        ranks = [start(f"rank{rank}", "no_join", {"init": "tcp", "rank": rank, "world": 3, "port": port,
                                                  "timeout": FAULT_TIMEOUT}) for rank in range(2)]
        return finish(ranks, timeout=FAULT_TIMEOUT + 30)


def test_a_rank_that_never_joins_is_named(no_join_job):
    """Both ranks raise DistError within the timeout and leave cleanly; rank 0 (which serves the
    store) names rank 2."""
    for rank, out in enumerate(no_join_job):
        error = out["error"]
        assert error is not None and error["type"] == "DistError", (rank, error)
        assert f"{FAULT_TIMEOUT}000ms" in error["message"] or f"{FAULT_TIMEOUT} s" in error["message"], error
        assert out["elapsed"] < FAULT_TIMEOUT + SLACK, (rank, out["elapsed"])
        assert out["initialized"] is False and out["destroy_s"] < 5
    message = no_join_job[0]["error"]["message"]
    assert f"rank 2 did not join within the timeout of {FAULT_TIMEOUT} s" in message, message


def test_every_rank_names_the_rank_that_never_joined(no_join_job):
    message = no_join_job[1]["error"]["message"]
    assert f"rank 2 did not join within the timeout of {FAULT_TIMEOUT} s" in message, message


def run_with_a_dying_rank(tmp_path, victim, how, debug):
    """Three ranks loop all_reduce; `victim` dies abruptly after 15 iterations. The survivors must
    raise DistError within the group timeout (plus slack) and then leave the job and exit 0.
    Returns the survivors' messages."""
    port = free_port()
    world = 3
    env = {} if debug is None else {"TORCH_DISTRIBUTED_DEBUG": debug}
    with job(tmp_path) as start:
        ranks = [start(f"rank{rank}", "die", {"init": "tcp", "rank": rank, "world": world, "port": port,
                                              "timeout": FAULT_TIMEOUT, "victim": victim, "iters": 15, "how": how},
                       **env)
                 for rank in range(world)]
        outs = finish(ranks, timeout=FAULT_TIMEOUT + 60, codes={f"rank{victim}": 1 if how == "exit" else -9})
        died_at = json.loads(ranks[victim].lines()[0])["died_at"]
        texts = "\n".join(r.text() for r in ranks)
    survivors = [out for out in outs if out is not None]
    assert len(survivors) == world - 1
    for out in survivors:
        error = out["error"]
        assert error is not None and error["type"] == "DistError", (out, texts)
        assert out["iterations"] >= 15 - 1, out  # it failed after the victim died, not before
        assert out["call_s"] < FAULT_TIMEOUT + SLACK, out
        assert out["error_at"] - died_at < FAULT_TIMEOUT + SLACK, (out, died_at)
        assert out["destroy_s"] < 5 and out["initialized_after"] is False, out
    messages = [out["error"]["message"] for out in survivors]
    assert any(re.search(rf"\b[Rr]anks? {victim}\b", m) for m in messages), messages
    return messages


def diagnosed(messages, words):
    """The library's own diagnosis: every message gives the group timeout, one names the lost rank."""
    assert all(f"(group timeout {FAULT_TIMEOUT} s" in m for m in messages), messages
    assert any(words in m for m in messages), messages


@pytest.mark.parametrize("debug", [pytest.param(None, id="checked"), "OFF"])
def test_a_rank_killed_mid_run_is_named(tmp_path, debug):
    """Rank 2 of 3 SIGKILLs itself between all_reduces: ranks 0 and 1 raise within the timeout,
    naming rank 2, then leave the job and exit 0."""
    messages = run_with_a_dying_rank(tmp_path, victim=2, how="kill", debug=debug)
    diagnosed(messages, "rank 2 stopped responding")


@pytest.mark.parametrize("debug", [pytest.param(None, id="checked"), "OFF"])
def test_the_store_serving_rank_dying_mid_run(tmp_path, debug):
    """Rank 0 (which serves the TCPStore) exits abruptly: ranks 1 and 2 raise within the timeout,
    naming rank 0, and exit 0."""
    messages = run_with_a_dying_rank(tmp_path, victim=0, how="exit", debug=debug)
    diagnosed(messages, "the store served by rank 0 is unreachable: rank 0 stopped")
