//! Distributed: PyTorch's c10d engine, as torch.distributed drives it. Stores (`TCPStore`,
//! `FileStore`, `PrefixStore`) for the rendezvous, process groups (Gloo; NCCL on CUDA builds),
//! collectives on tensor handles, and the works they return. The libtorch half is
//! rust/distributed.cpp.
//!
//! A collective writes into its tensors in place (as torch's do) and returns a work at once;
//! `rt_torch_torchwork_wait` says when it is done, or raises its failure. Stores, groups and works
//! are handles like tensors: freed, made-up and wrong-kind handles are errors. Failures of the
//! engine itself (a peer that died, a timeout) have the kind `RT_TORCH_ERROR_DISTRIBUTED`.

use std::ffi::{c_char, CStr, CString};
use std::panic::catch_unwind;
use std::ptr::null_mut;

use crate::abi::autograd::{at, Tensors};
use crate::distributed::{self as c10d, GroupOptions, ProcessGroup, Store, Work};
use crate::error::{guard, Error, Result};
use crate::handles::{
    self, register_process_group, register_store, register_work, TorchProcessGroup, TorchStore, TorchTensor,
    TorchWork,
};

/// A C string argument as UTF-8; NULL is an error unless `optional`.
unsafe fn text<'a>(what: &str, pointer: *const c_char, optional: bool) -> Result<Option<&'a str>> {
    if pointer.is_null() {
        return if optional { Ok(None) } else { Err(Error::argument(format!("{what} is NULL"))) };
    }
    let text = unsafe { CStr::from_ptr(pointer) }.to_str().map_err(|_| Error::argument(format!("{what} is not UTF-8")))?;
    Ok(Some(text))
}

unsafe fn required<'a>(what: &str, pointer: *const c_char) -> Result<&'a str> {
    Ok(unsafe { text(what, pointer, false) }?.unwrap_or_default())
}

/// A rank of `group` (Gloo crashes on a peer past the last rank: it must be checked here).
fn group_rank(group: &ProcessGroup, what: &str, value: i32) -> Result<i32> {
    let size = group.size();
    if !(0..size).contains(&value) {
        return Err(Error::argument(format!("{what} {value} is not a rank of this group of size {size}")));
    }
    Ok(value)
}

// ---- stores ------------------------------------------------------------------------------------

/// A `TCPStore` at `host:port` (torch.distributed's `TCPStore`): with `is_server`, this process
/// also serves it on `port` (0: a free port the OS chooses; `rt_torch_torchstore_port` tells
/// which). A client retries connecting until `timeout_ms`, which is also the store's timeout
/// for later waits. `world_size` (or -1: unknown) is the number of processes that will connect.
/// NULL on error (a port in use, a server that never came up).
///
/// # Safety
/// `host` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_store_tcp(host: *const c_char, port: i32, world_size: i32, is_server: bool, timeout_ms: i64) -> *mut TorchStore {
    guard("rt_torch_store_tcp", null_mut(), || {
        let host = unsafe { required("host", host) }?;
        Ok(register_store(Store::tcp(host, port, world_size, is_server, timeout_ms)?))
    })
}

/// A `FileStore` on `path` (a file on a file system every rank sees), for `world_size`
/// processes (-1: unknown). NULL on error.
///
/// # Safety
/// `path` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_store_file(path: *const c_char, world_size: i32) -> *mut TorchStore {
    guard("rt_torch_store_file", null_mut(), || {
        let path = unsafe { required("path", path) }?;
        Ok(register_store(Store::file(path, world_size)?))
    })
}

/// A new store handle that puts every key under `prefix` in `s` (a `PrefixStore`). NULL on error.
///
/// # Safety
/// `prefix` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchstore_prefix(s: *const TorchStore, prefix: *const c_char) -> *mut TorchStore {
    guard("rt_torch_torchstore_prefix", null_mut(), || {
        let prefix = unsafe { required("prefix", prefix) }?;
        Ok(register_store(handles::store(s)?.prefixed(prefix)?))
    })
}

