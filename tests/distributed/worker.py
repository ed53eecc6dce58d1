"""One rank of a multi-process job for tests/test_distributed.py.

Usage: python tests/distributed/worker.py SCENARIO 'JSON-ARGUMENTS'

Each scenario runs one rank and prints its results as one line "RESULT <json>" on stdout; the
test compares them with NumPy's answers in the parent. Anything unexpected raises (exit 1 with a
traceback on stderr). Every group and store wait is bounded by the small timeout the test passes.
"""

import datetime
import gc
import json
import os
import signal
import socket
import sys
import time
import warnings

import numpy as np

SHAPES = [(5,), (3, 4)]
DTYPES = ["float32", "float64", "int64"]


def value(rank, shape, dtype):
    """Rank `rank`'s deterministic input: arange * (rank + 1) + rank, as the test computes it."""
    n = int(np.prod(shape))
    return (np.arange(n) * (rank + 1) + rank).reshape(shape).astype(dtype)


def report(result):
    print("RESULT " + json.dumps(result), flush=True)


def error_text(error):
    return {"type": type(error).__name__, "mro": [k.__name__ for k in type(error).__mro__], "message": str(error)}


def init(dist, args, timeout=None):
    """init_process_group as args["init"] says: "env" (RANK etc. from the environment), "tcp" or "file"."""
    timeout = datetime.timedelta(seconds=args.get("timeout", 10)) if timeout is None else timeout
    how = args["init"]
    if how == "env":
        dist.init_process_group("gloo", timeout=timeout)
    elif how == "tcp":
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args['port']}", rank=args["rank"],
                                world_size=args["world"], timeout=timeout)
    elif how == "file":
        dist.init_process_group("gloo", init_method=f"file://{args['path']}", rank=args["rank"],
                                world_size=args["world"], timeout=timeout)
    else:
        raise ValueError(how)


# ---- every collective -----------------------------------------------------------------------------


