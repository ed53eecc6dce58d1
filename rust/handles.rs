//! Checked handles: the registry of live tensors, streams, events, generators, CUDA graphs, and
//! distributed stores, process groups and works.
//!
//! A handle is an identifier, never an address: every export looks it up here before doing
//! anything, so a freed handle, one freed twice, one of the wrong kind, or an integer the library
//! never handed out is reported, never dereferenced.
//!
//! Objects live in slots, and a handle names a slot and one of its generations:
//!
//! | bits   | meaning                                                                   |
//! |--------|---------------------------------------------------------------------------|
//! | 0..32  | the slot's index + 1 (never 0)                                            |
//! | 32..62 | the slot's generation when the handle was issued (from 1)                 |
//! | 62     | [`DEFERRABLE`]: a small CPU tensor, whose release Python may batch        |
//! | 63     | 0, so that a handle is positive as an `int64_t`                           |
//!
//! A freed slot is reused with its next generation. A generation is never issued twice for a
//! slot (a slot whose generations run out retires), and a lookup requires the exact handle the
//! slot holds, so a stale handle never aliases a newer object: it reads as freed. Integers
//! below 2^32 (generation 0) are never handles.
//!
//! Lookups take no lock: slots sit in chunks that are allocated once and never move or go
//! away, and each slot has one state word that holds its handle, its kind, whether it is live,
//! and how many lookups are inside it (see `Slot`). Registering and releasing take no lock
//! either, except to hand out a slot never used before, and nothing ever waits for anything.
//!
//! Tensors are stored in their slots as they are, without an `Arc`: the registry's whole cost
//! per tensor (register it, look it up once, release it) has a budget of 25 ns, and an `Arc`
//! per tensor (made at registration, cloned by each lookup, both dropped) alone cost 32 ns of
//! it. A tensor lookup returns a [`TensorRef`] instead, a guard that counts as a reader of the
//! slot while it lives: the lookup is one atomic add to the state word (which also tells it
//! whether its handle is live), dropping the guard one atomic subtract. Releasing a handle that
//! has readers only marks it released (new lookups report it freed) and returns at once; the
//! last reader out then drops the tensor and frees the slot. Never waiting matters: a guard
//! may be held for a whole call, a backward pass say, in which a Python hook frees that very
//! handle on the same thread. Because the count and the live bit share one word, exactly one
//! party (the release, or the last reader) sees both "released" and "no reader" at once, and
//! only that one frees the slot. The other kinds, rarer, keep an `Arc` (a lookup clones it
//! under the same protocol), so a call may hold them as long as it likes.

use std::cell::{RefCell, UnsafeCell};
use std::ops::Deref;
use std::ptr::{null_mut, NonNull};
use std::slice;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex, PoisonError};

use tch::Tensor;

use crate::cuda_graphs::CudaGraph;
use crate::distributed::{ProcessGroup, Store, Work};
use crate::error::{Error, Result};
use crate::generators::Generator;
use crate::shim;
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

/// Opaque handle of a captured CUDA graph (`TorchCudaGraph*`); a registry key, never
/// dereferenced.
pub struct TorchCudaGraph {
    _opaque: (),
}

/// A tensor as the registry holds it, shared by the calls that use it at once; a call in
/// progress keeps its inputs alive through [`TensorRef`]s even if their handles are freed
/// meanwhile.
pub struct SharedTensor(pub Tensor);

// SAFETY: tch marks Tensor Send but not Sync. The exports only run libtorch operations that
// read their inputs and return new tensors, which libtorch allows from many threads at once;
// the one exception, copy_from, writes a tensor's elements (never the Tensor object) as torch's
// copy_ does, and a caller reading those elements meanwhile races as it would in torch.
unsafe impl Sync for SharedTensor {}

// The header has the flag as `RT_TORCH_HANDLE_DEFERRABLE` (codes.rs); these two stay out of it.

/// Bit 62 of a tensor handle: the tensor is undefined, or lives in CPU memory with a storage of
/// at most [`DEFERRABLE_BYTES`]. Python may queue the release of such handles and free them in
/// batches (`rt_torch_torchtensor_finalize_many`); big and GPU tensors are released at once, so
/// that deferring never holds much memory.
///
/// cbindgen:ignore
pub const DEFERRABLE: u64 = crate::codes::RT_TORCH_HANDLE_DEFERRABLE;

