//! The ABI's integer codes for dtypes and devices (ABI.md, "Codes"), mapped explicitly: tch
//! keeps its own `Kind`/`Device` integers private.

use tch::{Cuda, Device, Kind, Tensor};

use crate::error::{Error, Result};

/// Device code of the CPU; `N >= 0` is `cuda:N`.
pub const RT_TORCH_DEVICE_CPU: i32 = -1;

/// Bit 62 of a tensor handle: the tensor is on the CPU and its storage holds at most 64 KiB, so
/// a host may batch its release (`rt_torch_torchtensor_finalize_many`) without holding much
/// memory; other tensors are best released at once.
pub const RT_TORCH_HANDLE_DEFERRABLE: u64 = 0x4000_0000_0000_0000;

/// dtype code of uint8 (c10's ScalarType number).
pub const RT_TORCH_DTYPE_UINT8: i32 = 0;
/// dtype code of int8 (c10's ScalarType number).
pub const RT_TORCH_DTYPE_INT8: i32 = 1;
/// dtype code of int16 (c10's ScalarType number).
pub const RT_TORCH_DTYPE_INT16: i32 = 2;
/// dtype code of int32 (c10's ScalarType number).
pub const RT_TORCH_DTYPE_INT32: i32 = 3;
/// dtype code of int64 (c10's ScalarType number).
pub const RT_TORCH_DTYPE_INT64: i32 = 4;
/// dtype code of float16 (c10's ScalarType number).
pub const RT_TORCH_DTYPE_FLOAT16: i32 = 5;
/// dtype code of float32 (c10's ScalarType number).
pub const RT_TORCH_DTYPE_FLOAT32: i32 = 6;
/// dtype code of float64 (c10's ScalarType number).
pub const RT_TORCH_DTYPE_FLOAT64: i32 = 7;
/// dtype code of complex64 (c10's ScalarType number).
pub const RT_TORCH_DTYPE_COMPLEX64: i32 = 9;
/// dtype code of complex128 (c10's ScalarType number).
pub const RT_TORCH_DTYPE_COMPLEX128: i32 = 10;
/// dtype code of bool (c10's ScalarType number).
pub const RT_TORCH_DTYPE_BOOL: i32 = 11;
/// dtype code of bfloat16 (c10's ScalarType number).
pub const RT_TORCH_DTYPE_BFLOAT16: i32 = 15;

const DTYPES: [(i32, Kind, &str); 12] = [
    (RT_TORCH_DTYPE_UINT8, Kind::Uint8, "uint8"),
    (RT_TORCH_DTYPE_INT8, Kind::Int8, "int8"),
    (RT_TORCH_DTYPE_INT16, Kind::Int16, "int16"),
    (RT_TORCH_DTYPE_INT32, Kind::Int, "int32"),
    (RT_TORCH_DTYPE_INT64, Kind::Int64, "int64"),
    (RT_TORCH_DTYPE_FLOAT16, Kind::Half, "float16"),
    (RT_TORCH_DTYPE_FLOAT32, Kind::Float, "float32"),
    (RT_TORCH_DTYPE_FLOAT64, Kind::Double, "float64"),
    (RT_TORCH_DTYPE_COMPLEX64, Kind::ComplexFloat, "complex64"),
    (RT_TORCH_DTYPE_COMPLEX128, Kind::ComplexDouble, "complex128"),
    (RT_TORCH_DTYPE_BOOL, Kind::Bool, "bool"),
    (RT_TORCH_DTYPE_BFLOAT16, Kind::BFloat16, "bfloat16"),
];

pub(crate) fn kind_from_code(code: i32) -> Result<Kind> {
    DTYPES.iter().find(|(c, _, _)| *c == code).map(|(_, kind, _)| *kind).ok_or_else(|| {
        let accepted: Vec<String> = DTYPES.iter().map(|(c, _, name)| format!("{c}={name}")).collect();
        Error::argument(format!("unknown dtype code {code} (accepted: {})", accepted.join(", ")))
    })
}

pub(crate) fn kind_name(kind: Kind) -> String {
    DTYPES.iter().find(|(_, k, _)| *k == kind).map_or_else(|| format!("{kind:?}"), |d| d.2.into())
}

/// Number of CUDA devices libtorch sees (0 without CUDA).
pub(crate) fn cuda_device_count() -> i64 {
    // Cuda::device_count has no fallible form; callers run under `guard`, which catches a panic.
    if Cuda::is_available() {
        Cuda::device_count()
    } else {
        0
    }
}

/// The device that `code` names, checked against the devices this machine has.
pub(crate) fn device_from_code(code: i32) -> Result<Device> {
    match code {
        RT_TORCH_DEVICE_CPU => Ok(Device::Cpu),
        index if index >= 0 => cuda_device(index),
        _ => Err(Error::argument(format!("invalid device code {code} (-1 is the CPU, N >= 0 is cuda:N)"))),
    }
}

/// `cuda:index`, if this machine has it.
pub(crate) fn cuda_device(index: i32) -> Result<Device> {
    if index < 0 {
        return Err(Error::argument(format!("invalid CUDA device index {index} (must be >= 0)")));
    }
    match cuda_device_count() {
        0 => Err(Error::device(format!(
            "cannot use cuda:{index}: CUDA is not available (libtorch found no CUDA device)"
        ))),
        count if i64::from(index) >= count => Err(Error::device(format!(
            "cannot use cuda:{index}: this machine has {count} CUDA device(s), cuda:0 to cuda:{}",
            count - 1
        ))),
        _ => Ok(Device::Cuda(index as usize)),
    }
}

pub(crate) fn device_code(device: Device) -> Result<i32> {
    match device {
        Device::Cpu => Ok(RT_TORCH_DEVICE_CPU),
        Device::Cuda(index) => Ok(index as i32),
        other => Err(Error::device(format!("device {other:?} has no code in the simple_torch ABI"))),
    }
}

pub(crate) fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(index) => format!("cuda:{index}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The names of the dtypes that only operators make (c10's ScalarType numbers, as torch names them).
const OTHER_DTYPES: [(i32, &str); 8] = [
    (8, "complex32"),
    (23, "float8_e5m2"),
    (24, "float8_e4m3fn"),
    (25, "float8_e5m2fnuz"),
    (26, "float8_e4m3fnuz"),
    (27, "uint16"),
    (28, "uint32"),
    (29, "uint64"),
];

/// True for the dtypes simple_torch knows and names: the ABI's twelve and those only operators make.
pub(crate) fn is_known_dtype(code: i32) -> bool {
    DTYPES.iter().any(|(c, _, _)| *c == code) || OTHER_DTYPES.iter().any(|(c, _)| *c == code)
}

/// The name of the dtype with code `code`, as torch names it.
pub(crate) fn dtype_name(code: i32) -> String {
    let known = DTYPES.iter().map(|(c, _, name)| (*c, *name)).chain(OTHER_DTYPES);
    known.into_iter().find(|(c, _)| *c == code).map_or_else(|| format!("dtype {code}"), |(_, name)| name.into())
}

/// A tensor as messages name it, e.g. `float32[2, 3] on cpu`.
pub(crate) fn describe(tensor: &Tensor) -> String {
    let kind = crate::shim::scalar_type(tensor).map_or_else(|_| "undefined".into(), |(code, _)| dtype_name(code));
    format!("{kind}{:?} on {}", tensor.size(), device_name(tensor.device()))
}
