//! Releasing handles.

use std::panic::catch_unwind;

use crate::error::guard;
use crate::handles::{release_tensor, TorchTensor};

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