/// The largest storage, in bytes, of a tensor whose handle is [`DEFERRABLE`].
///
/// cbindgen:ignore
pub const DEFERRABLE_BYTES: u64 = 64 * 1024;

/// The handle bits below the generation: the slot's index + 1.
const INDEX_BITS: u32 = 32;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const GENERATION_MASK: u64 = (1 << 30) - 1;
/// A slot that has issued this generation retires when it is freed: it is never reused.
const LAST_GENERATION: u64 = GENERATION_MASK;

/// The bits of a handle that its slot's state repeats (the index is where the slot is).
const HANDLE_BITS: u64 = !INDEX_MASK;
/// State bit: the slot holds a live object (the state's upper half says which handle, its low
/// byte what kind).
const LIVE: u64 = 1 << 8;
const KIND_MASK: u64 = LIVE - 1;
/// State bit: the handle was released while readers were inside; the last of them to leave
/// frees the slot (and clears this bit, which makes it the only one to).
const PENDING: u64 = 1 << 9;
/// One reader inside the slot: bits 10..32 of the state count them.
const READER: u64 = 1 << 10;
const READERS: u64 = INDEX_MASK & !(READER - 1);
/// The top bit of the count: a lookup that finds it set backs out, so that the count never
/// carries into the generation even with many lookups adding at once.
const READERS_FULL: u64 = 1 << (INDEX_BITS - 1);

fn generation(bits: u64) -> u64 {
    (bits >> INDEX_BITS) & GENERATION_MASK
}

/// What a handle is a handle to; its code is part of a live slot's state, so that a lookup
/// checks the kind with the same comparison that checks the handle.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tensor = 1,
    Stream,
    Event,
    Generator,
    Store,
    ProcessGroup,
    Work,
    CudaGraph,
}

const KINDS: [Kind; 8] =
    [Kind::Tensor, Kind::Stream, Kind::Event, Kind::Generator, Kind::Store, Kind::ProcessGroup, Kind::Work, Kind::CudaGraph];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Tensor => "tensor",
            Kind::Stream => "stream",
            Kind::Event => "event",
            Kind::Generator => "generator",
            Kind::Store => "store",
            Kind::ProcessGroup => "process group",
            Kind::Work => "work",
            Kind::CudaGraph => "CUDA graph",
        }
    }

    /// The kind a slot's state names, if any.
    fn of_state(state: u64) -> Option<Kind> {
        KINDS.get(((state & KIND_MASK) as usize).checked_sub(1)?).copied()
    }
}

enum Object {
    Tensor(SharedTensor),
    Stream(Arc<Stream>),
    Event(Arc<Event>),
    Generator(Arc<Generator>),
    Store(Arc<Store>),
    ProcessGroup(Arc<ProcessGroup>),
    Work(Arc<Work>),
    CudaGraph(Arc<CudaGraph>),
}

impl Object {
    fn kind(&self) -> Kind {
        match self {
            Object::Tensor(_) => Kind::Tensor,
            Object::Stream(_) => Kind::Stream,
            Object::Event(_) => Kind::Event,
            Object::Generator(_) => Kind::Generator,
            Object::Store(_) => Kind::Store,
            Object::ProcessGroup(_) => Kind::ProcessGroup,
            Object::Work(_) => Kind::Work,
            Object::CudaGraph(_) => Kind::CudaGraph,
        }
    }
}

