//! Where a tensor lives, and moving it: the seed design's device management, pinned memory
//! and in-place copies.

use std::ptr::null_mut;

use tch::{Device, Tensor};

use crate::codes::{self, describe, device_code, device_name};
use crate::error::{guard, Error, Result};
use crate::handles::{register_tensor, tensor, SharedTensor, TorchTensor};
use crate::{shim, streams};

/// The tensor on `device`: a copy, or the same storage if it is already there.
pub(crate) fn moved(tensor: &SharedTensor, device: Device, non_blocking: bool) -> Result<Tensor> {
    shim::to_device(&tensor.0, device_code(device)?, non_blocking).map_err(|message| {
        let context = format_args!("cannot move {} to {}", describe(&tensor.0), device_name(device));
        Error::libtorch(context, &tch::TchError::Torch(message))
    })
}

/// A handle to the tensor on `device`.
fn move_to(tensor: &SharedTensor, device: Device, non_blocking: bool) -> Result<*mut TorchTensor> {
    Ok(register_tensor(moved(tensor, device, non_blocking)?))
}

/// The tensor on `cuda:device_id`. NULL on error, e.g. without CUDA or with fewer GPUs.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_cuda(h: *const TorchTensor, device_id: i32) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_cuda", null_mut(), || {
        let tensor = tensor(h)?; // a bad handle is the first thing to report
        move_to(&tensor, codes::cuda_device(device_id)?, false)
    })
}

/// The tensor on the CPU. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_cpu(h: *const TorchTensor) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_cpu", null_mut(), || {
        let tensor = tensor(h)?;
        move_to(&tensor, Device::Cpu, false)
    })
}

/// True if the tensor is on a CUDA device; false if not, and false with an error recorded on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_is_cuda(h: *const TorchTensor) -> bool {
    guard("rt_torch_torchtensor_is_cuda", false, || Ok(tensor(h)?.0.device().is_cuda()))
}

/// The tensor's device code: -1 the CPU, N `cuda:N`, -2 on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_device(h: *const TorchTensor) -> i32 {
    guard("rt_torch_torchtensor_device", -2, || device_code(tensor(h)?.0.device()))
}

/// The tensor on the device with code `device`; `non_blocking` lets a copy from pinned memory
/// overlap with the caller. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_to_device(h: *const TorchTensor, device: i32, non_blocking: bool) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_to_device", null_mut(), || {
        let tensor = tensor(h)?;
        move_to(&tensor, codes::device_from_code(device)?, non_blocking)
    })
}

/// Waits until all work queued on the device with code `device` is done, as
/// `torch.cuda.synchronize` does; the CPU (-1) has nothing to wait for. Errors are recorded.
#[no_mangle]
pub extern "C" fn rt_torch_device_synchronize(device: i32) {
    guard("rt_torch_device_synchronize", (), || streams::synchronize_device(device))
}

// ---- transfers ---------------------------------------------------------------------------------

/// A copy of a CPU tensor in pinned (page-locked) memory, from which copies to a GPU can run
/// asynchronously (`non_blocking`). NULL on error, e.g. without CUDA.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_pin_memory(h: *const TorchTensor) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_pin_memory", null_mut(), || {
        let tensor = tensor(h)?;
        if codes::cuda_device_count() == 0 {
            return Err(Error::device(format!(
                "cannot pin {}: CUDA is not available (pinned memory speeds up copies to a GPU)",
                describe(&tensor.0)
            )));
        }
        let pinned = shim::pin_memory(&tensor.0)
            .map_err(|text| Error::libtorch(format_args!("cannot pin {}", describe(&tensor.0)), &tch::TchError::Torch(text)))?;
        Ok(register_tensor(pinned))
    })
}

/// True if the tensor is in pinned CPU memory (never without CUDA); false if not, and false
/// with an error recorded on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_is_pinned(h: *const TorchTensor) -> bool {
    guard("rt_torch_torchtensor_is_pinned", false, || {
        let tensor = tensor(h)?;
        if codes::cuda_device_count() == 0 || tensor.0.device() != Device::Cpu {
            return Ok(false);
        }
        shim::is_pinned(&tensor.0).map_err(|text| Error::from(tch::TchError::Torch(text)))
    })
}

/// Copies `src`'s elements into `dst` in place, as torch's `dst.copy_(src, non_blocking)`:
/// across devices and dtypes, broadcasting `src` to `dst`'s shape. Every handle that shares
/// `dst`'s memory (views, DLPack exports) sees the new values. `non_blocking` lets a copy
/// between pinned memory and a GPU overlap with the caller. True on success, false on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_copy_from(dst: *const TorchTensor, src: *const TorchTensor, non_blocking: bool) -> bool {
    guard("rt_torch_torchtensor_copy_from", false, || {
        let (target, source) = (tensor(dst)?, tensor(src)?);
        shim::copy_into(&target.0, &source.0, non_blocking).map_err(|text| {
            let context = format_args!("cannot copy {} into {}", describe(&source.0), describe(&target.0));
            Error::libtorch(context, &tch::TchError::Torch(text))
        })?;
        Ok(true)
    })
}
