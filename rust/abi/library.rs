//! The library itself: availability, versions, CUDA, live handles, the error slot.

use std::ffi::c_char;
use std::sync::OnceLock;

use tch::{Device, Kind, Tensor};

use crate::codes::cuda_device_count;
use crate::error::{self, guard};
use crate::handles;

/// The libtorch release this library was built against, NUL-terminated (set by build.rs).
static VERSION: &str = concat!(env!("SIMPLE_TORCH_LIBTORCH_VERSION"), "\0");

/// True when libtorch is loaded and can run an operation.
#[no_mangle]
pub extern "C" fn rt_torch_available() -> bool {
    static USABLE: OnceLock<bool> = OnceLock::new();
    guard("rt_torch_available", false, || {
        Ok(*USABLE.get_or_init(|| Tensor::f_zeros([1], (Kind::Float, Device::Cpu)).is_ok()))
    })
}

/// The libtorch version, e.g. "2.11.0": a static string, never freed.
#[no_mangle]
pub extern "C" fn rt_torch_version() -> *const c_char {
    error::clear();
    VERSION.as_ptr().cast()
}

/// True when libtorch sees at least one CUDA device.
#[no_mangle]
pub extern "C" fn rt_torch_cuda_available() -> bool {
    guard("rt_torch_cuda_available", false, || Ok(cuda_device_count() > 0))
}

/// Number of CUDA devices (0 without CUDA), -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_cuda_device_count() -> i32 {
    guard("rt_torch_cuda_device_count", -1, || Ok(cuda_device_count() as i32))
}

/// Tensor handles created and not yet freed.
#[no_mangle]
pub extern "C" fn rt_torch_live_handles() -> i64 {
    guard("rt_torch_live_handles", -1, || Ok(handles::live_count() as i64))
}

/// Message of the calling thread's most recent failed call, or NULL if that call succeeded.
/// Valid until the next call into the library from the same thread.
#[no_mangle]
pub extern "C" fn rt_torch_last_error() -> *const c_char {
    error::last()
}

/// Kind of the calling thread's most recent error (`RT_TORCH_ERROR_*`), `RT_TORCH_ERROR_NONE`
/// if that call succeeded.
#[no_mangle]
pub extern "C" fn rt_torch_last_error_kind() -> i32 {
    error::last_kind()
}

/// Clears the calling thread's error message.
#[no_mangle]
pub extern "C" fn rt_torch_clear_error() {
    error::clear()
}

/// Seeds libtorch's default random generators, on the CPU and every GPU, as `torch.manual_seed`:
/// the same seed gives the same numbers as PyTorch's.
#[no_mangle]
pub extern "C" fn rt_torch_manual_seed(seed: u64) {
    guard("rt_torch_manual_seed", (), || {
        tch::manual_seed(seed as i64);
        Ok(())
    })
}