/// One place in the registry.
///
/// The protocol that makes `object` safe to share without a lock, all in `state`:
/// - A lookup adds READER to `state`; if the value it added to named its handle LIVE (and the
///   count was not full), it is a reader and may read `object` until it subtracts READER again;
///   otherwise it subtracts at once and reads nothing.
/// - Only the slot's owner writes `object`: the thread registering into it (the slot is off the
///   free list, not LIVE, and no reader is inside), or the one party that frees it: the
///   release whose compare-exchange clears LIVE while no reader is inside, or, if readers were
///   inside (the release then sets PENDING instead), the reader whose compare-exchange clears
///   PENDING once the count is 0.
///
/// A slot's count may include lookups of stale or made-up handles between their add and their
/// subtract; they never read `object`, and the last of them out frees a PENDING slot as any
/// reader would. So the count is kept when a slot is registered into again.
#[derive(Default)]
struct Slot {
    /// `(handle & HANDLE_BITS) | readers | LIVE | kind` while live; once released, the same
    /// without LIVE (its generation is the last one issued, for messages and for the next
    /// registration), with PENDING until the last reader leaves; 0 if the slot was never used.
    state: AtomicU64,
    /// While on the free list: the next free slot's index + 1 (0 for none).
    next_free: AtomicU32,
    object: UnsafeCell<Option<Object>>,
}

// SAFETY: `object` is shared between threads only as the protocol on `Slot` allows: written by
// one owner at a time, read only by readers while no owner can write it. What crosses threads
// is then the Object itself (moved in and out, and dropped by whichever party frees the slot)
// and `&Object` (read, and an Arc cloned from it), so Object must be Send and Sync;
// assert_object_is_shareable checks that it is.
unsafe impl Sync for Slot {}

const _: () = {
    fn assert_object_is_shareable<T: Send + Sync>() {}
    let _ = assert_object_is_shareable::<Object>;
};

/// Chunk 0 holds 2^FIRST_CHUNK_BITS slots, and each next chunk twice as many as the one before,
/// so the registry doubles as it grows and its slots never move.
const FIRST_CHUNK_BITS: u32 = 10;
/// Enough chunks for every 32-bit index.
const CHUNKS: usize = (33 - FIRST_CHUNK_BITS) as usize;

fn chunk_len(chunk: usize) -> usize {
    1 << (chunk as u32 + FIRST_CHUNK_BITS)
}

/// Slot `index`'s chunk, and its offset there.
fn place(index: u32) -> (usize, usize) {
    let n = u64::from(index) + (1 << FIRST_CHUNK_BITS);
    let chunk = n.ilog2() - FIRST_CHUNK_BITS;
    (chunk as usize, (n - (1 << (chunk + FIRST_CHUNK_BITS))) as usize)
}

struct Registry {
    /// Each chunk's slots (a leaked `Box<[Slot]>` of `chunk_len` slots), or null until needed;
    /// chunks are allocated in order.
    chunks: [AtomicPtr<Slot>; CHUNKS],
    /// The top of the stack of free slots: its index + 1 (0: empty) in the low half, and in
    /// the high half a count of pops, which makes a pop that read a stale top fail its
    /// compare-exchange even if that slot is back on top meanwhile (the ABA problem).
    free: AtomicU64,
    /// How many slots were ever handed out: the next fresh index. Growing takes this lock.
    fresh: Mutex<u32>,
}

static REGISTRY: Registry = Registry {
    chunks: [const { AtomicPtr::new(null_mut()) }; CHUNKS],
    free: AtomicU64::new(0),
    fresh: Mutex::new(0),
};

/// The slot that handle `id` names and its index, if that index is in an allocated chunk.
fn slot_of(id: u64) -> Option<(u32, &'static Slot)> {
    let index = (id as u32).checked_sub(1)?;
    let (chunk, offset) = place(index);
    let slots = REGISTRY.chunks[chunk].load(Acquire);
    // SAFETY: a non-null chunk pointer points to chunk_len(chunk) > offset initialized slots,
    // published with Release after they were made (this Acquire pairs with it) and never freed.
    (!slots.is_null()).then(|| (index, unsafe { &*slots.add(offset) }))
}

/// Slot `index`, which was handed out (so its chunk exists).
fn slot(index: u32) -> &'static Slot {
    slot_of(u64::from(index) + 1).expect("a slot that was handed out is in an allocated chunk").1
}

/// A slot never used before, allocating its chunk if it is the chunk's first.
fn fresh_slot() -> u32 {
    // Nothing in here panics after changing anything, so a poisoned lock is still consistent.
    let mut fresh = REGISTRY.fresh.lock().unwrap_or_else(PoisonError::into_inner);
    let index = *fresh;
    // index + 1 must fit in a handle's 32 index bits: the 4,294,967,295th live handle.
    assert!(index < u32::MAX, "the handle registry is full");
    let (chunk, offset) = place(index);
    if offset == 0 {
        let slots: Box<[Slot]> = (0..chunk_len(chunk)).map(|_| Slot::default()).collect();
        REGISTRY.chunks[chunk].store(Box::leak(slots).as_mut_ptr(), Release);
    }
    *fresh = index + 1;
    index
}

