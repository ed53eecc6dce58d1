//! simple-torch: libtorch through a plain, checked C ABI.
//!
//! Layer 1 of four (README.md): `rt_torch_*` functions over opaque tensor, stream, event, generator and distributed (store, process group, work) handles, as
//! `../shared/ABI.md` specifies. Handles are registry keys ([`handles`]), never addresses;
//! every export reports failure through a sentinel result plus a per-thread message
//! ([`error`]) and never unwinds or aborts.

pub mod abi;
mod codes;
mod cuda;
mod cuda_graphs;
mod distributed;
mod dlpack;
mod error;
mod generators;
pub mod handles;
mod shim;
mod streams;

pub use abi::autograd::*;
pub use abi::creation::*;
pub use abi::distributed::*;
pub use abi::devices::*;
pub use abi::dlpack::*;
pub use abi::generators::*;
pub use abi::graphs::*;
pub use abi::library::*;
pub use abi::memory::*;
pub use abi::methods::*;
pub use abi::ops::*;
pub use abi::properties::*;
pub use abi::streams::*;
pub use codes::*;
pub use error::{
    RT_TORCH_ERROR_ARGUMENT, RT_TORCH_ERROR_DEVICE, RT_TORCH_ERROR_HANDLE, RT_TORCH_ERROR_INDEX, RT_TORCH_ERROR_INTERNAL,
    RT_TORCH_ERROR_DISTRIBUTED, RT_TORCH_ERROR_NONE, RT_TORCH_ERROR_NOT_IMPLEMENTED, RT_TORCH_ERROR_OUT_OF_MEMORY, RT_TORCH_ERROR_TYPE,
};
pub use handles::{TorchCudaGraph, TorchEvent, TorchGenerator, TorchProcessGroup, TorchStore, TorchStream, TorchTensor, TorchWork};
