//! Checked handles: the registry of live tensors, streams, events, generators, and distributed
//! stores, process groups and works.
//!
//! A handle is an identifier, never an address: callers get a number from a counter that is
//! never reused, and every export looks it up here before doing anything. A freed handle, one
//! freed twice, one of the wrong kind, or an integer the library never handed out is therefore
//! reported, never dereferenced, and a stale handle cannot alias a newer object.

use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use rustc_hash::FxHashMap;
use tch::Tensor;

use crate::error::{Error, Result};
use crate::distributed::{ProcessGroup, Store, Work};
use crate::generators::Generator;
use crate::streams::{Event, Stream};

/// Opaque tensor handle of the C ABI (`TorchTensor*`); a registry key, never dereferenced.
pub struct TorchTensor {
    _opaque: (),
}

/// Opaque stream handle of the C ABI (`TorchStream*`); a registry key, never dereferenced.
pub struct TorchStream {
    _opaque: (),
}

/// Opaque event handle of the C ABI (`TorchEvent*`); a registry key, never dereferenced.
pub struct TorchEvent {
    _opaque: (),
}

/// Opaque random generator handle of the C ABI (`TorchGenerator*`); a registry key, never
/// dereferenced.
pub struct TorchGenerator {
    _opaque: (),
}

/// Opaque distributed store handle of the C ABI (`TorchStore*`): a c10d TCPStore, FileStore or
/// PrefixStore; a registry key, never dereferenced.
pub struct TorchStore {
    _opaque: (),
}

/// Opaque process group handle of the C ABI (`TorchProcessGroup*`); a registry key, never
/// dereferenced.
pub struct TorchProcessGroup {
    _opaque: (),
}

/// Opaque handle of a collective's work (`TorchWork*`); a registry key, never dereferenced.
pub struct TorchWork {
    _opaque: (),
}

/// A tensor as the registry holds it: shared, so that a call in progress keeps its inputs
/// alive even if another thread frees their handles meanwhile.
pub struct SharedTensor(pub Tensor);

// SAFETY: tch marks Tensor Send but not Sync. The exports only run libtorch operations that
// read their inputs and return new tensors, which libtorch allows from many threads at once;
// the one exception, copy_from, writes a tensor's elements (never the Tensor object) as torch's
// copy_ does, and a caller reading those elements meanwhile races as it would in torch.
unsafe impl Sync for SharedTensor {}

enum Object {
    Tensor(Arc<SharedTensor>),
    Stream(Arc<Stream>),
    Event(Arc<Event>),
    Generator(Arc<Generator>),
    Store(Arc<Store>),
    ProcessGroup(Arc<ProcessGroup>),
    Work(Arc<Work>),
}

impl Object {
    fn kind(&self) -> &'static str {
        match self {
            Object::Tensor(_) => "tensor",
            Object::Stream(_) => "stream",
            Object::Event(_) => "event",
            Object::Generator(_) => "generator",
            Object::Store(_) => "store",
            Object::ProcessGroup(_) => "process group",
            Object::Work(_) => "work",
        }
    }
}

/// First handle value handed out: keeps small integers (0, 1, -1, ...) recognisably invalid.
const FIRST_HANDLE: u64 = 0x1000;

/// Independent locks, so that threads working on different handles rarely wait for each other;
/// consecutive handles fall into consecutive shards.
const SHARDS: usize = 64;

type Shard = Mutex<FxHashMap<u64, Object>>;

struct Registry {
    next: AtomicU64,
    shards: [Shard; SHARDS],
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
    next: AtomicU64::new(FIRST_HANDLE),
    shards: std::array::from_fn(|_| Mutex::new(FxHashMap::default())),
});

fn shard(id: u64) -> MutexGuard<'static, FxHashMap<u64, Object>> {
    // Only map operations run under the lock, so it is never poisoned in practice; if it were,
    // the map itself is still consistent: keep serving rather than fail forever.
    let shard = &REGISTRY.shards[(id % SHARDS as u64) as usize];
    shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn insert(object: Object) -> u64 {
    let id = REGISTRY.next.fetch_add(1, Ordering::Relaxed);
    shard(id).insert(id, object);
    id
}

/// Registers `tensor` and returns its new handle.
pub fn register_tensor(tensor: Tensor) -> *mut TorchTensor {
    insert(Object::Tensor(Arc::new(SharedTensor(tensor)))) as usize as *mut TorchTensor
}

/// Registers `stream` and returns its new handle.
pub fn register_stream(stream: Stream) -> *mut TorchStream {
    insert(Object::Stream(Arc::new(stream))) as usize as *mut TorchStream
}

/// Registers `event` and returns its new handle.
pub fn register_event(event: Event) -> *mut TorchEvent {
    insert(Object::Event(Arc::new(event))) as usize as *mut TorchEvent
}

/// Registers `generator` and returns its new handle.
pub fn register_generator(generator: Generator) -> *mut TorchGenerator {
    insert(Object::Generator(Arc::new(generator))) as usize as *mut TorchGenerator
}

/// Registers `store` and returns its new handle.
pub fn register_store(store: Store) -> *mut TorchStore {
    insert(Object::Store(Arc::new(store))) as usize as *mut TorchStore
}

/// Registers `group` and returns its new handle.
pub fn register_process_group(group: ProcessGroup) -> *mut TorchProcessGroup {
    insert(Object::ProcessGroup(Arc::new(group))) as usize as *mut TorchProcessGroup
}