/// Puts freed slot `index` on the free list; its object is gone.
fn push_free(index: u32, slot: &Slot) {
    let mut top = REGISTRY.free.load(Relaxed);
    loop {
        slot.next_free.store(top as u32, Relaxed);
        let new = (top & !INDEX_MASK) | (u64::from(index) + 1);
        // Release: whoever pops the slot sees it emptied, and its next_free.
        match REGISTRY.free.compare_exchange_weak(top, new, Release, Relaxed) {
            Ok(_) => return,
            Err(current) => top = current,
        }
    }
}

/// Up to this many freed slots stay with the thread that freed them, for its next registrations.
const LOCAL_FREE_SLOTS: usize = 64;

/// The slots this thread freed last and reuses first. Registering and releasing on one thread
/// is the common case, and this way it touches no shared free list: that saves a pop and a push
/// (two compare-exchanges, about 9 ns of the ~50 ns the registry adds to a tensor).
struct LocalFree {
    slots: [u32; LOCAL_FREE_SLOTS],
    len: usize,
}

impl Drop for LocalFree {
    /// At thread exit, the slots go to the shared free list for other threads.
    fn drop(&mut self) {
        for &index in &self.slots[..self.len] {
            push_free(index, slot(index));
        }
    }
}

thread_local! {
    static LOCAL_FREE: RefCell<LocalFree> = const { RefCell::new(LocalFree { slots: [0; LOCAL_FREE_SLOTS], len: 0 }) };
}

/// Frees slot `index`: kept by this thread if it has room, else on the shared free list.
fn free_slot(index: u32, slot: &Slot) {
    let kept = LOCAL_FREE.try_with(|local| {
        // try_: nothing in here calls out, so it is never borrowed already; and try_with fails
        // only while the thread exits, when the shared list takes the slot.
        let Ok(mut local) = local.try_borrow_mut() else { return false };
        let len = local.len;
        let room = len < LOCAL_FREE_SLOTS;
        if room {
            local.slots[len] = index;
            local.len = len + 1;
        }
        room
    });
    if kept != Ok(true) {
        push_free(index, slot);
    }
}

/// A free slot: the one this thread freed last, else one from the shared free list, else a
/// fresh one.
fn take_free_slot() -> u32 {
    let local = LOCAL_FREE.try_with(|local| {
        let mut local = local.try_borrow_mut().ok()?;
        local.len = local.len.checked_sub(1)?;
        Some(local.slots[local.len])
    });
    local.ok().flatten().or_else(pop_free).unwrap_or_else(fresh_slot)
}

/// A free slot, taken off the shared free list, if there is one.
fn pop_free() -> Option<u32> {
    let mut top = REGISTRY.free.load(Acquire);
    loop {
        let index = (top as u32).checked_sub(1)?;
        // If another thread pops this slot first, this read may be stale: the compare-exchange
        // below then fails, as the pop count has changed.
        let next = slot(index).next_free.load(Relaxed);
        let new = ((top & !INDEX_MASK).wrapping_add(1 << INDEX_BITS)) | u64::from(next);
        match REGISTRY.free.compare_exchange_weak(top, new, Acquire, Acquire) {
            Ok(_) => return Some(index),
            Err(current) => top = current,
        }
    }
}

/// Stores `object` in a free slot and returns its new handle, with `flags` (DEFERRABLE or 0).
fn insert(object: Object, flags: u64) -> u64 {
    let kind = object.kind();
    let index = take_free_slot();
    let slot = slot(index);
    // The slot is ours alone (off a free list, or fresh), and its generation below the last:
    // a slot that issued the last one never goes back on the free list.
    // Only the count changes under us: lookups of stale handles may be adding and subtracting.
    let state = slot.state.load(Relaxed) & !READERS;
    let handle = ((generation(state) + 1) << INDEX_BITS) | flags | (u64::from(index) + 1);
    // SAFETY: the slot is not LIVE, so no lookup reads `object` (Slot's protocol), and no other
    // thread owns it.
    unsafe { *slot.object.get() = Some(object) };
    // Replaces all but the count (wrapping: the new bits minus the old, added to both). Release:
    // a lookup that sees this state sees the object in place.
    slot.state.fetch_add(((handle & HANDLE_BITS) | LIVE | kind as u64).wrapping_sub(state), Release);
    handle
}

