//! What a tensor is (shape, dtype) and reading its elements back.

use std::ffi::c_void;
use std::slice;

use crate::codes::describe;
use crate::error::{guard, Error, Result};
use crate::handles::{tensor, TorchTensor};
use crate::shim;

/// Number of dimensions, -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_ndim(h: *const TorchTensor) -> i64 {
    guard("rt_torch_torchtensor_ndim", -1, || Ok(tensor(h)?.0.dim() as i64))
}

/// Number of elements, -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_numel(h: *const TorchTensor) -> i64 {
    guard("rt_torch_torchtensor_numel", -1, || Ok(tensor(h)?.0.numel() as i64))
}

/// Writes the first `min(ndim, cap)` sizes to `out` and returns ndim; -1 on error.
///
/// # Safety
/// `out` must point to `cap` writable `int64_t` (or may be NULL when `cap` is 0).
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchtensor_shape(h: *const TorchTensor, out: *mut i64, cap: i64) -> i64 {
    guard("rt_torch_torchtensor_shape", -1, || write_dims(&tensor(h)?.0.size(), out, cap))
}

/// Writes the first `min(ndim, cap)` strides (in elements) to `out` and returns ndim; -1 on error.
///
/// # Safety
/// `out` must point to `cap` writable `int64_t` (or may be NULL when `cap` is 0).
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchtensor_strides(h: *const TorchTensor, out: *mut i64, cap: i64) -> i64 {
    guard("rt_torch_torchtensor_strides", -1, || write_dims(&tensor(h)?.0.stride(), out, cap))
}

/// Writes the first `min(values.len(), cap)` of `values` to `out` and returns how many there are.
unsafe fn write_dims(values: &[i64], out: *mut i64, cap: i64) -> Result<i64> {
    if cap < 0 {
        return Err(Error::argument(format!("cap must be >= 0, got {cap}")));
    }
    let written = values.len().min(cap as usize);
    if written > 0 {
        if out.is_null() {
            return Err(Error::argument(format!("out is NULL but cap is {cap}")));
        }
        slice::from_raw_parts_mut(out, written).copy_from_slice(&values[..written]);
    }
    Ok(values.len() as i64)
}

/// The address of the tensor's first element, on its device: NULL for an empty tensor, and
/// NULL with an error recorded on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_data_ptr(h: *const TorchTensor) -> *mut c_void {
    guard("rt_torch_torchtensor_data_ptr", std::ptr::null_mut(), || Ok(tensor(h)?.0.data_ptr()))
}

/// The dtype code (ABI.md, "Codes"), -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_dtype(h: *const TorchTensor) -> i32 {
    guard("rt_torch_torchtensor_dtype", -1, || Ok(shim::scalar_type(&tensor(h)?.0).map_err(Error::argument)?.0))
}

/// Copies the elements, C-contiguous, from any device into `out`; returns the bytes written,
/// or -1 if `nbytes` is too small or on any other error.
///
/// # Safety
/// `out` must point to `nbytes` writable bytes (or may be NULL when the tensor is empty).
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchtensor_copy_to(h: *const TorchTensor, out: *mut c_void, nbytes: i64) -> i64 {
    guard("rt_torch_torchtensor_copy_to", -1, || {
        let tensor = tensor(h)?;
        let numel = tensor.0.numel();
        let needed = numel * shim::scalar_type(&tensor.0).map_err(Error::argument)?.1;
        if nbytes < needed as i64 {
            return Err(Error::argument(format!("buffer of {nbytes} bytes is too small for {} ({needed} bytes)", describe(&tensor.0))));
        }
        if needed > 0 {
            if out.is_null() {
                return Err(Error::argument(format!("out is NULL but {} needs {needed} bytes", describe(&tensor.0))));
            }
            // tch moves the tensor to the CPU and makes it contiguous first when needed; a lazy
            // conjugate or negative bit (x.conj()) is applied first, or the raw memory would be
            // read; a ZeroTensor (autograd's zero gradients) has no memory: it becomes zeros.
            let mut values = tensor.0.f_resolve_conj()?.f_resolve_neg()?;
            if values.f_internal_is_zerotensor()? {
                values = values.f_zeros_like()?;
            }
            values.f_copy_data_u8(slice::from_raw_parts_mut(out.cast(), needed), numel)?;
        }
        Ok(needed as i64)
    })
}

/// Writes where the tensor's storage (the memory it views) starts into `*data` and its size in
/// bytes into `*nbytes`, as torch's `x.untyped_storage()`: tensors that view one storage give
/// the same `*data`. False on error.
///
/// # Safety
/// `data` and `nbytes` must be NULL (an error) or writable.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchtensor_storage(h: *const TorchTensor, data: *mut u64, nbytes: *mut i64) -> bool {
    guard("rt_torch_torchtensor_storage", false, || {
        let t = tensor(h)?;
        if data.is_null() || nbytes.is_null() {
            return Err(Error::argument("data and nbytes must not be NULL"));
        }
        let (start, size) = shim::storage(&t.0).map_err(Error::argument)?;
        unsafe { (*data, *nbytes) = (start, size) };
        Ok(true)
    })
}