def collectives(args):
    import simple_torch as st
    import simple_torch.distributed as dist

    init(dist, args)
    rank, world = dist.get_rank(), dist.get_world_size()
    ReduceOp = dist.ReduceOp

    def mk(r, shape, dtype):
        return st.from_numpy(value(r, shape, dtype))

    res = {}
    out = {"rank": rank, "world": world, "backend": dist.get_backend(), "initialized": dist.is_initialized(),
           "results": res}
    for dname in DTYPES:
        dtype = getattr(st, dname)
        floating = dname != "int64"
        for shape in SHAPES:
            key = f"{dname}{list(shape)}"
            rest = tuple(shape[1:])
            ops = ["SUM", "MIN", "MAX", "PRODUCT"] + (["AVG"] if floating else ["BAND", "BOR", "BXOR"])
            for op in ops:
                t = mk(rank, shape, dname)
                assert dist.all_reduce(t, op=ReduceOp[op]) is None
                res[f"all_reduce/{op}/{key}"] = [t.dtype.name, t.tolist()]
            for op in ("SUM", "MAX"):
                t = mk(rank, shape, dname)
                dist.reduce(t, dst=1, op=ReduceOp[op])
                res[f"reduce/{op}/{key}"] = t.tolist()
            t = mk(rank, shape, dname)
            dist.broadcast(t, src=world - 1)
            res[f"broadcast/{key}"] = t.tolist()
            parts = [st.empty(shape, dtype=dtype) for _ in range(world)]
            dist.all_gather(parts, mk(rank, shape, dname))
            res[f"all_gather/{key}"] = [p.tolist() for p in parts]
            flat = st.empty((world * shape[0],) + rest, dtype=dtype)
            dist.all_gather_into_tensor(flat, mk(rank, shape, dname))
            res[f"all_gather_into_tensor/concat/{key}"] = flat.tolist()
            # A stacked output (world, *shape): Gloo refuses it, in torch as here (NCCL takes it).
            stacked = st.empty((world,) + tuple(shape), dtype=dtype)
            try:
                dist.all_gather_into_tensor(stacked, mk(rank, shape, dname))
                res[f"all_gather_into_tensor/stack/{key}"] = stacked.tolist()
            except dist.DistError as error:
                res[f"all_gather_into_tensor/stack/{key}"] = error_text(error)
            for op in ["SUM", "MAX"] + (["AVG"] if floating else []):
                part = st.empty(shape, dtype=dtype)
                dist.reduce_scatter_tensor(part, mk(rank, (world * shape[0],) + rest, dname), op=ReduceOp[op])
                res[f"reduce_scatter_tensor/{op}/{key}"] = part.tolist()
            even = st.empty((world * shape[0],) + rest, dtype=dtype)
            dist.all_to_all_single(even, mk(rank, (world * shape[0],) + rest, dname))
            res[f"all_to_all_single/even/{key}"] = even.tolist()
            # Uneven: rank r sends (r + j) % 3 + 1 rows to rank j.
            in_splits = [(rank + j) % 3 + 1 for j in range(world)]
            out_splits = [(i + rank) % 3 + 1 for i in range(world)]
            uneven = st.empty((sum(out_splits),) + rest, dtype=dtype)
            dist.all_to_all_single(uneven, mk(rank, (sum(in_splits),) + rest, dname), output_split_sizes=out_splits,
                                   input_split_sizes=in_splits)
            res[f"all_to_all_single/uneven/{key}"] = uneven.tolist()

    # async_op=True: Work.wait() and is_completed().
    asyncs = {}
    t = mk(rank, (3, 4), "float32")
    work = dist.all_reduce(t, async_op=True)
    asyncs["wait"] = work.wait()
    asyncs["completed"] = work.is_completed()
    res["async/all_reduce"] = t.tolist()
    t = mk(rank, (5,), "int64")
    work = dist.broadcast(t, src=0, async_op=True)
    work.wait()
    res["async/broadcast"] = t.tolist()
    parts = [st.empty((5,), dtype=st.float64) for _ in range(world)]
    source = mk(rank, (5,), "float64")
    work = dist.all_gather(parts, source, async_op=True)
    asyncs["all_gather_wait"] = work.wait()
    asyncs["all_gather_completed"] = work.is_completed()
    res["async/all_gather"] = [p.tolist() for p in parts]
    work = dist.barrier(async_op=True)
    asyncs["barrier_wait"] = work.wait()
    asyncs["barrier_completed"] = work.is_completed()
    out["async"] = asyncs

    # new_group([0, 2]) on four ranks (every rank calls new_group).
    if world == 4:
        evens = dist.new_group([0, 2])
        info = {"rank": dist.get_rank(evens), "size": dist.get_world_size(evens)}
        if rank in (0, 2):
            info["non_member"] = False
            info["ranks"] = dist.get_process_group_ranks(evens)
            t = mk(rank, (3, 4), "float32")
            dist.all_reduce(t, group=evens)
            info["all_reduce"] = t.tolist()
            t = mk(rank, (5,), "int64")
            dist.broadcast(t, src=2, group=evens)  # global rank 2: group rank 1
            info["broadcast"] = t.tolist()
            t = mk(rank, (5,), "float64")
            work = dist.all_reduce(t, op=ReduceOp.MAX, group=evens, async_op=True)
            work.wait()
            info["async_max"] = t.tolist()
            if rank == 0:
                buf = st.empty((5,), dtype=st.float32)
                info["recv_any"] = [dist.recv(buf, group=evens), buf.tolist()]  # the global rank comes back
            else:
                dist.send(mk(rank, (5,), "float32"), dst=0, group=evens)
        else:
            info["non_member"] = evens is dist.GroupMember.NON_GROUP_MEMBER
            t = mk(rank, (5,), "float32")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                info["outside_returns"] = repr(dist.all_reduce(t, group=evens))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                info["outside_recv"] = dist.recv(t, src=0, group=evens)
                info["outside_send"] = repr(dist.send(t, dst=0, group=evens))
            info["outside_warned"] = len(caught)
            info["outside_unchanged"] = t.tolist()
        out["new_group"] = info
        # The world group is still fine after the subgroup's collectives.
        t = mk(rank, (5,), "float32")
        dist.all_reduce(t)
        res["after_new_group/all_reduce"] = t.tolist()

    dist.barrier()
    dist.monitored_barrier(timeout=datetime.timedelta(seconds=10))
    dist.monitored_barrier(timeout=10, wait_all_ranks=True)
    out["barriers"] = True
    # Point to point, last: a ring of isend/recv, then a blocking send/recv pair, recv from any source
    # and irecv, which leave the ranks with different numbers of point-to-point operations. (Gloo
    # counts those in the group's sequence number, which checked groups compare at the next
    # collective: see after_unbalanced_p2p below.)
    for dname in DTYPES:
        outgoing = mk(rank, (3, 4), dname)
        sent = dist.isend(outgoing, dst=(rank + 1) % world, tag=3)
        incoming = st.empty((3, 4), dtype=getattr(st, dname))
        sender = dist.recv(incoming, src=(rank - 1) % world, tag=3)
        sent.wait()
        res[f"ring/{dname}"] = [sender, incoming.tolist(), sent.is_completed()]
    if rank == 0:
        dist.send(mk(rank, (5,), "float64"), dst=1)
    elif rank == 1:
        buf = st.empty((5,), dtype=st.float64)
        res["send_recv/from0"] = [dist.recv(buf, src=0), buf.tolist()]
    if rank == 0:
        got = []
        for _ in range(world - 1):
            buf = st.empty((5,), dtype=st.float32)
            sender = dist.recv(buf, tag=7)  # any source
            got.append([sender, buf.tolist()])
        res["recv_any"] = got
    else:
        dist.send(mk(rank, (5,), "float32"), dst=0, tag=7)
    # irecv from a given source
    if rank == 1:
        buf = st.empty((4,), dtype=st.int64)
        work = dist.irecv(buf, src=world - 1 if world > 2 else 0, tag=9)
        work.wait()
        res["irecv"] = [work.is_completed(), buf.tolist()]
    elif rank == (world - 1 if world > 2 else 0):
        dist.isend(mk(rank, (4,), "int64"), dst=1, tag=9).wait()

    # A world collective after the unbalanced point-to-point operations above (a valid program).
    t = mk(rank, (5,), "float32")
    try:
        dist.all_reduce(t)
        res["after_unbalanced_p2p"] = t.tolist()
    except dist.DistError as error:
        res["after_unbalanced_p2p"] = error_text(error)
    dist.destroy_process_group()
    out["initialized_after"] = dist.is_initialized()
    report(out)