/// The state of a slot that holds handle `id`, live, of `kind`.
fn live_state(id: u64, kind: Kind) -> u64 {
    (id & HANDLE_BITS) | LIVE | kind as u64
}

/// Registers `tensor` and returns its new handle.
pub fn register_tensor(tensor: Tensor) -> *mut TorchTensor {
    let flags = if deferrable(&tensor) { DEFERRABLE } else { 0 };
    insert(Object::Tensor(SharedTensor(tensor)), flags) as usize as *mut TorchTensor
}

/// Whether the handle of `tensor` gets the DEFERRABLE bit: undefined, or in CPU memory with a
/// storage (the whole of it, if `tensor` is a view) of at most DEFERRABLE_BYTES.
fn deferrable(tensor: &Tensor) -> bool {
    shim::cpu_storage_nbytes(tensor).is_some_and(|nbytes| nbytes <= DEFERRABLE_BYTES)
}

/// Registers `stream` and returns its new handle.
pub fn register_stream(stream: Stream) -> *mut TorchStream {
    insert(Object::Stream(Arc::new(stream)), 0) as usize as *mut TorchStream
}

/// Registers `event` and returns its new handle.
pub fn register_event(event: Event) -> *mut TorchEvent {
    insert(Object::Event(Arc::new(event)), 0) as usize as *mut TorchEvent
}

/// Registers `generator` and returns its new handle.
pub fn register_generator(generator: Generator) -> *mut TorchGenerator {
    insert(Object::Generator(Arc::new(generator)), 0) as usize as *mut TorchGenerator
}

/// Registers `store` and returns its new handle.
pub fn register_store(store: Store) -> *mut TorchStore {
    insert(Object::Store(Arc::new(store)), 0) as usize as *mut TorchStore
}

/// Registers `group` and returns its new handle.
pub fn register_process_group(group: ProcessGroup) -> *mut TorchProcessGroup {
    insert(Object::ProcessGroup(Arc::new(group)), 0) as usize as *mut TorchProcessGroup
}

/// Registers `work` and returns its new handle.
pub fn register_work(work: Work) -> *mut TorchWork {
    insert(Object::Work(Arc::new(work)), 0) as usize as *mut TorchWork
}

/// Registers `graph` and returns its new handle.
pub fn register_cuda_graph(graph: CudaGraph) -> *mut TorchCudaGraph {
    insert(Object::CudaGraph(Arc::new(graph)), 0) as usize as *mut TorchCudaGraph
}

/// Enters handle `id`'s slot as a reader, if the handle is live and of `kind`: the caller may
/// then read the slot's object until it calls `leave`.
#[inline]
fn enter(id: u64, kind: Kind) -> Option<(u32, &'static Slot)> {
    let expected = live_state(id, kind);
    let (index, slot) = slot_of(id)?;
    // A bad handle is turned away without touching the count.
    if slot.state.load(Relaxed) & !READERS != expected {
        return None;
    }
    // Acquire: pairs with insert's Release, so the object is in place.
    let state = slot.state.fetch_add(READER, Acquire);
    if state & !(READERS & !READERS_FULL) == expected {
        return Some((index, slot));
    }
    leave(index, slot);
    assert!(state & !READERS != expected, "too many lookups of handle {id:#x} at once");
    None
}

/// Leaves a slot that `enter` entered (whether or not it found its handle there); the last
/// reader out of a released handle's slot frees it.
#[inline]
fn leave(index: u32, slot: &'static Slot) {
    // Release: the party that frees the slot sees this reader done with the object.
    let state = slot.state.fetch_sub(READER, Release);
    if state & (PENDING | READERS) == PENDING | READER {
        last_out(index, slot, state - READER);
    }
}

