//! The exported `rt_torch_*` functions, grouped as ABI.md groups them.
//!
//! Every export runs its body under [`crate::error::guard`] and looks its handles up in
//! [`crate::handles`]; exports that read or write caller memory through raw pointers are
//! `unsafe` and say what they need in a `# Safety` section.

pub mod autograd;
pub mod creation;
pub mod devices;
pub mod distributed;
pub mod dlpack;
pub mod generators;
pub mod graphs;
pub mod library;
pub mod memory;
pub mod methods;
pub mod ops;
pub mod properties;
pub mod streams;