/// A new handle with its own connection to the same store, for another thread: a TCPStore
/// client runs one request at a time, so a thread waiting for a key would hold up the rest.
#[no_mangle]
pub extern "C" fn rt_torch_torchstore_clone(s: *const TorchStore) -> *mut TorchStore {
    guard("rt_torch_torchstore_clone", null_mut(), || Ok(register_store(handles::store(s)?.clone_connection()?)))
}

/// A TCP store's port; -1 for other stores, -2 on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchstore_port(s: *const TorchStore) -> i32 {
    guard("rt_torch_torchstore_port", -2, || Ok(handles::store(s)?.port()))
}

/// Sets `key` to the `len` bytes at `value`. False on error.
///
/// # Safety
/// `key` must be a NUL-terminated string; `value` must point to `len` readable bytes (or be
/// NULL with `len` 0).
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchstore_set(s: *const TorchStore, key: *const c_char, value: *const u8, len: usize) -> bool {
    guard("rt_torch_torchstore_set", false, || {
        let key = unsafe { required("key", key) }?;
        let value = match (value.is_null(), len) {
            (true, 0) => &[][..],
            (true, _) => return Err(Error::argument("value is NULL")),
            (false, _) => unsafe { std::slice::from_raw_parts(value, len) },
        };
        handles::store(s)?.set(key, value)?;
        Ok(true)
    })
}

/// Waits for `key` (up to the store's timeout), copies up to `capacity` bytes of its value into
/// `buffer` and returns the value's full length: call again with a larger buffer if it is more
/// than `capacity`. -1 on error (a timeout names the key).
///
/// # Safety
/// `key` must be a NUL-terminated string; `buffer` must have `capacity` writable bytes (NULL
/// with `capacity` 0 asks for the length only).
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchstore_get(s: *const TorchStore, key: *const c_char, buffer: *mut u8, capacity: usize) -> i64 {
    guard("rt_torch_torchstore_get", -1, || {
        let key = unsafe { required("key", key) }?;
        let buffer = match (buffer.is_null(), capacity) {
            (true, 0) => &mut [][..],
            (true, _) => return Err(Error::argument("buffer is NULL")),
            (false, _) => unsafe { std::slice::from_raw_parts_mut(buffer, capacity) },
        };
        handles::store(s)?.get(key, buffer)
    })
}

/// Adds `amount` to the counter `key` (created at 0) and writes the new value to `*value`.
/// False on error.
///
/// # Safety
/// `key` must be a NUL-terminated string and `value` a writable `int64_t`.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchstore_add(s: *const TorchStore, key: *const c_char, amount: i64, value: *mut i64) -> bool {
    guard("rt_torch_torchstore_add", false, || {
        let key = unsafe { required("key", key) }?;
        if value.is_null() {
            return Err(Error::argument("value is NULL"));
        }
        let new_value = handles::store(s)?.add(key, amount)?;
        unsafe { *value = new_value };
        Ok(true)
    })
}

/// The `count` keys at `keys` as C strings.
unsafe fn key_list(keys: *const *const c_char, count: usize) -> Result<Vec<CString>> {
    if count > 0 && keys.is_null() {
        return Err(Error::argument(format!("keys is NULL but its count is {count}")));
    }
    (0..count)
        .map(|i| {
            let key = unsafe { required(&format!("keys[{i}]"), *keys.add(i)) }?;
            c10d::c_string("key", key)
        })
        .collect()
}

/// Waits until all `count` keys exist, up to `timeout_ms` (< 0: the store's timeout). False on
/// error, e.g. the time ran out.
///
/// # Safety
/// `keys` must point to `count` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchstore_wait(s: *const TorchStore, keys: *const *const c_char, count: usize, timeout_ms: i64) -> bool {
    guard("rt_torch_torchstore_wait", false, || {
        let keys = unsafe { key_list(keys, count) }?;
        handles::store(s)?.wait(&keys, timeout_ms, false)
    })
}

/// 1 if all `count` keys exist now, 0 if not (without waiting), -1 on error.
///
/// # Safety
/// `keys` must point to `count` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchstore_check(s: *const TorchStore, keys: *const *const c_char, count: usize) -> i32 {
    guard("rt_torch_torchstore_check", -1, || {
        let keys = unsafe { key_list(keys, count) }?;
        Ok(handles::store(s)?.wait(&keys, -1, true)?.into())
    })
}