/// After the last reader left a slot whose handle was released (`state`, as it left it): frees
/// the slot, unless a new lookup entered meanwhile (which will be the last out instead).
#[cold]
fn last_out(index: u32, slot: &Slot, mut state: u64) {
    while state & (PENDING | READERS) == PENDING {
        // Exactly one party clears PENDING. Acquire: sees every reader done with the object.
        match slot.state.compare_exchange(state, state & !PENDING, Acquire, Relaxed) {
            Ok(_) => return drop(vacate(index, slot, state)),
            Err(current) => state = current,
        }
    }
}

/// Takes the object out of slot `index`, whose handle (of `state`'s generation) was released
/// and which this thread now owns, and frees the slot; the caller drops the object, after the
/// slot went back: releasing device memory can take a while, and a tensor's destructor may run
/// host code that frees other handles.
fn vacate(index: u32, slot: &Slot, state: u64) -> Option<Object> {
    // SAFETY: the caller owns the slot (Slot's protocol): no reader is inside, none can enter.
    let object = unsafe { (*slot.object.get()).take() };
    // A slot whose generations ran out retires: never reused, its stale handles stay freed.
    if generation(state) < LAST_GENERATION {
        free_slot(index, slot);
    }
    object
}

/// The object of `kind` behind handle `id`, or an error saying why there is none.
fn lookup<T>(id: u64, kind: Kind, pick: impl FnOnce(&Object) -> Option<&Arc<T>>) -> Result<Arc<T>> {
    let found = enter(id, kind).and_then(|(index, slot)| {
        // SAFETY: entered as a reader: no owner writes `object` until this lookup leaves.
        let found = unsafe { &*slot.object.get() }.as_ref().and_then(pick).cloned();
        leave(index, slot);
        found
    });
    found.ok_or_else(|| not_live(id, kind))
}

/// A live tensor, as [`tensor`] returns it: the handle's slot counts it as a reader, which keeps
/// the tensor alive while it lives, even if the handle is freed meanwhile (the last reader out
/// then drops the tensor). Hold it for the call only: anything that needs the tensor beyond
/// the call takes a `shallow_clone` of it.
pub struct TensorRef {
    tensor: NonNull<SharedTensor>,
    slot: &'static Slot,
    index: u32,
}

// SAFETY: a TensorRef is a shared reference to a SharedTensor, which is Sync, plus a reader's
// place in a slot, which any thread may leave; leaving may drop the tensor there, and Tensor
// is Send.
unsafe impl Send for TensorRef {}
unsafe impl Sync for TensorRef {}

impl Deref for TensorRef {
    type Target = SharedTensor;

    #[inline]
    fn deref(&self) -> &SharedTensor {
        // SAFETY: the slot holds this tensor in place while this reader is inside it.
        unsafe { self.tensor.as_ref() }
    }
}

impl Drop for TensorRef {
    #[inline]
    fn drop(&mut self) {
        leave(self.index, self.slot);
    }
}

/// The live tensor behind `handle`, or an error saying why there is none.
pub fn tensor(handle: *const TorchTensor) -> Result<TensorRef> {
    let id = handle as usize as u64;
    let (index, slot) = enter(id, Kind::Tensor).ok_or_else(|| not_live(id, Kind::Tensor))?;
    // SAFETY: entered as a reader: no owner writes `object` until this reader leaves.
    match unsafe { &*slot.object.get() } {
        Some(Object::Tensor(tensor)) => Ok(TensorRef { tensor: NonNull::from(tensor), slot, index }),
        _ => {
            // Never: a live tensor handle's slot holds a tensor.
            leave(index, slot);
            Err(not_live(id, Kind::Tensor))
        }
    }
}

/// The live stream behind `handle`, or an error saying why there is none.
pub fn stream(handle: *const TorchStream) -> Result<Arc<Stream>> {
    lookup(handle as usize as u64, Kind::Stream, |object| match object {
        Object::Stream(stream) => Some(stream),
        _ => None,
    })
}

/// The live event behind `handle`, or an error saying why there is none.
pub fn event(handle: *const TorchEvent) -> Result<Arc<Event>> {
    lookup(handle as usize as u64, Kind::Event, |object| match object {
        Object::Event(event) => Some(event),
        _ => None,
    })
}

