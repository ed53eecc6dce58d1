//! Random generators: `at::Generator` objects made and freed by rust/ops.cpp, each with its own
//! seed and state, for the `generator=` argument of random operators (`torch.Generator`).

use std::ffi::c_void;

use crate::abi::ops::cpp_error;
use crate::codes::device_from_code;
use crate::error::Result;

extern "C" {
    fn simple_torch_generator_create(device: i32, out: *mut *mut c_void) -> i64;
    fn simple_torch_generator_free(generator: *mut c_void);
    fn simple_torch_generator_seed(generator: *mut c_void, what: i32, seed: *mut u64) -> i64;
    fn simple_torch_generator_device(generator: *mut c_void) -> i32;
}

/// An owned `at::Generator*`.
pub struct Generator(*mut c_void);

// SAFETY: at::Generator is a shared handle to a GeneratorImpl whose state libtorch guards with
// the generator's own mutex, which every use here and in libtorch's kernels takes.
unsafe impl Send for Generator {}
unsafe impl Sync for Generator {}

impl Drop for Generator {
    fn drop(&mut self) {
        unsafe { simple_torch_generator_free(self.0) }
    }
}

/// A C++ status as a result: -1 is the failure rust/ops.cpp recorded.
fn cpp(status: i64) -> Result<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(cpp_error())
    }
}

impl Generator {
    /// A new generator for the device with code `device` (which must exist), seeded with
    /// libtorch's default seed.
    pub fn new(device: i32) -> Result<Generator> {
        device_from_code(device)?;
        let mut pointer = std::ptr::null_mut();
        cpp(unsafe { simple_torch_generator_create(device, &mut pointer) })?;
        Ok(Generator(pointer))
    }

    /// The `at::Generator*`, for the generic operator entry.
    pub fn as_ptr(&self) -> *const c_void {
        self.0
    }

    pub fn manual_seed(&self, seed: u64) -> Result<()> {
        let mut seed = seed;
        cpp(unsafe { simple_torch_generator_seed(self.0, 0, &mut seed) })
    }

    pub fn initial_seed(&self) -> Result<u64> {
        let mut seed = 0;
        cpp(unsafe { simple_torch_generator_seed(self.0, 1, &mut seed) })?;
        Ok(seed)
    }

    /// Seeds from a non-deterministic source, and returns the seed.
    pub fn seed(&self) -> Result<u64> {
        let mut seed = 0;
        cpp(unsafe { simple_torch_generator_seed(self.0, 2, &mut seed) })?;
        Ok(seed)
    }

    pub fn device(&self) -> i32 {
        unsafe { simple_torch_generator_device(self.0) }
    }
}