/// Deletes `key`: 1 if it existed, 0 if not, -1 on error.
///
/// # Safety
/// `key` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchstore_delete_key(s: *const TorchStore, key: *const c_char) -> i32 {
    guard("rt_torch_torchstore_delete_key", -1, || {
        let key = unsafe { required("key", key) }?;
        Ok(handles::store(s)?.delete(key)?.into())
    })
}

/// Sets how long the store's `get` and `wait` wait. False on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchstore_set_timeout(s: *const TorchStore, timeout_ms: i64) -> bool {
    guard("rt_torch_torchstore_set_timeout", false, || {
        handles::store(s)?.set_timeout(timeout_ms)?;
        Ok(true)
    })
}

/// Releases a store handle; the store closes once no group uses it. NULL is a no-op.
#[no_mangle]
pub extern "C" fn rt_torch_torchstore_free(s: *mut TorchStore) {
    guard("rt_torch_torchstore_free", (), || if s.is_null() { Ok(()) } else { handles::release_store(s) })
}

/// Releases a store handle as `_free` does, leaving the error slot alone and ignoring bad
/// handles: for finalizers.
#[no_mangle]
pub extern "C" fn rt_torch_torchstore_finalize(s: *mut TorchStore) {
    let _ = catch_unwind(|| handles::release_store(s));
}

// ---- process groups ----------------------------------------------------------------------------

/// A Gloo process group of `size` ranks, this being `rank`, meeting through store `s` (every
/// rank must use the same store and key prefix): connects to every other rank, within
/// `timeout_ms`, which also bounds every later collective. Its device listens on network
/// interface `interface` if not NULL, else on `hostname`'s address if not NULL, else on this
/// machine's host name (loopback if that does not resolve), as torch's `GLOO_SOCKET_IFNAME`
/// and default device do. `group_name` names it in libtorch's logs and its checker's keys.
///
/// With `checked`, the group is wrapped as torch wraps it under
/// `TORCH_DISTRIBUTED_DEBUG=DETAIL`: before each collective, a second Gloo group (keys under
/// `pg_wrapper:<group_name>`, as torch's) checks that every rank arrived and that all run the
/// same collective on the same shapes and dtypes, and names the ranks that did not. Unchecked,
/// a collective that the ranks disagree on hangs until the timeout, returns garbage or aborts
/// the process (Gloo's own behaviour); a PyTorch rank in the job must make the same choice.
///
/// NULL on error: a rank that did not arrive within the timeout, a rank out of range.
///
/// # Safety
/// `interface` and `hostname` must be NULL or NUL-terminated strings; `group_name` a
/// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_process_group_gloo(
    s: *const TorchStore, rank: i32, size: i32, timeout_ms: i64, interface: *const c_char, hostname: *const c_char,
    group_name: *const c_char, checked: bool,
) -> *mut TorchProcessGroup {
    guard("rt_torch_process_group_gloo", null_mut(), || {
        let store = handles::store(s)?;
        check_rank(rank, size)?;
        let options = unsafe { group_options(interface, hostname, group_name, checked) }?;
        Ok(register_process_group(ProcessGroup::gloo(&store, rank, size, timeout_ms, options)?))
    })
}

/// An NCCL process group (CUDA tensors; CUDA builds only: elsewhere NULL with an error saying
/// so). As [`rt_torch_process_group_gloo`] otherwise (`interface` and `hostname` are for the
/// checker's Gloo group); NCCL connects on the first collective.
///
/// # Safety
/// As [`rt_torch_process_group_gloo`].
#[no_mangle]
pub unsafe extern "C" fn rt_torch_process_group_nccl(
    s: *const TorchStore, rank: i32, size: i32, timeout_ms: i64, interface: *const c_char, hostname: *const c_char,
    group_name: *const c_char, checked: bool,
) -> *mut TorchProcessGroup {
    guard("rt_torch_process_group_nccl", null_mut(), || {
        let store = handles::store(s)?;
        check_rank(rank, size)?;
        let options = unsafe { group_options(interface, hostname, group_name, checked) }?;
        Ok(register_process_group(ProcessGroup::nccl(&store, rank, size, timeout_ms, options)?))
    })
}

