//! Creating tensors: filled, random, or copied from caller memory.

use std::ptr::null_mut;
use std::slice;

use tch::{Kind, Tensor, TchError};

use crate::codes::{self, RT_TORCH_DEVICE_CPU as CPU, RT_TORCH_DTYPE_FLOAT32 as FLOAT32};
use crate::error::{guard, Error, Result};
use crate::handles::{register_tensor, TorchTensor};

/// libtorch's own limit on the number of dimensions.
const MAX_NDIM: i64 = 64;

/// The caller's `(dims, ndim)` as a slice: a count libtorch allows, and no NULL.
///
/// # Safety
/// `dims` must point to `ndim` readable `int64_t` (or may be NULL when `ndim` is 0).
pub(crate) unsafe fn dims_slice<'a>(dims: *const i64, ndim: i64) -> Result<&'a [i64]> {
    if !(0..=MAX_NDIM).contains(&ndim) {
        return Err(Error::argument(format!("ndim must be between 0 and {MAX_NDIM}, got {ndim}")));
    }
    if ndim == 0 {
        return Ok(&[]);
    }
    if dims.is_null() {
        return Err(Error::argument(format!("dims is NULL but ndim is {ndim}")));
    }
    Ok(slice::from_raw_parts(dims, ndim as usize))
}

/// The caller's dims, checked: a sane count, no negative size, a representable byte count.
///
/// # Safety
/// `dims` must point to `ndim` readable `int64_t` (or may be NULL when `ndim` is 0).
unsafe fn dims_arg<'a>(dims: *const i64, ndim: i64, kind: Kind) -> Result<&'a [i64]> {
    let dims = dims_slice(dims, ndim)?;
    if dims.iter().any(|&d| d < 0) {
        return Err(Error::argument(format!("negative dimension in shape {dims:?}")));
    }
    let element_size = kind.elt_size_in_bytes() as i64;
    let bytes = dims.iter().try_fold(element_size, |acc, &d| acc.checked_mul(d));
    if bytes.is_none() && !dims.contains(&0) {
        return Err(Error::argument(format!("shape {dims:?} of {} is too large to address", codes::kind_name(kind))));
    }
    Ok(dims)
}

type Factory = fn(&[i64], (Kind, tch::Device)) -> std::result::Result<Tensor, TchError>;

/// Shared body of the `zeros`/`ones`/`randn` family.
unsafe fn create(what: &str, factory: Factory, dims: *const i64, ndim: i64, dtype: i32, device: i32) -> Result<*mut TorchTensor> {
    let kind = codes::kind_from_code(dtype)?;
    let dims = dims_arg(dims, ndim, kind)?;
    let device = codes::device_from_code(device)?;
    let tensor = factory(dims, (kind, device)).map_err(|e| {
        Error::libtorch(format_args!("cannot create {what} {}{dims:?} on {}", codes::kind_name(kind), codes::device_name(device)), &e)
    })?;
    Ok(register_tensor(tensor))
}

fn zeros(dims: &[i64], options: (Kind, tch::Device)) -> std::result::Result<Tensor, TchError> {
    Tensor::f_zeros(dims, options)
}

fn ones(dims: &[i64], options: (Kind, tch::Device)) -> std::result::Result<Tensor, TchError> {
    Tensor::f_ones(dims, options)
}

fn randn(dims: &[i64], options: (Kind, tch::Device)) -> std::result::Result<Tensor, TchError> {
    Tensor::f_randn(dims, options)
}

/// A float32 CPU tensor of zeros. NULL on error.
///
/// # Safety
/// `dims` must point to `ndim` readable `int64_t` (or may be NULL when `ndim` is 0).
#[no_mangle]
pub unsafe extern "C" fn rt_torch_tensor_zeros(dims: *const i64, ndim: i64) -> *mut TorchTensor {
    guard("rt_torch_tensor_zeros", null_mut(), || create("zeros", zeros, dims, ndim, FLOAT32, CPU))
}

/// A float32 CPU tensor of ones. NULL on error.
///
/// # Safety
/// As [`rt_torch_tensor_zeros`].
#[no_mangle]
pub unsafe extern "C" fn rt_torch_tensor_ones(dims: *const i64, ndim: i64) -> *mut TorchTensor {
    guard("rt_torch_tensor_ones", null_mut(), || create("ones", ones, dims, ndim, FLOAT32, CPU))
}

/// A float32 CPU tensor of standard normal samples. NULL on error.
///
/// # Safety
/// As [`rt_torch_tensor_zeros`].
#[no_mangle]
pub unsafe extern "C" fn rt_torch_tensor_randn(dims: *const i64, ndim: i64) -> *mut TorchTensor {
    guard("rt_torch_tensor_randn", null_mut(), || create("randn", randn, dims, ndim, FLOAT32, CPU))
}

/// Zeros of the given dtype code on the given device code. NULL on error.
///
/// # Safety
/// As [`rt_torch_tensor_zeros`].
#[no_mangle]
pub unsafe extern "C" fn rt_torch_tensor_zeros_opts(dims: *const i64, ndim: i64, dtype: i32, device: i32) -> *mut TorchTensor {
    guard("rt_torch_tensor_zeros_opts", null_mut(), || create("zeros", zeros, dims, ndim, dtype, device))
}

/// Ones of the given dtype code on the given device code. NULL on error.
///
/// # Safety
/// As [`rt_torch_tensor_zeros`].
#[no_mangle]
pub unsafe extern "C" fn rt_torch_tensor_ones_opts(dims: *const i64, ndim: i64, dtype: i32, device: i32) -> *mut TorchTensor {
    guard("rt_torch_tensor_ones_opts", null_mut(), || create("ones", ones, dims, ndim, dtype, device))
}

/// Standard normal samples of the given (floating) dtype code on the given device code. NULL on error.
///
/// # Safety
/// As [`rt_torch_tensor_zeros`].
#[no_mangle]
pub unsafe extern "C" fn rt_torch_tensor_randn_opts(dims: *const i64, ndim: i64, dtype: i32, device: i32) -> *mut TorchTensor {
    guard("rt_torch_tensor_randn_opts", null_mut(), || create("randn", randn, dims, ndim, dtype, device))
}

/// A new CPU tensor holding a copy of caller memory: C-contiguous elements of `dtype`.
/// NULL on error.
///
/// # Safety
/// `dims` as [`rt_torch_tensor_zeros`]; `data` must point to the product of `dims` readable
/// elements of `dtype` (or may be NULL when that product is 0).
#[no_mangle]
pub unsafe extern "C" fn rt_torch_tensor_from_data(data: *const std::ffi::c_void, dims: *const i64, ndim: i64, dtype: i32) -> *mut TorchTensor {
    guard("rt_torch_tensor_from_data", null_mut(), || {
        let kind = codes::kind_from_code(dtype)?;
        let dims = dims_arg(dims, ndim, kind)?;
        let nbytes = dims.iter().product::<i64>() as usize * kind.elt_size_in_bytes();
        let bytes: &[u8] = match (nbytes, data.is_null()) {
            (0, _) => &[],
            (_, true) => return Err(Error::argument(format!("data is NULL but shape {dims:?} needs {nbytes} bytes"))),
            (_, false) => slice::from_raw_parts(data.cast(), nbytes),
        };
        Ok(register_tensor(Tensor::f_from_data_size(bytes, dims, kind)?))
    })
}
