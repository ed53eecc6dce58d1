//! Random generators: `at::Generator` objects made and freed by rust/shim.cpp, each with its own
//! seed and state, for the `generator=` argument of random operators (`torch.Generator`).

use std::ffi::{c_char, c_int, c_void};

use crate::codes::device_from_code;
use crate::error::{Error, Result};
use crate::shim;

extern "C" {
    fn simple_torch_generator_create(device: i32, out: *mut *mut c_void, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_generator_free(generator: *mut c_void);
    fn simple_torch_generator_manual_seed(generator: *mut c_void, seed: u64, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_generator_seed(generator: *mut c_void, fresh: c_int, seed: *mut u64, error: *mut c_char, len: usize) -> c_int;
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

impl Generator {
    /// A new generator for the device with code `device` (which must exist), seeded with
    /// libtorch's default seed.
    pub fn new(device: i32) -> Result<Generator> {
        device_from_code(device)?;
        let mut pointer = std::ptr::null_mut();
        shim::call(|e, n| unsafe { simple_torch_generator_create(device, &mut pointer, e, n) }).map_err(Error::argument)?;
        Ok(Generator(pointer))
    }

    /// The `at::Generator*`, for the generic operator entry.
    pub fn as_ptr(&self) -> *const c_void {
        self.0
    }

    pub fn manual_seed(&self, seed: u64) -> Result<()> {
        shim::call(|e, n| unsafe { simple_torch_generator_manual_seed(self.0, seed, e, n) }).map_err(Error::argument)
    }

    pub fn initial_seed(&self) -> Result<u64> {
        self.read_seed(false)
    }

    /// Seeds from a non-deterministic source, and returns the seed.
    pub fn seed(&self) -> Result<u64> {
        self.read_seed(true)
    }

    fn read_seed(&self, fresh: bool) -> Result<u64> {
        let mut seed = 0;
        shim::call(|e, n| unsafe { simple_torch_generator_seed(self.0, fresh.into(), &mut seed, e, n) }).map_err(Error::argument)?;
        Ok(seed)
    }

    pub fn device(&self) -> i32 {
        unsafe { simple_torch_generator_device(self.0) }
    }
}
