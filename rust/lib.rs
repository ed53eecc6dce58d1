//! simple-torch: libtorch through a plain, checked C ABI.
//!
//! Layer 1 of four (README.md): `rt_torch_*` functions over opaque tensor handles, as
//! `../shared/ABI.md` specifies. Handles are registry keys ([`handles`]), never addresses;
//! every export reports failure through a sentinel result plus a per-thread message
//! ([`error`]) and never unwinds or aborts.

pub mod abi;
mod codes;
mod error;
pub mod handles;

pub use abi::creation::*;
pub use abi::devices::*;
pub use abi::library::*;
pub use abi::memory::*;
pub use abi::methods::*;
pub use abi::properties::*;
pub use codes::*;
pub use handles::TorchTensor;
