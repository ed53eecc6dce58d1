//! c10d's stores, process groups and works, as objects that rust/distributed.cpp makes and
//! frees; rust/abi/distributed.rs exports them through handles.

use std::ffi::{c_char, c_int, c_void, CString};

use crate::error::{Error, Result, RT_TORCH_ERROR_DISTRIBUTED};
use crate::shim;

pub type Raw = *mut c_void;
type ErrorBuffer = (*mut c_char, usize);

extern "C" {
    fn simple_torch_store_tcp(host: *const c_char, port: i32, world_size: i32, is_server: c_int, timeout_ms: i64, out: *mut Raw, e: *mut c_char, n: usize) -> c_int;
    fn simple_torch_store_file(path: *const c_char, world_size: i32, out: *mut Raw, e: *mut c_char, n: usize) -> c_int;
    fn simple_torch_store_prefix(store: Raw, prefix: *const c_char, out: *mut Raw, e: *mut c_char, n: usize) -> c_int;
    fn simple_torch_store_clone(store: Raw, out: *mut Raw, e: *mut c_char, n: usize) -> c_int;
    fn simple_torch_store_free(store: Raw);
    fn simple_torch_store_port(store: Raw) -> i32;
    fn simple_torch_store_set(store: Raw, key: *const c_char, value: *const u8, len: usize, e: *mut c_char, n: usize) -> c_int;
    fn simple_torch_store_get(store: Raw, key: *const c_char, buffer: *mut u8, capacity: usize, size: *mut i64, e: *mut c_char, n: usize) -> c_int;
    fn simple_torch_store_add(store: Raw, key: *const c_char, amount: i64, value: *mut i64, e: *mut c_char, n: usize) -> c_int;
    fn simple_torch_store_wait(store: Raw, keys: *const *const c_char, count: usize, timeout_ms: i64, check_only: c_int, present: *mut c_int, e: *mut c_char, n: usize) -> c_int;
    fn simple_torch_store_delete(store: Raw, key: *const c_char, deleted: *mut c_int, e: *mut c_char, n: usize) -> c_int;
    fn simple_torch_store_set_timeout(store: Raw, timeout_ms: i64, e: *mut c_char, n: usize) -> c_int;

    fn simple_torch_group_gloo(
        store: Raw, rank: i32, size: i32, timeout_ms: i64, interface: *const c_char, hostname: *const c_char, group_name: *const c_char,
        checked: c_int, out: *mut Raw, e: *mut c_char, n: usize,
    ) -> c_int;
    fn simple_torch_group_nccl(
        store: Raw, rank: i32, size: i32, timeout_ms: i64, interface: *const c_char, hostname: *const c_char, group_name: *const c_char,
        checked: c_int, out: *mut Raw, e: *mut c_char, n: usize,
    ) -> c_int;
    fn simple_torch_group_free(group: Raw);
    fn simple_torch_group_rank(group: Raw) -> i32;
    fn simple_torch_group_size(group: Raw) -> i32;
    fn simple_torch_group_monitored_barrier(group: Raw, timeout_ms: i64, wait_all_ranks: c_int, e: *mut c_char, n: usize) -> c_int;

    fn simple_torch_work_wait(work: Raw, timeout_ms: i64, done: *mut c_int, e: *mut c_char, n: usize) -> c_int;
    fn simple_torch_work_is_completed(work: Raw) -> i32;
    fn simple_torch_work_source_rank(work: Raw, rank: *mut i32, e: *mut c_char, n: usize) -> c_int;
    fn simple_torch_work_free(work: Raw);
}

// The collectives, for ProcessGroup::start: each starts one and writes its work to `work`.
extern "C" {
    pub fn simple_torch_all_reduce(group: Raw, t: *const c_void, op: i32, work: *mut Raw, e: *mut c_char, n: usize) -> c_int;
    pub fn simple_torch_reduce(group: Raw, t: *const c_void, root: i32, op: i32, work: *mut Raw, e: *mut c_char, n: usize) -> c_int;
    pub fn simple_torch_broadcast(group: Raw, t: *const c_void, root: i32, work: *mut Raw, e: *mut c_char, n: usize) -> c_int;
    pub fn simple_torch_all_gather(group: Raw, outputs: *const *const c_void, count: usize, input: *const c_void, work: *mut Raw, e: *mut c_char, n: usize) -> c_int;
    pub fn simple_torch_all_gather_into_tensor(group: Raw, output: *const c_void, input: *const c_void, work: *mut Raw, e: *mut c_char, n: usize) -> c_int;
    pub fn simple_torch_reduce_scatter_tensor(group: Raw, output: *const c_void, input: *const c_void, op: i32, work: *mut Raw, e: *mut c_char, n: usize) -> c_int;
    pub fn simple_torch_all_to_all_single(
        group: Raw, output: *const c_void, input: *const c_void, output_splits: *const i64, n_output_splits: usize,
        input_splits: *const i64, n_input_splits: usize, work: *mut Raw, e: *mut c_char, n: usize,
    ) -> c_int;
    pub fn simple_torch_barrier(group: Raw, work: *mut Raw, e: *mut c_char, n: usize) -> c_int;
    pub fn simple_torch_send(group: Raw, t: *const c_void, dst: i32, tag: i32, work: *mut Raw, e: *mut c_char, n: usize) -> c_int;
    pub fn simple_torch_recv(group: Raw, t: *const c_void, src: i32, tag: i32, work: *mut Raw, e: *mut c_char, n: usize) -> c_int;
}