# ---- file:// init and the store API ----------------------------------------------------------------


def store_checks(store, rank, dist):
    """The store API, run by both ranks of a two-rank job at once on the same store."""
    other = 1 - rank
    r = {}
    store.set(f"from{rank}", "hello 0" if rank == 0 else b"\x00\xff bytes")
    r["get_other"] = store.get(f"from{other}").hex()  # waits for the other rank's set
    r["add"] = store.add("counter", rank + 1)
    store.set(f"added{rank}", "1")
    store.wait([f"added{other}"], datetime.timedelta(seconds=10))
    r["counter"] = store.add("counter", 0)
    r["check_both"] = store.check(["from0", "from1"])
    r["check_missing"] = store.check(["from0", "never-set"])
    # PrefixStore: keys under "a/" and "b/" do not see each other, nor the plain ones.
    a, b = dist.PrefixStore("a", store), dist.PrefixStore("b", store)
    a.set(f"x{rank}", "A")
    b.set(f"x{rank}", "B")
    r["prefix_get"] = [a.get(f"x{other}").decode(), b.get(f"x{other}").decode()]
    r["prefix_raw"] = store.get(f"a/x{rank}").decode()
    r["prefix_plain_unset"] = store.check([f"x{rank}"])
    r["prefix_sees_outside"] = a.check([f"from{rank}"])  # "from<rank>" exists, "a/from<rank>" does not
    r["prefix_add"] = a.add("counter", 10)  # a/counter, not counter
    nested = dist.PrefixStore("c", a)
    nested.set(f"y{rank}", "C")
    r["nested_raw"] = store.get(f"a/c/y{rank}").decode()
    # wait on a key nobody sets: a bounded error.
    start = time.monotonic()
    try:
        store.wait(["never-set"], datetime.timedelta(seconds=0.5))
        r["wait_timeout"] = None
    except Exception as error:  # noqa: BLE001 - the type is what the test checks
        r["wait_timeout"] = error_text(error)
    r["wait_timeout_s"] = time.monotonic() - start
    # get of a missing key after set_timeout: a bounded error.
    short = store.clone()
    short.set_timeout(datetime.timedelta(seconds=0.5))
    start = time.monotonic()
    try:
        short.get("never-set")
        r["get_timeout"] = None
    except Exception as error:  # noqa: BLE001
        r["get_timeout"] = error_text(error)
    r["get_timeout_s"] = time.monotonic() - start
    del short
    # delete_key, once both ranks have read everything above.
    store.set(f"read{rank}", "1")
    store.wait([f"read{other}"], datetime.timedelta(seconds=10))
    r["delete_own"] = store.delete_key(f"from{rank}")
    r["delete_again"] = store.delete_key(f"from{rank}")
    r["delete_never_set"] = store.delete_key("never-set")
    store.set(f"deleted{rank}", "1")
    store.wait([f"deleted{other}"], datetime.timedelta(seconds=10))
    r["check_after_delete"] = [store.check(["from0"]), store.check(["from1"])]
    r["port"] = store.port
    return r


