//! The ABI's integer codes for dtypes and devices (ABI.md, "Codes"), mapped explicitly: tch
//! keeps its own `Kind`/`Device` integers private.

use tch::{Cuda, Device, Kind, Tensor};

use crate::error::{Error, Result};

/// Device code of the CPU; `N >= 0` is `cuda:N`.
pub const CPU: i32 = -1;

/// dtype codes accepted by the ABI: c10's ScalarType numbers.
const DTYPES: [(i32, Kind, &str); 12] = [
    (0, Kind::Uint8, "uint8"),
    (1, Kind::Int8, "int8"),
    (2, Kind::Int16, "int16"),
    (3, Kind::Int, "int32"),
    (4, Kind::Int64, "int64"),
    (5, Kind::Half, "float16"),
    (6, Kind::Float, "float32"),
    (7, Kind::Double, "float64"),
    (9, Kind::ComplexFloat, "complex64"),
    (10, Kind::ComplexDouble, "complex128"),
    (11, Kind::Bool, "bool"),
    (15, Kind::BFloat16, "bfloat16"),
];

pub fn kind_from_code(code: i32) -> Result<Kind> {
    DTYPES.iter().find(|(c, _, _)| *c == code).map(|(_, kind, _)| *kind).ok_or_else(|| {
        let accepted: Vec<String> = DTYPES.iter().map(|(c, _, name)| format!("{c}={name}")).collect();
        Error(format!("unknown dtype code {code} (accepted: {})", accepted.join(", ")))
    })
}

pub fn kind_code(kind: Kind) -> Result<i32> {
    DTYPES
        .iter()
        .find(|(_, k, _)| *k == kind)
        .map(|(code, _, _)| *code)
        .ok_or_else(|| Error(format!("dtype {kind:?} has no code in the simple_torch ABI")))
}

pub fn kind_name(kind: Kind) -> String {
    DTYPES.iter().find(|(_, k, _)| *k == kind).map_or_else(|| format!("{kind:?}"), |d| d.2.into())
}

/// Number of CUDA devices libtorch sees (0 without CUDA).
pub fn cuda_device_count() -> i64 {
    // Cuda::device_count has no fallible form; callers run under `guard`, which catches a panic.
    if Cuda::is_available() {
        Cuda::device_count()
    } else {
        0
    }
}

/// The device that `code` names, checked against the devices this machine has.
pub fn device_from_code(code: i32) -> Result<Device> {
    match code {
        CPU => Ok(Device::Cpu),
        index if index >= 0 => cuda_device(index),
        _ => Err(Error(format!("invalid device code {code} (-1 is the CPU, N >= 0 is cuda:N)"))),
    }
}

/// `cuda:index`, if this machine has it.
pub fn cuda_device(index: i32) -> Result<Device> {
    if index < 0 {
        return Err(Error(format!("invalid CUDA device index {index} (must be >= 0)")));
    }
    match cuda_device_count() {
        0 => Err(Error(format!(
            "cannot use cuda:{index}: CUDA is not available (libtorch found no CUDA device)"
        ))),
        count if i64::from(index) >= count => Err(Error(format!(
            "cannot use cuda:{index}: this machine has {count} CUDA device(s), cuda:0 to cuda:{}",
            count - 1
        ))),
        _ => Ok(Device::Cuda(index as usize)),
    }
}

pub fn device_code(device: Device) -> Result<i32> {
    match device {
        Device::Cpu => Ok(CPU),
        Device::Cuda(index) => Ok(index as i32),
        other => Err(Error(format!("device {other:?} has no code in the simple_torch ABI"))),
    }
}

pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(index) => format!("cuda:{index}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// A tensor as messages name it, e.g. `float32[2, 3] on cpu`.
pub fn describe(tensor: &Tensor) -> String {
    let kind = tensor.f_kind().map_or_else(|_| "undefined".into(), kind_name);
    format!("{kind}{:?} on {}", tensor.size(), device_name(tensor.device()))
}