/// Calls a rust/distributed.cpp function; a C++ exception becomes a distributed error.
fn call(f: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<()> {
    shim::call(f).map_err(|message| Error { kind: RT_TORCH_ERROR_DISTRIBUTED, message })
}

/// Makes a C++ object through `make`, which writes it to its out-pointer.
fn make(make: impl FnOnce(*mut Raw, ErrorBuffer) -> c_int) -> Result<Raw> {
    let mut raw = std::ptr::null_mut();
    call(|e, n| make(&mut raw, (e, n)))?;
    Ok(raw)
}

/// A Rust string as a C string; an interior NUL is the caller's error.
pub fn c_string(what: &str, text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error::argument(format!("{what} contains a NUL byte")))
}

/// An owned c10d store (`c10::intrusive_ptr<c10d::Store>` in a box).
pub struct Store(Raw);

/// An owned c10d process group (its backend: Gloo or NCCL).
pub struct ProcessGroup(Raw);

/// An owned c10d work: a collective in flight, or done.
pub struct Work(Raw);

// SAFETY: c10d's stores, backends and works are used by libtorch from several threads at once
// (a TCPStore client serializes its own calls; backends queue work from any thread).
unsafe impl Send for Store {}
unsafe impl Sync for Store {}
unsafe impl Send for ProcessGroup {}
unsafe impl Sync for ProcessGroup {}
unsafe impl Send for Work {}
unsafe impl Sync for Work {}

impl Drop for Store {
    fn drop(&mut self) {
        unsafe { simple_torch_store_free(self.0) }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        unsafe { simple_torch_group_free(self.0) }
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        unsafe { simple_torch_work_free(self.0) }
    }
}

impl Store {
    pub fn tcp(host: &str, port: i32, world_size: i32, is_server: bool, timeout_ms: i64) -> Result<Store> {
        let host = c_string("host", host)?;
        let raw = make(|out, (e, n)| unsafe { simple_torch_store_tcp(host.as_ptr(), port, world_size, is_server.into(), timeout_ms, out, e, n) })?;
        Ok(Store(raw))
    }

    pub fn file(path: &str, world_size: i32) -> Result<Store> {
        let path = c_string("path", path)?;
        Ok(Store(make(|out, (e, n)| unsafe { simple_torch_store_file(path.as_ptr(), world_size, out, e, n) })?))
    }

    pub fn prefixed(&self, prefix: &str) -> Result<Store> {
        let prefix = c_string("prefix", prefix)?;
        Ok(Store(make(|out, (e, n)| unsafe { simple_torch_store_prefix(self.0, prefix.as_ptr(), out, e, n) })?))
    }

    pub fn clone_connection(&self) -> Result<Store> {
        Ok(Store(make(|out, (e, n)| unsafe { simple_torch_store_clone(self.0, out, e, n) })?))
    }

    pub fn port(&self) -> i32 {
        unsafe { simple_torch_store_port(self.0) }
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        let key = c_string("key", key)?;
        call(|e, n| unsafe { simple_torch_store_set(self.0, key.as_ptr(), value.as_ptr(), value.len(), e, n) })
    }

    /// Copies the value into `buffer` (as much as fits) and returns its full length.
    pub fn get(&self, key: &str, buffer: &mut [u8]) -> Result<i64> {
        let key = c_string("key", key)?;
        let mut size = 0;
        call(|e, n| unsafe { simple_torch_store_get(self.0, key.as_ptr(), buffer.as_mut_ptr(), buffer.len(), &mut size, e, n) })?;
        Ok(size)
    }

    pub fn add(&self, key: &str, amount: i64) -> Result<i64> {
        let key = c_string("key", key)?;
        let mut value = 0;
        call(|e, n| unsafe { simple_torch_store_add(self.0, key.as_ptr(), amount, &mut value, e, n) })?;
        Ok(value)
    }

