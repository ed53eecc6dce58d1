//! DLPack: handing tensor memory to other frameworks and taking theirs, without copying.
//!
//! `managed` is a `DLManagedTensorVersioned*` when `versioned` is true and a legacy
//! `DLManagedTensor*` otherwise (dlpack.h). Ownership follows the DLPack protocol: whoever holds
//! a managed tensor calls its deleter exactly once, or hands it on.

use std::ffi::c_void;
use std::ptr::null_mut;

use crate::dlpack;
use crate::error::{guard, Error};
use crate::handles::{register_tensor, tensor, TorchTensor};

/// A new DLPack tensor sharing `h`'s memory; the caller owns it and must hand it to a consumer
/// or call its deleter. The memory stays valid until then, even after `h` is freed. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_to_dlpack(h: *const TorchTensor, versioned: bool) -> *mut c_void {
    guard("rt_torch_torchtensor_to_dlpack", null_mut(), || dlpack::export(&tensor(h)?.0, versioned))
}

/// A tensor over a DLPack tensor's memory, without copying. On success the library owns
/// `managed` and calls its deleter once, when the last tensor using the memory is freed; on
/// error (NULL) the caller still owns it.
///
/// # Safety
/// `managed` must be NULL or point to a live DLPack tensor of the kind `versioned` names.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_tensor_from_dlpack(managed: *mut c_void, versioned: bool) -> *mut TorchTensor {
    guard("rt_torch_tensor_from_dlpack", null_mut(), || {
        if managed.is_null() {
            return Err(Error::argument("managed is NULL"));
        }
        Ok(register_tensor(dlpack::import(managed, versioned)?))
    })
}

/// How many DLPack tensors from rt_torch_torchtensor_to_dlpack are not yet deleted; -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_dlpack_live_exports() -> i64 {
    guard("rt_torch_dlpack_live_exports", -1, || Ok(dlpack::live_exports()))
}

/// The destructor for a CPython `PyCapsule` named "dltensor" or "dltensor_versioned" that holds
/// a DLPack tensor: it calls the tensor's deleter unless a consumer took the capsule (and
/// renamed it, as the protocol says). For Python hosts, which pass its address to
/// `PyCapsule_New`; it finds CPython's API in the running process and does nothing elsewhere.
/// Unlike every other export it leaves the error slot alone, since Python may destroy a capsule
/// between another call and its `rt_torch_last_error()`. NULL is ignored.
///
/// # Safety
/// `capsule` must be NULL or a live `PyCapsule*`, and the caller must hold the GIL.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_dlpack_capsule_destructor(capsule: *mut c_void) {
    if !capsule.is_null() {
        dlpack::capsule_destructor(capsule)
    }
}
