//! Operations on tensors. Each returns a new handle and leaves its arguments valid.

use std::ptr::null_mut;

use tch::{Kind, TchError, Tensor};

use crate::codes::describe;
use crate::error::{guard, Error, Result};
use crate::handles::{register_tensor, tensor, TorchTensor};

type Binary = fn(&Tensor, &Tensor) -> std::result::Result<Tensor, TchError>;
type Unary = fn(&Tensor) -> std::result::Result<Tensor, TchError>;

fn binary(op: Binary, h: *const TorchTensor, other: *const TorchTensor) -> Result<*mut TorchTensor> {
    let (a, b) = (tensor(h)?, tensor(other)?);
    let result = op(&a.0, &b.0)
        .map_err(|e| Error::libtorch(format_args!("{} with {}", describe(&a.0), describe(&b.0)), &e))?;
    Ok(register_tensor(result))
}

fn unary(op: Unary, h: *const TorchTensor) -> Result<*mut TorchTensor> {
    let a = tensor(h)?;
    let result = op(&a.0).map_err(|e| Error::libtorch(describe(&a.0), &e))?;
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
        let a = tensor(h)?;
        let result = a.0
            .f_softmax(dim, None::<Kind>)
            .map_err(|e| Error::libtorch(format_args!("softmax over dim {dim} of {}", describe(&a.0)), &e))?;
        Ok(register_tensor(result))
    })
}

/// A copy with its own memory, on the same device. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_clone(h: *const TorchTensor) -> *mut TorchTensor {
    // detach_copy is torch.clone for tensors without autograd history, which is all of ours.
    guard("rt_torch_torchtensor_clone", null_mut(), || unary(Tensor::f_detach_copy, h))
}