/// The live generator behind `handle`, or an error saying why there is none.
pub fn generator(handle: *const TorchGenerator) -> Result<Arc<Generator>> {
    lookup(handle as usize as u64, Kind::Generator, |object| match object {
        Object::Generator(generator) => Some(generator),
        _ => None,
    })
}

/// The live store behind `handle`, or an error saying why there is none.
pub fn store(handle: *const TorchStore) -> Result<Arc<Store>> {
    lookup(handle as usize as u64, Kind::Store, |object| match object {
        Object::Store(store) => Some(store),
        _ => None,
    })
}

/// The live process group behind `handle`, or an error saying why there is none.
pub fn process_group(handle: *const TorchProcessGroup) -> Result<Arc<ProcessGroup>> {
    lookup(handle as usize as u64, Kind::ProcessGroup, |object| match object {
        Object::ProcessGroup(group) => Some(group),
        _ => None,
    })
}

/// The live work behind `handle`, or an error saying why there is none.
pub fn work(handle: *const TorchWork) -> Result<Arc<Work>> {
    lookup(handle as usize as u64, Kind::Work, |object| match object {
        Object::Work(work) => Some(work),
        _ => None,
    })
}

/// The live CUDA graph behind `handle`, or an error saying why there is none.
pub fn cuda_graph(handle: *const TorchCudaGraph) -> Result<Arc<CudaGraph>> {
    lookup(handle as usize as u64, Kind::CudaGraph, |object| match object {
        Object::CudaGraph(graph) => Some(graph),
        _ => None,
    })
}

/// Removes a CUDA graph handle; the graph (and its captured memory) is destroyed once no call in
/// progress uses it.
pub fn release_cuda_graph(handle: *mut TorchCudaGraph) -> Result<()> {
    release(handle as usize as u64, Kind::CudaGraph)
}

/// Removes a store handle; the store (a TCPStore's connection) closes once no call in progress
/// or group uses it.
pub fn release_store(handle: *mut TorchStore) -> Result<()> {
    release(handle as usize as u64, Kind::Store)
}

/// Removes a process group handle; the group shuts down once no call in progress uses it.
pub fn release_process_group(handle: *mut TorchProcessGroup) -> Result<()> {
    release(handle as usize as u64, Kind::ProcessGroup)
}

/// Removes a work handle (the collective itself carries on).
pub fn release_work(handle: *mut TorchWork) -> Result<()> {
    release(handle as usize as u64, Kind::Work)
}

/// Removes a generator handle; the generator is destroyed once no call in progress uses it.
pub fn release_generator(handle: *mut TorchGenerator) -> Result<()> {
    release(handle as usize as u64, Kind::Generator)
}

/// Removes a tensor handle; the tensor is released once no call in progress still uses it.
pub fn release_tensor(handle: *mut TorchTensor) -> Result<()> {
    release(handle as usize as u64, Kind::Tensor)
}

/// Removes every live tensor handle in `handles`, skipping NULL, freed, unknown and other
/// kinds' handles (a handle given twice is removed once); returns how many it removed.
pub fn release_tensors(handles: &[*const TorchTensor]) -> usize {
    let mut released = 0;
    for &handle in handles {
        if let Some(tensor) = take(handle as usize as u64, Kind::Tensor) {
            drop(tensor);
            released += 1;
        }
    }
    released
}

/// Removes a stream handle.
pub fn release_stream(handle: *mut TorchStream) -> Result<()> {
    release(handle as usize as u64, Kind::Stream)
}

/// Removes an event handle; the event is destroyed once no call in progress still uses it.
pub fn release_event(handle: *mut TorchEvent) -> Result<()> {
    release(handle as usize as u64, Kind::Event)
}

fn release(id: u64, kind: Kind) -> Result<()> {
    let object = take(id, kind).ok_or_else(|| not_live(id, kind))?;
    // Dropped here, after the slot went back: releasing device memory can take a while, and
    // a tensor's destructor may run host code that frees other handles.
    drop(object);
    Ok(())
}

