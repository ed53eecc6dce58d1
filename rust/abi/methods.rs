//! Operations on tensors. Each returns a new handle and leaves its arguments valid.

use std::ptr::null_mut;

use tch::{Kind, TchError, Tensor};

use crate::abi::creation::dims_slice;
use crate::codes::{describe, kind_from_code, kind_name};
use crate::error::{guard, Error, Result};
use crate::handles::{register_tensor, tensor, TorchTensor};

/// What a libtorch operation gives: a new tensor, or libtorch's error.
type Computed = std::result::Result<Tensor, TchError>;
type Binary = fn(&Tensor, &Tensor) -> Computed;
type Unary = fn(&Tensor) -> Computed;

fn binary(op: Binary, h: *const TorchTensor, other: *const TorchTensor) -> Result<*mut TorchTensor> {
    let (a, b) = (tensor(h)?, tensor(other)?);
    let result = op(&a.0, &b.0)
        .map_err(|e| Error::libtorch(format_args!("{} with {}", describe(&a.0), describe(&b.0)), &e))?;
    Ok(register_tensor(result))
}

fn unary(op: Unary, h: *const TorchTensor) -> Result<*mut TorchTensor> {
    apply(&tensor(h)?.0, op, |a| a)
}

/// A handle to `op(a)`; a libtorch error is prefixed with `context` of `a` described.
fn apply(a: &Tensor, op: impl FnOnce(&Tensor) -> Computed, context: impl FnOnce(String) -> String) -> Result<*mut TorchTensor> {
    let result = op(a).map_err(|e| Error::libtorch(context(describe(a)), &e))?;
    Ok(register_tensor(result))
}

/// Element-wise `h + other`, broadcasting. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_add(h: *const TorchTensor, other: *const TorchTensor) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_add", null_mut(), || binary(Tensor::f_add, h, other))
}

/// Element-wise `h - other`, broadcasting. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_sub(h: *const TorchTensor, other: *const TorchTensor) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_sub", null_mut(), || binary(Tensor::f_sub, h, other))
}

/// Element-wise `h * other`, broadcasting. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_mul(h: *const TorchTensor, other: *const TorchTensor) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_mul", null_mut(), || binary(Tensor::f_mul, h, other))
}

/// Element-wise true division `h / other`, broadcasting. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_div(h: *const TorchTensor, other: *const TorchTensor) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_div", null_mut(), || binary(Tensor::f_div, h, other))
}

/// Matrix product with `torch.matmul`'s rules for 1-d and batched operands. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_matmul(h: *const TorchTensor, other: *const TorchTensor) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_matmul", null_mut(), || binary(Tensor::f_matmul, h, other))
}

/// `max(h, 0)` element-wise. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_relu(h: *const TorchTensor) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_relu", null_mut(), || unary(Tensor::f_relu, h))
}

/// Logistic sigmoid element-wise. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_sigmoid(h: *const TorchTensor) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_sigmoid", null_mut(), || unary(Tensor::f_sigmoid, h))
}

/// Hyperbolic tangent element-wise. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_tanh(h: *const TorchTensor) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_tanh", null_mut(), || unary(Tensor::f_tanh, h))
}

/// Softmax along `dim` (negative counts from the end). NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_softmax(h: *const TorchTensor, dim: i64) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_softmax", null_mut(), || {
        apply(&tensor(h)?.0, |a| a.f_softmax(dim, None::<Kind>), |a| format!("softmax over dim {dim} of {a}"))
    })
}

/// A copy with its own memory, on the same device. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_clone(h: *const TorchTensor) -> *mut TorchTensor {
    // detach_copy is torch.clone for tensors without autograd history, which is all of ours.
    guard("rt_torch_torchtensor_clone", null_mut(), || unary(Tensor::f_detach_copy, h))
}

/// The tensor converted to the dtype with code `dtype`; the same memory if it already has that
/// dtype, as torch's `.to(dtype)`. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_to_dtype(h: *const TorchTensor, dtype: i32) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_to_dtype", null_mut(), || {
        let a = tensor(h)?;
        let kind = kind_from_code(dtype)?;
        apply(&a.0, |a| a.f_to_kind(kind), |a| format!("cannot convert {a} to {}", kind_name(kind)))
    })
}

/// The tensor with shape `dims` (one size may be -1, inferred): a view of the same memory when
/// the strides allow it, else a copy, as torch's `reshape`. NULL on error.
///
/// # Safety
/// `dims` must point to `ndim` readable `int64_t` (or may be NULL when `ndim` is 0).
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchtensor_reshape(h: *const TorchTensor, dims: *const i64, ndim: i64) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_reshape", null_mut(), || {
        let a = tensor(h)?; // a bad handle is reported before bad dims
        let dims = dims_slice(dims, ndim)?;
        apply(&a.0, |a| a.f_reshape(dims), |a| format!("cannot reshape {a} to {dims:?}"))
    })
}

/// A view of the tensor with dimensions `dim0` and `dim1` swapped (negative counts from the
/// end); it shares the memory and is not contiguous in general. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_transpose(h: *const TorchTensor, dim0: i64, dim1: i64) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_transpose", null_mut(), || {
        apply(&tensor(h)?.0, |a| a.f_transpose(dim0, dim1), |a| format!("cannot transpose dims {dim0} and {dim1} of {a}"))
    })
}
