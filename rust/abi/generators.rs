//! Random generators, as `torch.Generator`: each has its own seed and state, and goes to random
//! operators as their `generator` argument (`RT_TORCH_VALUE_GENERATOR`).

use std::panic::catch_unwind;
use std::ptr::null_mut;

use crate::error::{guard, Error};
use crate::generators::Generator;
use crate::handles::{generator, register_generator, release_generator, TorchGenerator};

/// A new random generator on the device with code `device` (-1 the CPU, N `cuda:N`), seeded with
/// libtorch's default seed. NULL on error (e.g. a GPU this machine lacks).
#[no_mangle]
pub extern "C" fn rt_torch_generator_create(device: i32) -> *mut TorchGenerator {
    guard("rt_torch_generator_create", null_mut(), || Ok(register_generator(Generator::new(device)?)))
}

/// Sets the generator's seed (its state starts again from it). False on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchgenerator_manual_seed(g: *const TorchGenerator, seed: u64) -> bool {
    guard("rt_torch_torchgenerator_manual_seed", false, || generator(g)?.manual_seed(seed).map(|()| true))
}

/// Writes the seed the generator was last seeded with to `*out`. False on error.
///
/// # Safety
/// `out` must be NULL (an error) or point to a writable `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchgenerator_initial_seed(g: *const TorchGenerator, out: *mut u64) -> bool {
    guard("rt_torch_torchgenerator_initial_seed", false, || {
        let seed = generator(g)?.initial_seed()?;
        if out.is_null() {
            return Err(Error::argument("out is NULL"));
        }
        unsafe { *out = seed };
        Ok(true)
    })
}

/// Seeds the generator from a non-deterministic source and writes that seed to `*out`. False on
/// error.
///
/// # Safety
/// `out` must be NULL (an error) or point to a writable `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchgenerator_seed(g: *const TorchGenerator, out: *mut u64) -> bool {
    guard("rt_torch_torchgenerator_seed", false, || {
        let generator = generator(g)?;
        if out.is_null() {
            return Err(Error::argument("out is NULL"));
        }
        let seed = generator.seed()?;
        unsafe { *out = seed };
        Ok(true)
    })
}

/// The generator's device code (-1 the CPU, N `cuda:N`); -2 on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchgenerator_device(g: *const TorchGenerator) -> i32 {
    guard("rt_torch_torchgenerator_device", -2, || Ok(generator(g)?.device()))
}

/// Releases a generator handle. NULL is a no-op; a freed or unknown handle records an error.
#[no_mangle]
pub extern "C" fn rt_torch_torchgenerator_free(g: *mut TorchGenerator) {
    guard("rt_torch_torchgenerator_free", (), || if g.is_null() { Ok(()) } else { release_generator(g) })
}

/// Releases a generator handle as `_free` does, leaving the error slot alone and ignoring bad
/// handles: for finalizers.
#[no_mangle]
pub extern "C" fn rt_torch_torchgenerator_finalize(g: *mut TorchGenerator) {
    if !g.is_null() {
        let _ = catch_unwind(|| release_generator(g));
    }
}
