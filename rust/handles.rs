//! Checked handles: the registry of live tensors.
//!
//! A handle is an identifier, never an address: callers get a number from a counter that is
//! never reused, and every export looks it up here before doing anything. A freed handle, one
//! freed twice, or an integer the library never handed out is therefore reported, never
//! dereferenced, and a stale handle cannot alias a newer tensor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use tch::Tensor;

use crate::error::{Error, Result};

/// Opaque tensor handle of the C ABI (`TorchTensor*`); a registry key, never dereferenced.
pub struct TorchTensor {
    _opaque: (),
}

/// A tensor as the registry holds it: shared, so that a call in progress keeps its inputs
/// alive even if another thread frees their handles meanwhile.
pub struct SharedTensor(pub Tensor);

// SAFETY: tch marks Tensor Send but not Sync. The exports only run libtorch operations that
// read their inputs and return new tensors, which libtorch allows from many threads at once.
unsafe impl Sync for SharedTensor {}

/// First handle value handed out: keeps small integers (0, 1, -1, ...) recognisably invalid.
const FIRST_HANDLE: u64 = 0x1000;

struct Registry {
    next: AtomicU64,
    live: Mutex<HashMap<u64, Arc<SharedTensor>>>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
    next: AtomicU64::new(FIRST_HANDLE),
    live: Mutex::new(HashMap::new()),
});

fn live() -> MutexGuard<'static, HashMap<u64, Arc<SharedTensor>>> {
    // A panic never happens while the lock is held (only map operations run under it), but if
    // one did, the map itself is still consistent: keep serving rather than fail forever.
    REGISTRY.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Registers `tensor` and returns its new handle.
pub fn register(tensor: Tensor) -> *mut TorchTensor {
    let id = REGISTRY.next.fetch_add(1, Ordering::Relaxed);
    live().insert(id, Arc::new(SharedTensor(tensor)));
    id as usize as *mut TorchTensor
}

/// The live tensor behind `handle`, or an error saying why there is none.
pub fn lookup(handle: *const TorchTensor) -> Result<Arc<SharedTensor>> {
    let id = handle as usize as u64;
    match live().get(&id) {
        Some(tensor) => Ok(Arc::clone(tensor)),
        None => Err(not_live(id)),
    }
}

/// Removes `handle` from the registry; its tensor is released once no call still uses it.
pub fn release(handle: *mut TorchTensor) -> Result<()> {
    let id = handle as usize as u64;
    let removed = live().remove(&id);
    // Dropped here, outside the lock: releasing device memory can take a while.
    removed.map(drop).ok_or_else(|| not_live(id))
}

/// Number of handles not yet freed.
pub fn live_count() -> usize {
    live().len()
}

fn not_live(id: u64) -> Error {
    let issued = REGISTRY.next.load(Ordering::Relaxed);
    if id == 0 {
        Error("the tensor handle is NULL".into())
    } else if (FIRST_HANDLE..issued).contains(&id) {
        Error(format!("tensor handle {id:#x} was already freed"))
    } else {
        Error(format!("{id:#x} is not a tensor handle returned by simple_torch"))
    }
}