def store_api(args):
    import simple_torch as st
    import simple_torch.distributed as dist

    rank = args["rank"]
    init(dist, args)  # file://
    out = {"rank": dist.get_rank(), "world": dist.get_world_size()}
    t = st.from_numpy(value(rank, (5,), "float64"))
    dist.all_reduce(t)
    out["file_all_reduce"] = t.tolist()
    tcp = dist.TCPStore("127.0.0.1", args["store_port"], 2, is_master=rank == 0,
                        timeout=datetime.timedelta(seconds=10))
    out["tcp"] = store_checks(tcp, rank, dist)
    out["file"] = store_checks(dist.FileStore(args["store_path"], 2), rank, dist)
    dist.barrier()
    dist.destroy_process_group()
    # init_process_group(store=...): a job through an explicit store.
    dist.init_process_group("gloo", store=dist.PrefixStore("job2", tcp), rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=10))
    t = st.from_numpy(value(rank, (3, 4), "int64"))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    out["store_all_reduce"] = t.tolist()
    dist.destroy_process_group()
    if rank == 0:
        chosen = dist.TCPStore("127.0.0.1", 0, 1, is_master=True, timeout=datetime.timedelta(seconds=10))
        out["port0_chosen"] = chosen.port
        chosen.set("k", "v")
        out["port0_get"] = chosen.get("k").decode()
        del chosen
    report(out)