/// Registers `work` and returns its new handle.
pub fn register_work(work: Work) -> *mut TorchWork {
    insert(Object::Work(Arc::new(work))) as usize as *mut TorchWork
}

/// The object of the expected kind behind handle `id`, or an error saying why there is none.
fn lookup<T>(id: u64, expected: &str, pick: impl Fn(&Object) -> Option<&Arc<T>>) -> Result<Arc<T>> {
    let shard = shard(id);
    let found = shard.get(&id);
    found.and_then(&pick).map(Arc::clone).ok_or_else(|| not_live(id, expected, found))
}

/// The live tensor behind `handle`, or an error saying why there is none.
pub fn tensor(handle: *const TorchTensor) -> Result<Arc<SharedTensor>> {
    lookup(handle as usize as u64, "tensor", |object| match object {
        Object::Tensor(tensor) => Some(tensor),
        _ => None,
    })
}

/// The live stream behind `handle`, or an error saying why there is none.
pub fn stream(handle: *const TorchStream) -> Result<Arc<Stream>> {
    lookup(handle as usize as u64, "stream", |object| match object {
        Object::Stream(stream) => Some(stream),
        _ => None,
    })
}

/// The live event behind `handle`, or an error saying why there is none.
pub fn event(handle: *const TorchEvent) -> Result<Arc<Event>> {
    lookup(handle as usize as u64, "event", |object| match object {
        Object::Event(event) => Some(event),
        _ => None,
    })
}

/// The live generator behind `handle`, or an error saying why there is none.
pub fn generator(handle: *const TorchGenerator) -> Result<Arc<Generator>> {
    lookup(handle as usize as u64, "generator", |object| match object {
        Object::Generator(generator) => Some(generator),
        _ => None,
    })
}

/// The live store behind `handle`, or an error saying why there is none.
pub fn store(handle: *const TorchStore) -> Result<Arc<Store>> {
    lookup(handle as usize as u64, "store", |object| match object {
        Object::Store(store) => Some(store),
        _ => None,
    })
}

/// The live process group behind `handle`, or an error saying why there is none.
pub fn process_group(handle: *const TorchProcessGroup) -> Result<Arc<ProcessGroup>> {
    lookup(handle as usize as u64, "process group", |object| match object {
        Object::ProcessGroup(group) => Some(group),
        _ => None,
    })
}

/// The live work behind `handle`, or an error saying why there is none.
pub fn work(handle: *const TorchWork) -> Result<Arc<Work>> {
    lookup(handle as usize as u64, "work", |object| match object {
        Object::Work(work) => Some(work),
        _ => None,
    })
}

/// Removes a store handle; the store (a TCPStore's connection) closes once no call in progress
/// or group uses it.
pub fn release_store(handle: *mut TorchStore) -> Result<()> {
    release(handle as usize as u64, "store")
}

/// Removes a process group handle; the group shuts down once no call in progress uses it.
pub fn release_process_group(handle: *mut TorchProcessGroup) -> Result<()> {
    release(handle as usize as u64, "process group")
}

/// Removes a work handle (the collective itself carries on).
pub fn release_work(handle: *mut TorchWork) -> Result<()> {
    release(handle as usize as u64, "work")
}

/// Removes a generator handle; the generator is destroyed once no call in progress uses it.
pub fn release_generator(handle: *mut TorchGenerator) -> Result<()> {
    release(handle as usize as u64, "generator")
}

/// Removes a tensor handle; the tensor is released once no call in progress still uses it.
pub fn release_tensor(handle: *mut TorchTensor) -> Result<()> {
    release(handle as usize as u64, "tensor")
}

/// Removes a stream handle.
pub fn release_stream(handle: *mut TorchStream) -> Result<()> {
    release(handle as usize as u64, "stream")
}

/// Removes an event handle; the event is destroyed once no call in progress still uses it.
pub fn release_event(handle: *mut TorchEvent) -> Result<()> {
    release(handle as usize as u64, "event")
}

fn release(id: u64, kind: &str) -> Result<()> {
    let removed = {
        let mut shard = shard(id);
        match shard.entry(id) {
            Entry::Occupied(entry) if entry.get().kind() == kind => entry.remove(),
            Entry::Occupied(entry) => return Err(not_live(id, kind, Some(entry.get()))),
            Entry::Vacant(_) => return Err(not_live(id, kind, None)),
        }
    };
    // Dropped here, outside the lock: releasing device memory can take a while.
    drop(removed);
    Ok(())
}

/// Number of handles not yet freed, of every kind.
pub fn live_count() -> usize {
    (0..SHARDS as u64).map(|id| shard(id).len()).sum()
}

fn not_live(id: u64, expected: &str, found: Option<&Object>) -> Error {
    let issued = REGISTRY.next.load(Ordering::Relaxed);
    Error::handle(match found {
        Some(object) => format!("{id:#x} is {} handle, not {} handle", article(object.kind()), article(expected)),
        None if id == 0 => format!("the {expected} handle is NULL"),
        None if (FIRST_HANDLE..issued).contains(&id) => format!("{expected} handle {id:#x} was already freed"),
        None => format!("{id:#x} is not a {expected} handle returned by simple_torch"),
    })
}

/// "a tensor", "an event".
fn article(kind: &str) -> String {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {kind}")
    } else {
        format!("a {kind}")
    }
}
