//! DLPack: sharing tensor memory with other frameworks without copying, through libtorch's
//! own conversions (`at::toDLPack`, `at::fromDLPack`) in rust/shim.cpp.

use std::ffi::{c_char, c_int, c_void};
use std::ptr::null_mut;

use tch::Tensor;

use crate::codes::{describe, is_known_dtype};
use crate::error::{without_cpp_trace, Error, Result};
use crate::shim;

extern "C" {
    fn simple_torch_to_dlpack(tensor: *const c_void, versioned: c_int, out: *mut *mut c_void, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_dlpack_scalar_type(managed: *const c_void, versioned: c_int, out: *mut i32, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_from_dlpack(managed: *mut c_void, versioned: c_int, out: *mut *mut c_void, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_dlpack_live_exports() -> i64;
    fn simple_torch_dlpack_capsule_destructor(capsule: *mut c_void);
}

/// A new `DLManagedTensorVersioned*` (or legacy `DLManagedTensor*`) sharing the tensor's memory.
pub fn export(tensor: &Tensor, versioned: bool) -> Result<*mut c_void> {
    let mut managed = null_mut();
    shim::call(|e, n| unsafe { simple_torch_to_dlpack(tensor.as_ptr().cast(), versioned.into(), &mut managed, e, n) })
        .map_err(|text| Error::argument(format!("cannot export {} as DLPack: {}", describe(tensor), without_cpp_trace(&text))))?;
    Ok(managed)
}

/// A tensor that owns `managed` from now on; on error the caller still owns it.
///
/// # Safety
/// `managed` must point to a live `DLManagedTensorVersioned` if `versioned`, else a `DLManagedTensor`.
pub unsafe fn import(managed: *mut c_void, versioned: bool) -> Result<Tensor> {
    let refused = |text: String| Error::argument(format!("cannot import the DLPack tensor: {}", without_cpp_trace(&text)));
    let mut dtype = 0;
    shim::call(|e, n| simple_torch_dlpack_scalar_type(managed, versioned.into(), &mut dtype, e, n)).map_err(refused)?;
    if !is_known_dtype(dtype) {
        return Err(refused(format!("its dtype (c10 ScalarType {dtype}) is not one of simple_torch's dtypes")));
    }
    let mut tensor = null_mut();
    shim::call(|e, n| simple_torch_from_dlpack(managed, versioned.into(), &mut tensor, e, n)).map_err(refused)?;
    // The shim made a new at::Tensor, which is what tch's Tensor owns (and deletes on drop).
    Ok(Tensor::from_ptr(tensor.cast()))
}

/// Exported DLPack tensors whose deleter has not run yet.
pub fn live_exports() -> i64 {
    unsafe { simple_torch_dlpack_live_exports() }
}

/// The destructor of an unconsumed Python capsule holding a DLPack tensor.
///
/// # Safety
/// `capsule` must be a `PyObject*` capsule, called by CPython as its destructor.
pub unsafe fn capsule_destructor(capsule: *mut c_void) {
    simple_torch_dlpack_capsule_destructor(capsule)
}