# ---- one rank: errors and handles ------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def single(args):
    import simple_torch as st
    import simple_torch.distributed as dist

    out = {}
    gc.collect()
    base = st.live_handles()
    out["base"] = base

    def attempt(name, call):
        start = time.monotonic()
        try:
            call()
            out[name] = None
        except Exception as error:  # noqa: BLE001 - the test checks type and message
            out[name] = error_text(error)
        out[name + "_s"] = time.monotonic() - start

    # Before init_process_group.
    out["initialized_before"] = dist.is_initialized()
    attempt("before_init", lambda: dist.all_reduce(st.ones(3)))
    attempt("before_init_get_rank", dist.get_rank)
    # A port something already listens on.
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out["busy_port"] = port
        attempt("port_in_use", lambda: dist.init_process_group(
            "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1, timeout=10))
    out["initialized_after_port_in_use"] = dist.is_initialized()
    gc.collect()
    out["handles_after_failed_init"] = st.live_handles()

    # Init on a free port, with world_size 1.
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1,
                            timeout=datetime.timedelta(seconds=10))
    out["rank_world"] = [dist.get_rank(), dist.get_world_size()]
    attempt("init_twice", lambda: dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1, timeout=10))

    def freed():
        t = st.ones(3)
        t.free()
        dist.all_reduce(t)

    attempt("freed_tensor", freed)

    x = st.from_numpy(value(0, (3, 4), "float32"))
    gc.collect()
    before_async = st.live_handles()
    work = dist.all_reduce(x, async_op=True)
    del work  # dropped without wait
    gc.collect()
    out["handles_async_dropped"] = [before_async, st.live_handles()]
    work = dist.all_reduce(x, async_op=True)
    out["async_wait"] = [work.wait(), work.is_completed()]
    del work
    out["all_reduce"] = x.tolist()
    parts = [st.empty((3, 4), dtype=st.float32)]
    dist.all_gather(parts, x)
    out["all_gather"] = parts[0].tolist()
    dist.barrier()
    del x, parts
    gc.collect()
    dist.destroy_process_group()
    gc.collect()
    out["initialized_after_destroy"] = dist.is_initialized()
    out["handles_after_destroy"] = st.live_handles()

    # A second job in the same process, through file://.
    dist.init_process_group("gloo", init_method=f"file://{args['path']}", rank=0, world_size=1, timeout=10)
    y = st.ones(4, dtype=st.int64)
    dist.all_reduce(y, op=dist.ReduceOp.BXOR)
    out["second_job"] = y.tolist()
    del y
    dist.destroy_process_group()
    gc.collect()
    out["handles_after_second_job"] = st.live_handles()
    report(out)


# ---- mismatched collectives -------------------------------------------------------------------------


def mismatch(args):
    import simple_torch as st
    import simple_torch.distributed as dist

    init(dist, args)
    rank = dist.get_rank()
    out = {}

    def attempt(name, call):
        start = time.monotonic()
        try:
            call()
            out[name] = None
        except Exception as error:  # noqa: BLE001
            out[name] = error_text(error)
        out[name + "_s"] = time.monotonic() - start

    attempt("shape", lambda: dist.all_reduce(st.ones(5 if rank == 0 else 6)))
    attempt("dtype", lambda: dist.all_reduce(st.ones(5, dtype=st.float32 if rank == 0 else st.float64)))
    attempt("op_type", lambda: dist.all_reduce(st.ones(5)) if rank == 0 else dist.broadcast(st.ones(5), src=0))
    t = st.ones(4) * (rank + 1)
    dist.all_reduce(t)
    out["after"] = t.tolist()
    attempt("band_float", lambda: dist.all_reduce(st.ones(3), op=dist.ReduceOp.BAND))
    attempt("avg_int", lambda: dist.all_reduce(st.ones(3, dtype=st.int64), op=dist.ReduceOp.AVG))
    t = st.ones(4, dtype=st.int64) * (rank + 1)
    dist.all_reduce(t, op=dist.ReduceOp.PRODUCT)
    out["after2"] = t.tolist()
    dist.destroy_process_group()
    out["initialized_after"] = dist.is_initialized()
    report(out)


# ---- faults ---------------------------------------------------------------------------------------------


def no_join(args):
    """Ranks 0 and 1 of a world of 3 whose rank 2 never starts."""
    import simple_torch.distributed as dist

    out = {}
    start = time.monotonic()
    try:
        init(dist, args)
        out["error"] = None
    except Exception as error:  # noqa: BLE001
        out["error"] = error_text(error)
    out["elapsed"] = time.monotonic() - start
    out["initialized"] = dist.is_initialized()
    start = time.monotonic()
    dist.destroy_process_group()
    out["destroy_s"] = time.monotonic() - start
    report(out)