unsafe fn group_options<'a>(interface: *const c_char, hostname: *const c_char, group_name: *const c_char, checked: bool) -> Result<GroupOptions<'a>> {
    Ok(GroupOptions {
        interface: unsafe { text("interface", interface, true) }?,
        hostname: unsafe { text("hostname", hostname, true) }?,
        name: unsafe { required("group_name", group_name) }?,
        checked,
    })
}

fn check_rank(rank: i32, size: i32) -> Result<()> {
    if size < 1 || rank < 0 || rank >= size {
        return Err(Error::argument(format!("rank {rank} is not in a group of size {size}: ranks are 0 to size - 1")));
    }
    Ok(())
}

/// This process's rank in the group; -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchprocessgroup_rank(g: *const TorchProcessGroup) -> i32 {
    guard("rt_torch_torchprocessgroup_rank", -1, || Ok(handles::process_group(g)?.rank()))
}

/// The number of ranks in the group; -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchprocessgroup_size(g: *const TorchProcessGroup) -> i32 {
    guard("rt_torch_torchprocessgroup_size", -1, || Ok(handles::process_group(g)?.size()))
}

/// A barrier in which rank 0 names every rank (or with `wait_all_ranks` false, the first) that
/// did not reach it within `timeout_ms` (< 0: the group's timeout); Gloo groups and checked
/// groups only. False on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchprocessgroup_monitored_barrier(g: *const TorchProcessGroup, timeout_ms: i64, wait_all_ranks: bool) -> bool {
    guard("rt_torch_torchprocessgroup_monitored_barrier", false, || {
        handles::process_group(g)?.monitored_barrier(timeout_ms, wait_all_ranks)?;
        Ok(true)
    })
}

/// Releases a process group handle: the group shuts down (after its works finish) once no
/// call in progress uses it. NULL is a no-op.
#[no_mangle]
pub extern "C" fn rt_torch_torchprocessgroup_free(g: *mut TorchProcessGroup) {
    guard("rt_torch_torchprocessgroup_free", (), || if g.is_null() { Ok(()) } else { handles::release_process_group(g) })
}

/// Releases a process group handle as `_free` does, leaving the error slot alone and ignoring
/// bad handles: for finalizers.
#[no_mangle]
pub extern "C" fn rt_torch_torchprocessgroup_finalize(g: *mut TorchProcessGroup) {
    let _ = catch_unwind(|| handles::release_process_group(g));
}

// ---- collectives ---------------------------------------------------------------------------------
//
// Reduce ops are c10d's numbers: 0 SUM, 1 AVG (NCCL only), 2 PRODUCT, 3 MIN, 4 MAX, 5 BAND,
// 6 BOR, 7 BXOR. Ranks are ranks in the group. Each returns the collective's work (NULL on an
// error found before it started).

/// Runs `start` on the group with the tensors' pointers, kept alive for the call.
fn collective(name: &str, g: *const TorchProcessGroup, start: impl FnOnce(&ProcessGroup) -> Result<Work>) -> *mut TorchWork {
    guard(name, null_mut(), || {
        let group = handles::process_group(g)?;
        Ok(register_work(start(&group)?))
    })
}

/// `all_reduce`: every rank's `t` becomes the reduction (op) of all ranks' `t`.
#[no_mangle]
pub extern "C" fn rt_torch_torchprocessgroup_all_reduce(g: *const TorchProcessGroup, t: *const TorchTensor, op: i32) -> *mut TorchWork {
    collective("rt_torch_torchprocessgroup_all_reduce", g, |group| {
        let t = handles::tensor(t)?;
        group.start(|g, out, e, n| unsafe { c10d::simple_torch_all_reduce(g, at(&t), op, out, e, n) })
    })
}

/// `reduce`: rank `root`'s `t` becomes the reduction (op) of all ranks' `t`.
#[no_mangle]
pub extern "C" fn rt_torch_torchprocessgroup_reduce(g: *const TorchProcessGroup, t: *const TorchTensor, root: i32, op: i32) -> *mut TorchWork {
    collective("rt_torch_torchprocessgroup_reduce", g, |group| {
        let t = handles::tensor(t)?;
        let root = group_rank(group, "root", root)?;
        group.start(|g, out, e, n| unsafe { c10d::simple_torch_reduce(g, at(&t), root, op, out, e, n) })
    })
}