    /// Waits for the keys (timeout_ms < 0: the store's timeout), or with `check_only` says
    /// whether they all exist now.
    pub fn wait(&self, keys: &[CString], timeout_ms: i64, check_only: bool) -> Result<bool> {
        let pointers: Vec<*const c_char> = keys.iter().map(|key| key.as_ptr()).collect();
        let mut present = 0;
        call(|e, n| unsafe { simple_torch_store_wait(self.0, pointers.as_ptr(), pointers.len(), timeout_ms, check_only.into(), &mut present, e, n) })?;
        Ok(present != 0)
    }

    pub fn delete(&self, key: &str) -> Result<bool> {
        let key = c_string("key", key)?;
        let mut deleted = 0;
        call(|e, n| unsafe { simple_torch_store_delete(self.0, key.as_ptr(), &mut deleted, e, n) })?;
        Ok(deleted != 0)
    }

    pub fn set_timeout(&self, timeout_ms: i64) -> Result<()> {
        call(|e, n| unsafe { simple_torch_store_set_timeout(self.0, timeout_ms, e, n) })
    }
}

/// How a group is made: where its Gloo device listens (a network interface, a host name, or
/// neither: this machine's host name), its name, and whether a checking wrapper checks each
/// collective first (torch's TORCH_DISTRIBUTED_DEBUG=DETAIL).
pub struct GroupOptions<'a> {
    pub interface: Option<&'a str>,
    pub hostname: Option<&'a str>,
    pub name: &'a str,
    pub checked: bool,
}

type MakeGroup = unsafe extern "C" fn(Raw, i32, i32, i64, *const c_char, *const c_char, *const c_char, c_int, *mut Raw, *mut c_char, usize) -> c_int;

impl ProcessGroup {
    pub fn gloo(store: &Store, rank: i32, size: i32, timeout_ms: i64, options: GroupOptions) -> Result<ProcessGroup> {
        ProcessGroup::make(simple_torch_group_gloo, store, rank, size, timeout_ms, options)
    }

    pub fn nccl(store: &Store, rank: i32, size: i32, timeout_ms: i64, options: GroupOptions) -> Result<ProcessGroup> {
        ProcessGroup::make(simple_torch_group_nccl, store, rank, size, timeout_ms, options)
    }

    fn make(function: MakeGroup, store: &Store, rank: i32, size: i32, timeout_ms: i64, options: GroupOptions) -> Result<ProcessGroup> {
        let interface = options.interface.map(|text| c_string("interface", text)).transpose()?;
        let hostname = options.hostname.map(|text| c_string("hostname", text)).transpose()?;
        let name = c_string("group name", options.name)?;
        let pointer = |text: &Option<CString>| text.as_ref().map_or(std::ptr::null(), |text| text.as_ptr());
        let raw = make(|out, (e, n)| unsafe {
            function(store.0, rank, size, timeout_ms, pointer(&interface), pointer(&hostname), name.as_ptr(), options.checked.into(), out, e, n)
        })?;
        Ok(ProcessGroup(raw))
    }

    pub fn rank(&self) -> i32 {
        unsafe { simple_torch_group_rank(self.0) }
    }

    pub fn size(&self) -> i32 {
        unsafe { simple_torch_group_size(self.0) }
    }

    pub fn monitored_barrier(&self, timeout_ms: i64, wait_all_ranks: bool) -> Result<()> {
        call(|e, n| unsafe { simple_torch_group_monitored_barrier(self.0, timeout_ms, wait_all_ranks.into(), e, n) })
    }

    /// Starts a collective through `start`, a rust/distributed.cpp function given this group.
    pub fn start(&self, start: impl FnOnce(Raw, *mut Raw, *mut c_char, usize) -> c_int) -> Result<Work> {
        Ok(Work(make(|out, (e, n)| start(self.0, out, e, n))?))
    }
}

impl Work {
    /// Waits up to `timeout_ms` (< 0: until done); false if the time ran out first.
    pub fn wait(&self, timeout_ms: i64) -> Result<bool> {
        let mut done = 0;
        call(|e, n| unsafe { simple_torch_work_wait(self.0, timeout_ms, &mut done, e, n) })?;
        Ok(done != 0)
    }

    pub fn is_completed(&self) -> bool {
        unsafe { simple_torch_work_is_completed(self.0) != 0 }
    }

    pub fn source_rank(&self) -> Result<i32> {
        let mut rank = -1;
        call(|e, n| unsafe { simple_torch_work_source_rank(self.0, &mut rank, e, n) })?;
        Ok(rank)
    }
}
