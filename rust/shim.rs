//! Calling rust/shim.cpp, whose functions report a C++ exception as -1 plus its message, and
//! its tensor operations: an in-place copy, and pinning memory.

use std::ffi::{c_char, c_int, c_void, CStr};

/// Calls a shim function with an error buffer; a -1 becomes the C++ message.
pub fn call(f: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<(), String> {
    let mut error = [0 as c_char; 1024];
    if f(error.as_mut_ptr(), error.len()) == 0 {
        return Ok(());
    }
    Err(unsafe { CStr::from_ptr(error.as_ptr()) }.to_string_lossy().into_owned())
}

extern "C" {
    fn simple_torch_pin_memory(tensor: *const c_void, out: *mut *mut c_void, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_is_pinned(tensor: *const c_void, out: *mut i32, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_storage(tensor: *const c_void, data: *mut u64, nbytes: *mut i64, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_to_device(tensor: *const c_void, device: i32, non_blocking: c_int, out: *mut *mut c_void, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_copy_(dst: *const c_void, src: *const c_void, non_blocking: c_int, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_scalar_type(tensor: *const c_void, code: *mut i32, itemsize: *mut i32, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cpu_storage_nbytes(tensor: *const c_void) -> i64;
}

/// The bytes of `tensor`'s storage (all of it, for a view) if it is in CPU memory, `Some(0)` if
/// `tensor` is undefined, None on another device or without a storage.
pub fn cpu_storage_nbytes(tensor: &tch::Tensor) -> Option<u64> {
    // SAFETY: as_ptr() is tch's at::Tensor, alive while `tensor` is borrowed; the shim only
    // reads it and catches every exception.
    let nbytes = unsafe { simple_torch_cpu_storage_nbytes(tensor.as_ptr().cast()) };
    u64::try_from(nbytes).ok()
}

/// The tensor's dtype code (c10's ScalarType number) and element size in bytes, for every dtype
/// (tch's `Kind` lacks uint16/32/64).
pub fn scalar_type(tensor: &tch::Tensor) -> Result<(i32, usize), String> {
    let (mut code, mut itemsize) = (0, 0);
    call(|e, n| unsafe { simple_torch_scalar_type(tensor.as_ptr().cast(), &mut code, &mut itemsize, e, n) })?;
    Ok((code, itemsize as usize))
}

/// `dst.copy_(src, non_blocking)`: writes `src`'s elements into `dst`'s memory (the
/// `at::Tensor` objects themselves are unchanged; in-place methods are const in libtorch).
pub fn copy_into(dst: &tch::Tensor, src: &tch::Tensor, non_blocking: bool) -> Result<(), String> {
    call(|e, n| unsafe { simple_torch_copy_(dst.as_ptr().cast(), src.as_ptr().cast(), non_blocking.into(), e, n) })
}

/// The address where the tensor's storage starts, and its size in bytes.
pub fn storage(tensor: &tch::Tensor) -> Result<(u64, i64), String> {
    let (mut data, mut nbytes) = (0, 0);
    call(|e, n| unsafe { simple_torch_storage(tensor.as_ptr().cast(), &mut data, &mut nbytes, e, n) })?;
    Ok((data, nbytes))
}

/// `tensor.to(device, non_blocking)` for every dtype (`device` -1 the CPU, N `cuda:N`): the same
/// tensor if it is there already, else a copy.
pub fn to_device(tensor: &tch::Tensor, device: i32, non_blocking: bool) -> Result<tch::Tensor, String> {
    let mut moved = std::ptr::null_mut();
    call(|e, n| unsafe { simple_torch_to_device(tensor.as_ptr().cast(), device, non_blocking.into(), &mut moved, e, n) })?;
    Ok(unsafe { tch::Tensor::from_ptr(moved.cast()) })
}

/// A copy of a CPU tensor in pinned memory, for the default accelerator (CUDA).
pub fn pin_memory(tensor: &tch::Tensor) -> Result<tch::Tensor, String> {
    let mut pinned = std::ptr::null_mut();
    call(|e, n| unsafe { simple_torch_pin_memory(tensor.as_ptr().cast(), &mut pinned, e, n) })?;
    // The shim made a new at::Tensor, which is what tch's Tensor owns (and deletes on drop).
    Ok(unsafe { tch::Tensor::from_ptr(pinned.cast()) })
}

pub fn is_pinned(tensor: &tch::Tensor) -> Result<bool, String> {
    let mut pinned = 0;
    call(|e, n| unsafe { simple_torch_is_pinned(tensor.as_ptr().cast(), &mut pinned, e, n) })?;
    Ok(pinned != 0)
}