/// `broadcast`: every rank's `t` becomes rank `root`'s.
#[no_mangle]
pub extern "C" fn rt_torch_torchprocessgroup_broadcast(g: *const TorchProcessGroup, t: *const TorchTensor, root: i32) -> *mut TorchWork {
    collective("rt_torch_torchprocessgroup_broadcast", g, |group| {
        let t = handles::tensor(t)?;
        let root = group_rank(group, "root", root)?;
        group.start(|g, out, e, n| unsafe { c10d::simple_torch_broadcast(g, at(&t), root, out, e, n) })
    })
}

/// `all_gather`: `outputs[i]` (`count` tensors, one per rank) becomes rank i's `input`.
///
/// # Safety
/// `outputs` must point to `count` tensor handles.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchprocessgroup_all_gather(
    g: *const TorchProcessGroup, outputs: *const *const TorchTensor, count: usize, input: *const TorchTensor,
) -> *mut TorchWork {
    collective("rt_torch_torchprocessgroup_all_gather", g, |group| {
        // A size_t count: NULL is checked first, and a count beyond int64 is refused, before the
        // int64 counts of Tensors::resolve.
        if count > 0 && outputs.is_null() {
            return Err(Error::argument(format!("outputs is NULL but its count is {count}")));
        }
        let n = i64::try_from(count).map_err(|_| Error::argument(format!("the number of outputs is {count}")))?;
        let outputs = unsafe { Tensors::resolve(outputs, n, "outputs", false) }?;
        let pointers = &outputs.pointers;
        let input = handles::tensor(input)?;
        group.start(|g, out, e, n| unsafe { c10d::simple_torch_all_gather(g, pointers.as_ptr().cast(), pointers.len(), at(&input), out, e, n) })
    })
}

/// `all_gather_into_tensor`: `output` (world size times `input`'s elements) becomes every
/// rank's `input`, in rank order.
#[no_mangle]
pub extern "C" fn rt_torch_torchprocessgroup_all_gather_into_tensor(g: *const TorchProcessGroup, output: *const TorchTensor, input: *const TorchTensor) -> *mut TorchWork {
    collective("rt_torch_torchprocessgroup_all_gather_into_tensor", g, |group| {
        let (output, input) = (handles::tensor(output)?, handles::tensor(input)?);
        group.start(|g, out, e, n| unsafe { c10d::simple_torch_all_gather_into_tensor(g, at(&output), at(&input), out, e, n) })
    })
}

/// `reduce_scatter_tensor`: `input` (world size times `output`'s elements) is reduced (op)
/// across ranks, and rank i's `output` gets the i-th part.
#[no_mangle]
pub extern "C" fn rt_torch_torchprocessgroup_reduce_scatter_tensor(g: *const TorchProcessGroup, output: *const TorchTensor, input: *const TorchTensor, op: i32) -> *mut TorchWork {
    collective("rt_torch_torchprocessgroup_reduce_scatter_tensor", g, |group| {
        let (output, input) = (handles::tensor(output)?, handles::tensor(input)?);
        group.start(|g, out, e, n| unsafe { c10d::simple_torch_reduce_scatter_tensor(g, at(&output), at(&input), op, out, e, n) })
    })
}

/// `all_to_all_single`: rank i sends part j of `input` (along dim 0) to rank j, which puts it at
/// part i of `output`. Parts are `input_splits`/`output_splits` rows each (`n_*` of them: the
/// world size), or equal when the count is 0.
///
/// # Safety
/// The split arrays must have the counts given (NULL with count 0).
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchprocessgroup_all_to_all_single(
    g: *const TorchProcessGroup, output: *const TorchTensor, input: *const TorchTensor, output_splits: *const i64,
    n_output_splits: usize, input_splits: *const i64, n_input_splits: usize,
) -> *mut TorchWork {
    collective("rt_torch_torchprocessgroup_all_to_all_single", g, |group| {
        let (output, input) = (handles::tensor(output)?, handles::tensor(input)?);
        for (name, pointer, count) in [("output_splits", output_splits, n_output_splits), ("input_splits", input_splits, n_input_splits)] {
            if count > 0 && pointer.is_null() {
                return Err(Error::argument(format!("{name} is NULL but its count is {count}")));
            }
        }
        group.start(|g, out, e, n| unsafe {
            c10d::simple_torch_all_to_all_single(g, at(&output), at(&input), output_splits, n_output_splits, input_splits, n_input_splits, out, e, n)
        })
    })
}

