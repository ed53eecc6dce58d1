//! Calling rust/shim.cpp, whose functions report a C++ exception as -1 plus its message, and
//! its one tensor operation, an in-place copy.

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
    fn simple_torch_copy_(dst: *const c_void, src: *const c_void, non_blocking: c_int, error: *mut c_char, len: usize) -> c_int;
}

/// `dst.copy_(src, non_blocking)`: writes `src`'s elements into `dst`'s memory (the
/// `at::Tensor` objects themselves are unchanged; in-place methods are const in libtorch).
pub fn copy_into(dst: &tch::Tensor, src: &tch::Tensor, non_blocking: bool) -> Result<(), String> {
    call(|e, n| unsafe { simple_torch_copy_(dst.as_ptr().cast(), src.as_ptr().cast(), non_blocking.into(), e, n) })
}