/// Releases handle `id` if it is live and of `kind`: new lookups see it freed. If no reader is
/// inside its slot, takes the object out and frees the slot, and the caller drops the object
/// (`Some(Some(object))`); otherwise the last reader out will (`Some(None)`). Never waits.
fn take(id: u64, kind: Kind) -> Option<Option<Object>> {
    let (index, slot) = slot_of(id)?;
    let expected = live_state(id, kind);
    let mut state = slot.state.load(Relaxed);
    loop {
        if state & !READERS != expected {
            return None;
        }
        let readers = state & READERS != 0;
        let released = (state & !LIVE) | if readers { PENDING } else { 0 };
        // Exactly one of two racing releases wins this; lookups from now on see the handle
        // freed. Acquire: with no reader inside, sees the last one done with the object.
        match slot.state.compare_exchange_weak(state, released, Acquire, Relaxed) {
            Ok(_) => return Some(if readers { None } else { vacate(index, slot, state) }),
            Err(current) => state = current,
        }
    }
}

/// Number of slots in allocated chunks whose state has `bit` set.
fn count_slots_with(bit: u64) -> usize {
    let chunks = REGISTRY.chunks.iter().enumerate().map_while(|(chunk, slots)| {
        let slots = slots.load(Acquire);
        // SAFETY: as in slot_of: a published chunk of chunk_len(chunk) slots, never freed.
        (!slots.is_null()).then(|| unsafe { slice::from_raw_parts(slots, chunk_len(chunk)) })
    });
    chunks.flatten().filter(|slot| slot.state.load(Acquire) & bit != 0).count()
}

/// Number of handles not yet freed, of every kind.
pub fn live_count() -> usize {
    count_slots_with(LIVE)
}

/// For tests only: the number of slots whose handle was released while looked up and that wait
/// for their last reader to leave (not counted by [`live_count`]).
#[doc(hidden)]
pub fn awaiting_last_reader() -> usize {
    count_slots_with(PENDING)
}

/// For tests of slot retirement only: gives live tensor handle `handle` its slot's last
/// generation and returns the handle's new value (the old one then reads as freed), so that
/// freeing it retires the slot without a billion reuses first.
#[doc(hidden)]
pub fn skip_to_last_generation(handle: *mut TorchTensor) -> Result<*mut TorchTensor> {
    let id = handle as usize as u64;
    let expected = live_state(id, Kind::Tensor);
    let aged = (id & !(GENERATION_MASK << INDEX_BITS)) | (LAST_GENERATION << INDEX_BITS);
    let (_, slot) = slot_of(id).ok_or_else(|| not_live(id, Kind::Tensor))?;
    let mut state = slot.state.load(Relaxed);
    loop {
        if state & !READERS != expected {
            return Err(not_live(id, Kind::Tensor));
        }
        // The count of readers stays: they leave as they would have.
        match slot.state.compare_exchange_weak(state, live_state(aged, Kind::Tensor) | (state & READERS), AcqRel, Relaxed) {
            Ok(_) => return Ok(aged as usize as *mut TorchTensor),
            Err(current) => state = current,
        }
    }
}

/// Why handle `id` is not a live handle of kind `expected`.
fn not_live(id: u64, expected: Kind) -> Error {
    let state = slot_of(id).map(|(_, slot)| slot.state.load(Acquire));
    let (live, issued) = match state {
        Some(state) => {
            let holds_id = state & LIVE != 0 && state & HANDLE_BITS == id & HANDLE_BITS;
            let (generation, current) = (generation(id), generation(state));
            // Bit 63 is never set in a handle (nor in a state, so holds_id excludes it too).
            let issued = id >> 63 == 0 && generation >= 1 && (generation < current || (generation == current && state & LIVE == 0));
            (Kind::of_state(state).filter(|_| holds_id), issued)
        }
        None => (None, false),
    };
    let name = expected.name();
    Error::handle(match live {
        _ if id == 0 => format!("the {name} handle is NULL"),
        Some(kind) if kind != expected => format!("{id:#x} is {} handle, not {} handle", article(kind.name()), article(name)),
        _ if issued => format!("{name} handle {id:#x} was already freed"),
        _ => format!("{id:#x} is not a {name} handle returned by simple_torch"),
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
