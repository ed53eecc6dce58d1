//! CUDA graphs, as `torch.cuda.CUDAGraph` and `torch.cuda.graph_pool_handle`: capture the CUDA
//! work queued on a side stream once, then replay all of it with one launch.
//!
//! A graph pool id is libtorch's `MempoolId_t`, two `uint64_t` (first, second); (0, 0) means "a
//! new private pool". Without CUDA, creating a graph or a pool id fails with a device error
//! saying "CUDA is not available", so no graph handle ever exists there.

use std::panic::catch_unwind;
use std::ptr::null_mut;

use crate::cuda_graphs::{self, CaptureMode, CudaGraph};
use crate::error::{guard, Error, Result};
use crate::handles::{cuda_graph, register_cuda_graph, release_cuda_graph, TorchCudaGraph};

/// Capture mode of `rt_torch_torchcudagraph_capture_begin` (`cudaStreamCaptureModeGlobal`, torch's
/// "global", its default): during the capture, CUDA calls that are unsafe in a capture (e.g. a
/// synchronize) fail in every thread.
pub const RT_TORCH_CAPTURE_MODE_GLOBAL: i32 = 0;
/// Capture mode "thread_local": unsafe CUDA calls fail only in the capturing thread.
pub const RT_TORCH_CAPTURE_MODE_THREAD_LOCAL: i32 = 1;
/// Capture mode "relaxed": CUDA does not check for unsafe calls.
pub const RT_TORCH_CAPTURE_MODE_RELAXED: i32 = 2;

/// Refuses NULL places for a pool id.
fn check_places(out_first: *mut u64, out_second: *mut u64) -> Result<()> {
    match (out_first.is_null(), out_second.is_null()) {
        (false, false) => Ok(()),
        (true, _) => Err(Error::argument("out_first is NULL")),
        (false, true) => Err(Error::argument("out_second is NULL")),
    }
}

/// Writes a pool id to the caller's two places.
///
/// # Safety
/// Both pointers point to writable `uint64_t`s (see [`check_places`]).
unsafe fn write_pool(pool: cuda_graphs::PoolId, out_first: *mut u64, out_second: *mut u64) -> bool {
    unsafe {
        *out_first = pool.0;
        *out_second = pool.1;
    }
    true
}

/// A new, empty CUDA graph bound to GPU `cuda:device_id`: it captures the work queued on that
/// GPU's current stream (`torch.cuda.CUDAGraph()`). NULL on error, e.g. without CUDA or for
/// the CPU (-1).
#[no_mangle]
pub extern "C" fn rt_torch_cuda_graph_create(device_id: i32) -> *mut TorchCudaGraph {
    guard("rt_torch_cuda_graph_create", null_mut(), || Ok(register_cuda_graph(CudaGraph::new(device_id)?)))
}

/// Begins capturing the work queued on the current stream of the graph's GPU: make a stream of
/// your own current first (`rt_torch_torchstream_set_current`), since CUDA cannot capture the
/// default stream. Until `_capture_end`, that work is recorded, not run. The memory it
/// allocates comes from the pool (`pool_first`, `pool_second`): (0, 0) for a new private pool,
/// else an id from `rt_torch_cuda_graph_pool_handle` or another graph's `_pool`, to share that
/// pool. `capture_error_mode` is one of `RT_TORCH_CAPTURE_MODE_*`. A graph captures once: reset
/// it to capture again. False on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchcudagraph_capture_begin(
    g: *const TorchCudaGraph,
    pool_first: u64,
    pool_second: u64,
    capture_error_mode: i32,
) -> bool {
    guard("rt_torch_torchcudagraph_capture_begin", false, || {
        let graph = cuda_graph(g)?;
        graph.capture_begin((pool_first, pool_second), CaptureMode::from_code(capture_error_mode)?)?;
        Ok(true)
    })
}

/// Ends the capture begun by `_capture_begin`, with the same stream current, and makes the graph
/// ready to replay. False on error (e.g. no capture in progress, or work in it that CUDA
/// cannot capture, such as a synchronize).
#[no_mangle]
pub extern "C" fn rt_torch_torchcudagraph_capture_end(g: *const TorchCudaGraph) -> bool {
    guard("rt_torch_torchcudagraph_capture_end", false, || cuda_graph(g)?.capture_end().map(|()| true))
}

/// Launches the captured work on the current stream of the graph's GPU (any stream, the
/// default one included), without waiting for it. It reads and writes the same memory as the
/// capture did: copy new inputs into the tensors the captured work read. False on error (e.g.
/// nothing captured).
#[no_mangle]
pub extern "C" fn rt_torch_torchcudagraph_replay(g: *const TorchCudaGraph) -> bool {
    guard("rt_torch_torchcudagraph_replay", false, || cuda_graph(g)?.replay().map(|()| true))
}

/// Drops the captured work (ending a capture still in progress) and gives back the graph's hold
/// on its pool; tensors the capture made keep their memory until they are freed. The graph can
/// then capture again. False on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchcudagraph_reset(g: *const TorchCudaGraph) -> bool {
    guard("rt_torch_torchcudagraph_reset", false, || cuda_graph(g)?.reset().map(|()| true))
}

/// Writes the id of the graph's memory pool to `*out_first` and `*out_second`, for another
/// graph's `_capture_begin` to share the pool. False on error (e.g. nothing captured yet).
///
/// # Safety
/// `out_first` and `out_second` are NULL (an error) or point to writable `uint64_t`s.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchcudagraph_pool(g: *const TorchCudaGraph, out_first: *mut u64, out_second: *mut u64) -> bool {
    guard("rt_torch_torchcudagraph_pool", false, || {
        let graph = cuda_graph(g)?;
        check_places(out_first, out_second)?;
        let pool = graph.pool()?;
        Ok(unsafe { write_pool(pool, out_first, out_second) })
    })
}

/// Writes a new graph memory pool id to `*out_first` and `*out_second`
/// (`torch.cuda.graph_pool_handle()`): graphs that capture with it share one pool, which saves
/// memory when they are replayed in the order they were captured. False on error, e.g.
/// without CUDA.
///
/// # Safety
/// `out_first` and `out_second` are NULL (an error) or point to writable `uint64_t`s.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_cuda_graph_pool_handle(out_first: *mut u64, out_second: *mut u64) -> bool {
    guard("rt_torch_cuda_graph_pool_handle", false, || {
        let pool = cuda_graphs::graph_pool_handle()?;  // first: without CUDA, that is the error
        check_places(out_first, out_second)?;
        Ok(unsafe { write_pool(pool, out_first, out_second) })
    })
}

/// Releases a CUDA graph handle; the graph is destroyed (ending a capture still in progress)
/// once no call in progress uses it. NULL is a no-op; a freed or unknown handle records an error
/// and touches nothing.
#[no_mangle]
pub extern "C" fn rt_torch_torchcudagraph_free(g: *mut TorchCudaGraph) {
    guard("rt_torch_torchcudagraph_free", (), || if g.is_null() { Ok(()) } else { release_cuda_graph(g) })
}

/// Releases a CUDA graph handle as `rt_torch_torchcudagraph_free` does, but leaves the calling
/// thread's error slot alone and ignores NULL, freed and unknown handles: for finalizers.
#[no_mangle]
pub extern "C" fn rt_torch_torchcudagraph_finalize(g: *mut TorchCudaGraph) {
    if !g.is_null() {
        let _ = catch_unwind(|| release_cuda_graph(g));
    }
}
