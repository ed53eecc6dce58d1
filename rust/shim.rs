//! Calling rust/shim.cpp, whose functions report a C++ exception as -1 plus its message.

use std::ffi::{c_char, c_int, CStr};

/// Calls a shim function with an error buffer; a -1 becomes the C++ message.
pub fn call(f: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<(), String> {
    let mut error = [0 as c_char; 1024];
    if f(error.as_mut_ptr(), error.len()) == 0 {
        return Ok(());
    }
    Err(unsafe { CStr::from_ptr(error.as_ptr()) }.to_string_lossy().into_owned())
}