/// `barrier`: done once every rank has reached it.
#[no_mangle]
pub extern "C" fn rt_torch_torchprocessgroup_barrier(g: *const TorchProcessGroup) -> *mut TorchWork {
    collective("rt_torch_torchprocessgroup_barrier", g, |group| group.start(|g, out, e, n| unsafe { c10d::simple_torch_barrier(g, out, e, n) }))
}

/// `send`: sends `t` to rank `dst`, matched by a `recv` there with the same `tag`.
#[no_mangle]
pub extern "C" fn rt_torch_torchprocessgroup_send(g: *const TorchProcessGroup, t: *const TorchTensor, dst: i32, tag: i32) -> *mut TorchWork {
    collective("rt_torch_torchprocessgroup_send", g, |group| {
        let t = handles::tensor(t)?;
        let dst = group_rank(group, "dst", dst)?;
        group.start(|g, out, e, n| unsafe { c10d::simple_torch_send(g, at(&t), dst, tag, out, e, n) })
    })
}

/// `recv`: receives into `t` from rank `src`, or from any rank when `src` is -1
/// (`rt_torch_torchwork_source_rank` then says which).
#[no_mangle]
pub extern "C" fn rt_torch_torchprocessgroup_recv(g: *const TorchProcessGroup, t: *const TorchTensor, src: i32, tag: i32) -> *mut TorchWork {
    collective("rt_torch_torchprocessgroup_recv", g, |group| {
        let t = handles::tensor(t)?;
        let src = if src == -1 { src } else { group_rank(group, "src (or -1: any)", src)? };
        group.start(|g, out, e, n| unsafe { c10d::simple_torch_recv(g, at(&t), src, tag, out, e, n) })
    })
}

// ---- works ---------------------------------------------------------------------------------------

/// Waits for the collective up to `timeout_ms` (< 0: until it is done; the group's timeout
/// bounds it; 0: only looks). 1 when it is done, 0 if the time ran out first, -1 if it failed
/// (the error says why, e.g. a peer that died or a timeout). Gloo gives up a point-to-point
/// receive whose wait times out: that wait fails (-1).
#[no_mangle]
pub extern "C" fn rt_torch_torchwork_wait(w: *const TorchWork, timeout_ms: i64) -> i32 {
    guard("rt_torch_torchwork_wait", -1, || Ok(handles::work(w)?.wait(timeout_ms)?.into()))
}

/// 1 once the collective has finished (successfully or not: wait says which), 0 while it runs,
/// -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchwork_is_completed(w: *const TorchWork) -> i32 {
    guard("rt_torch_torchwork_is_completed", -1, || Ok(handles::work(w)?.is_completed().into()))
}

/// The rank a finished `recv` from any rank received from; -1 on error (e.g. it has not
/// finished).
#[no_mangle]
pub extern "C" fn rt_torch_torchwork_source_rank(w: *const TorchWork) -> i32 {
    guard("rt_torch_torchwork_source_rank", -1, || match handles::work(w)?.source_rank()? {
        -1 => Err(Error::argument("the receive has not finished (or did not receive from any rank)")),
        rank => Ok(rank),
    })
}

/// Releases a work handle; the collective carries on. NULL is a no-op.
#[no_mangle]
pub extern "C" fn rt_torch_torchwork_free(w: *mut TorchWork) {
    guard("rt_torch_torchwork_free", (), || if w.is_null() { Ok(()) } else { handles::release_work(w) })
}

/// Releases a work handle as `_free` does, leaving the error slot alone and ignoring bad
/// handles: for finalizers.
#[no_mangle]
pub extern "C" fn rt_torch_torchwork_finalize(w: *mut TorchWork) {
    let _ = catch_unwind(|| handles::release_work(w));
}
