//! Memory: releasing handles, and the CUDA caching allocator's statistics.

use std::panic::catch_unwind;
use std::slice;

use crate::codes::cuda_device;
use crate::cuda::{self, MemoryStats};
use crate::error::{guard, Result};
use crate::handles::{release_tensor, release_tensors, TorchTensor};

/// Releases a tensor handle. NULL is a no-op; a freed or unknown handle records an error and
/// touches nothing.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_free(h: *mut TorchTensor) {
    guard("rt_torch_torchtensor_free", (), || if h.is_null() { Ok(()) } else { release_tensor(h) })
}

/// Releases a tensor handle as `rt_torch_torchtensor_free` does, but leaves the calling thread's
/// error slot alone and ignores NULL, freed and unknown handles: for finalizers and garbage
/// collectors, which may run between another call and its `rt_torch_last_error()`.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_finalize(h: *mut TorchTensor) {
    if !h.is_null() {
        // Nothing to report to, by design: a bad handle is ignored, and so would be a panic.
        let _ = catch_unwind(|| release_tensor(h));
    }
}

/// Releases `count` tensor handles as `rt_torch_torchtensor_finalize` releases one: NULL,
/// freed, unknown and other kinds' handles are skipped (a handle given twice is released once),
/// and the calling thread's error slot is left alone. For releasing in batches the handles
/// whose bit 62 is set (small CPU tensors, which can wait). Returns how many it released; -1,
/// releasing nothing, if `handles` is NULL while `count` is positive or if `count` is negative
/// (and -1 if a bug panicked midway).
///
/// # Safety
/// `handles` must point to `count` readable handles (it may be NULL when `count` is 0).
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchtensor_finalize_many(handles: *const *const TorchTensor, count: i64) -> i64 {
    let handles = match (handles.is_null(), usize::try_from(count)) {
        (_, Ok(0)) => &[][..],
        (false, Ok(count)) => unsafe { slice::from_raw_parts(handles, count) },
        _ => return -1,
    };
    // A panic would be a bug: nothing to report it to, as in finalize, but say that it stopped.
    catch_unwind(|| release_tensors(handles)).map_or(-1, |released| released as i64)
}

// ---- CUDA memory: libtorch's caching allocator, as torch.cuda reports it ----------------------

/// The allocator's statistics for `cuda:device`, once the device is known to exist.
fn memory_stats(device: i32) -> Result<MemoryStats> {
    cuda_device(device)?;
    cuda::memory_stats(device)
}

/// Bytes that tensors occupy on `cuda:device` now (`torch.cuda.memory_allocated`); -1 on error,
/// e.g. without CUDA.
#[no_mangle]
pub extern "C" fn rt_torch_cuda_memory_allocated(device: i32) -> i64 {
    guard("rt_torch_cuda_memory_allocated", -1, || Ok(memory_stats(device)?.allocated))
}

/// The most bytes tensors occupied on `cuda:device` since the start or the last
/// `rt_torch_cuda_reset_peak_memory_stats`; -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_cuda_max_memory_allocated(device: i32) -> i64 {
    guard("rt_torch_cuda_max_memory_allocated", -1, || Ok(memory_stats(device)?.max_allocated))
}

/// Bytes the caching allocator holds on `cuda:device`: in use plus cached for reuse; -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_cuda_memory_reserved(device: i32) -> i64 {
    guard("rt_torch_cuda_memory_reserved", -1, || Ok(memory_stats(device)?.reserved))
}

/// The most bytes the caching allocator held on `cuda:device`; -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_cuda_max_memory_reserved(device: i32) -> i64 {
    guard("rt_torch_cuda_max_memory_reserved", -1, || Ok(memory_stats(device)?.max_reserved))
}

/// Starts the peaks (`max_memory_*`) of `cuda:device` again from the current values.
#[no_mangle]
pub extern "C" fn rt_torch_cuda_reset_peak_memory_stats(device: i32) {
    guard("rt_torch_cuda_reset_peak_memory_stats", (), || {
        cuda_device(device)?;
        cuda::reset_peak_memory_stats(device)
    })
}

/// Returns cached memory that no tensor uses to the driver, on every GPU (`torch.cuda.empty_cache`);
/// memory that tensors use stays. An error without CUDA.
#[no_mangle]
pub extern "C" fn rt_torch_cuda_empty_cache() {
    guard("rt_torch_cuda_empty_cache", (), || {
        cuda_device(0)?;
        cuda::empty_cache()
    })
}

/// Bytes free on `cuda:device` as the driver sees it (other processes included); -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_cuda_memory_free(device: i32) -> i64 {
    guard("rt_torch_cuda_memory_free", -1, || {
        cuda_device(device)?;
        Ok(cuda::memory_info(device)?.0)
    })
}

/// Total bytes of memory on `cuda:device`; -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_cuda_memory_total(device: i32) -> i64 {
    guard("rt_torch_cuda_memory_total", -1, || {
        cuda_device(device)?;
        Ok(cuda::memory_info(device)?.1)
    })
}