def die(args):
    """Ranks loop all_reduce; rank args["victim"] kills itself after args["iters"] iterations and the
    others report the error they get, how long the failing call took, and how long destroy took."""
    import simple_torch as st
    import simple_torch.distributed as dist

    init(dist, args)
    rank, world, victim = dist.get_rank(), dist.get_world_size(), args["victim"]
    out = {"rank": rank, "error": None}
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < 60:
        if rank == victim and i == args["iters"]:
            print(json.dumps({"died_at": time.time()}), flush=True)
            if args.get("how") == "exit":
                os._exit(1)
            os.kill(os.getpid(), signal.SIGKILL)
        t = st.ones(1000) * (rank + 1)
        call = time.monotonic()
        try:
            dist.all_reduce(t)
        except Exception as error:  # noqa: BLE001
            out["error"] = error_text(error)
            out["error_at"] = time.time()
            out["call_s"] = time.monotonic() - call
            break
        assert t.tolist()[:3] == [world * (world + 1) / 2] * 3, t.tolist()[:3]
        i += 1
        time.sleep(0.02)
    out["iterations"] = i
    begin = time.monotonic()
    dist.destroy_process_group()
    out["destroy_s"] = time.monotonic() - begin
    out["initialized_after"] = dist.is_initialized()
    report(out)


# ---- a job with PyTorch ranks -------------------------------------------------------------------------


def mixed(args):
    """The same code on a simple_torch rank ("st") and a PyTorch rank ("torch")."""
    if args["lib"] == "torch":
        import torch as L
        import torch.distributed as dist
    else:
        import simple_torch as L
        import simple_torch.distributed as dist
    rank = args["rank"]
    timeout = datetime.timedelta(seconds=args.get("timeout", 10))
    if args.get("store_init"):
        # Both libraries spell it the same: rank 0 serves, without waiting for the clients.
        store = dist.TCPStore("127.0.0.1", args["port"], 2, rank == 0, timeout=timeout, wait_for_workers=False)
        if args.get("default_pg_prefix"):
            # torch.distributed adds the "default_pg" prefix only to the store its rendezvous makes,
            # not to one passed as store=, whereas st adds it to both (see
            # test_BUG_init_with_a_store_meets_pytorch_ranks): given here, the keys meet.
            store = dist.PrefixStore("default_pg", store)
        dist.init_process_group("gloo", store=store, rank=rank, world_size=2, timeout=timeout)
    else:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args['port']}", rank=rank, world_size=2,
                                timeout=timeout)
    out = {"rank": dist.get_rank(), "world": dist.get_world_size(), "lib": args["lib"]}

    def mk(r, shape, dtype):
        return L.tensor(value(r, shape, dtype))

    for dname in DTYPES:
        t = mk(rank, (3, 4), dname)
        dist.all_reduce(t)
        out[f"all_reduce/SUM/{dname}"] = t.tolist()
        t = mk(rank, (3, 4), dname)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        out[f"all_reduce/MAX/{dname}"] = t.tolist()
        for src in (0, 1):
            t = mk(rank, (5,), dname)
            dist.broadcast(t, src=src)
            out[f"broadcast/{src}/{dname}"] = t.tolist()
        parts = [L.zeros((3, 4), dtype=getattr(L, dname)) for _ in range(2)]
        dist.all_gather(parts, mk(rank, (3, 4), dname))
        out[f"all_gather/{dname}"] = [p.tolist() for p in parts]
    dist.barrier()
    if args.get("mismatch"):
        # Under DETAIL both sides check each collective: a shape mismatch is caught on both.
        start = time.monotonic()
        try:
            dist.all_reduce(L.ones(5 if rank == 0 else 6))
            out["mismatch"] = None
        except Exception as error:  # noqa: BLE001
            out["mismatch"] = error_text(error)
        out["mismatch_s"] = time.monotonic() - start
        t = mk(rank, (5,), "float32")
        dist.all_reduce(t)
        out["after_mismatch"] = t.tolist()
    dist.destroy_process_group()
    report(out)


SCENARIOS = {"collectives": collectives, "store": store_api, "single": single, "mismatch": mismatch,
             "no_join": no_join, "die": die, "mixed": mixed}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]](json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
