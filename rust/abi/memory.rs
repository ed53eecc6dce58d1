//! Releasing handles.

use crate::error::guard;
use crate::handles::{release_tensor, TorchTensor};

/// Releases a tensor handle. NULL is a no-op; a freed or unknown handle records an error and
/// touches nothing.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_free(h: *mut TorchTensor) {
    guard("rt_torch_torchtensor_free", (), || if h.is_null() { Ok(()) } else { release_tensor(h) })
}
