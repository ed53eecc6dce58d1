//! CUDA graphs: capture a sequence of CUDA work once, replay it with one launch
//! (libtorch's `at::cuda::CUDAGraph`, through `rust/cuda_graphs.cpp`).
//!
//! A graph is bound to one GPU when it is made, and captures the work queued on that GPU's
//! current stream between `capture_begin` and `capture_end`, as `torch.cuda.CUDAGraph` does for
//! the current device. The memory the captured work allocates comes from a private pool of the
//! caching allocator, which graphs may share (`pool`, `graph_pool_handle`).

use std::ffi::{c_char, c_int, c_void};
use std::ptr::null_mut;
use std::sync::{Mutex, MutexGuard};

use crate::codes;
use crate::error::{Error, Result};

extern "C" {
    fn simple_torch_cuda_graph_new(device: i32, out: *mut *mut c_void, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_graph_capture_begin(graph: *mut c_void, first: u64, second: u64, mode: i32, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_graph_capture_end(graph: *mut c_void, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_graph_replay(graph: *mut c_void, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_graph_reset(graph: *mut c_void, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_graph_pool(graph: *mut c_void, first: *mut u64, second: *mut u64, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_graph_pool_handle(first: *mut u64, second: *mut u64, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_graph_free(graph: *mut c_void);
}

/// A graph memory pool's id, libtorch's `MempoolId_t` (first, second): a graph's own pool has
/// `first` set, one from [`graph_pool_handle`] `second`; (0, 0) asks for a new private pool.
pub type PoolId = (u64, u64);

/// How strictly CUDA guards a capture against unsafe API calls (`cudaStreamCaptureMode`), by
/// torch's names: "global", "thread_local", "relaxed".
#[derive(Clone, Copy, Debug)]
pub enum CaptureMode {
    Global = 0,
    ThreadLocal = 1,
    Relaxed = 2,
}

impl CaptureMode {
    pub fn from_code(code: i32) -> Result<CaptureMode> {
        match code {
            0 => Ok(CaptureMode::Global),
            1 => Ok(CaptureMode::ThreadLocal),
            2 => Ok(CaptureMode::Relaxed),
            _ => Err(Error::argument(format!(
                "unknown capture_error_mode {code}: 0 is global, 1 thread_local, 2 relaxed"
            ))),
        }
    }
}

/// The C++ graph (rust/cuda_graphs.cpp's `Graph`), owned.
struct RawGraph(*mut c_void);

// SAFETY: the pointer is owned, and at::cuda::CUDAGraph has no thread affinity: any thread may
// call it (CUDA itself reports a global or thread-local capture ended on another thread than the
// one that began it, as an error). It is not safe to use from two threads at once, so CudaGraph
// keeps it behind a mutex; that makes CudaGraph Send and Sync, as the handle registry needs.
unsafe impl Send for RawGraph {}

/// A CUDA graph: captured, or waiting to be.
pub struct CudaGraph {
    raw: Mutex<RawGraph>,
}

/// Calls a C++ function, turning its exception into an error that says what failed: a device
/// error where CUDA is missing, an out-of-memory error where the allocator says so, else an
/// argument error (a capture on the default stream, a replay before any capture, ...).
fn call(what: &str, f: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<()> {
    crate::shim::call(f).map_err(|text| {
        if text.contains("CUDA is not available") {
            Error::device(format!("{what}: {text}"))
        } else {
            Error::libtorch(what, &tch::TchError::Torch(text))
        }
    })
}

impl CudaGraph {
    /// A new, empty graph bound to the GPU with ABI code `device` (N for `cuda:N`).
    pub fn new(device: i32) -> Result<CudaGraph> {
        codes::cuda_device(device)?;
        let mut raw = null_mut();
        call("cannot create a CUDA graph", |e, n| unsafe { simple_torch_cuda_graph_new(device, &mut raw, e, n) })?;
        Ok(CudaGraph { raw: Mutex::new(RawGraph(raw)) })
    }

    fn raw(&self) -> MutexGuard<'_, RawGraph> {
        // A panic cannot happen while the lock is held (only C++ calls run under it, and they
        // report exceptions as values): a poisoned lock still guards a consistent graph.
        self.raw.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Begins capturing the work queued on the current stream of the graph's GPU, which must
    /// not be the default stream. `pool`: (0, 0) for a new private pool, or a pool to share.
    pub fn capture_begin(&self, pool: PoolId, mode: CaptureMode) -> Result<()> {
        if pool.0 != 0 && pool.1 != 0 {
            return Err(Error::argument(format!(
                "({}, {}) is not a graph pool id: one of its two numbers is 0 (see graph_pool_handle and pool), or both for a new private pool",
                pool.0, pool.1
            )));
        }
        let raw = self.raw();
        call("cannot begin capturing the CUDA graph", |e, n| unsafe {
            simple_torch_cuda_graph_capture_begin(raw.0, pool.0, pool.1, mode as i32, e, n)
        })
    }

    /// Ends the capture, on the stream it began on, and makes the graph ready to replay.
    pub fn capture_end(&self) -> Result<()> {
        let raw = self.raw();
        call("cannot end the CUDA graph's capture", |e, n| unsafe { simple_torch_cuda_graph_capture_end(raw.0, e, n) })
    }

    /// Launches the captured work on the current stream of the graph's GPU.
    pub fn replay(&self) -> Result<()> {
        let raw = self.raw();
        call("cannot replay the CUDA graph", |e, n| unsafe { simple_torch_cuda_graph_replay(raw.0, e, n) })
    }

    /// Drops what was captured (ending a capture still in progress) and gives the pool back.
    pub fn reset(&self) -> Result<()> {
        let raw = self.raw();
        call("cannot reset the CUDA graph", |e, n| unsafe { simple_torch_cuda_graph_reset(raw.0, e, n) })
    }

    /// The id of the graph's memory pool, for another graph's `capture_begin` to share.
    pub fn pool(&self) -> Result<PoolId> {
        let raw = self.raw();
        let (mut first, mut second) = (0, 0);
        call("cannot read the CUDA graph's pool", |e, n| unsafe {
            simple_torch_cuda_graph_pool(raw.0, &mut first, &mut second, e, n)
        })?;
        Ok((first, second))
    }
}

impl Drop for CudaGraph {
    fn drop(&mut self) {
        // Ends a capture left in progress, destroys the graph and gives its pool back (tensors
        // still using the pool's memory keep it until they are freed).
        unsafe { simple_torch_cuda_graph_free(self.raw().0) }
    }
}

/// A new graph memory pool id, for graphs that will share one pool (`torch.cuda.graph_pool_handle`).
pub fn graph_pool_handle() -> Result<PoolId> {
    if codes::cuda_device_count() == 0 {
        return Err(Error::device(
            "cannot make a graph memory pool handle: CUDA is not available (graph pools hold the memory of CUDA graphs)",
        ));
    }
    let (mut first, mut second) = (0, 0);
    call("cannot make a graph memory pool handle", |e, n| unsafe {
        simple_torch_cuda_graph_pool_handle(&mut first, &mut second, e, n)
    })?;
    Ok((first, second))
}
