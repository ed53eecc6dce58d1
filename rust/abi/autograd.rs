//! Autograd, as torch spells it: a tensor's `grad` and `grad_fn`, `backward` and
//! `autograd.grad`, grad mode, inference mode and autocast (all per thread, as in libtorch), and
//! the host's own code in the graph: custom functions and tensor hooks, which libtorch's engine
//! calls back through an [`RtTorchAutogradHost`]. The libtorch half is rust/autograd.cpp.
//!
//! `requires_grad_`, `detach`, `retain_grad`, `is_leaf` and the other autograd operators that
//! libtorch registers go through the generic entry (`rt_torch_op_call`).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;

use crate::error::{guard, Error, Result};
use crate::handles::{register_tensor, release_tensor, tensor, SharedTensor, TensorRef, TorchTensor};
use crate::shim;

/// How a host (a language binding) runs its code inside libtorch's autograd graph. The host
/// owns this struct and keeps it alive while any node or hook made with it may run; a host that
/// shuts down sets `backward` and `release` to NULL first (a later backward then fails, saying
/// so, and nothing calls into the host).
#[repr(C)]
pub struct RtTorchAutogradHost {
    /// Computes gradients for the node or hook `token`. `grads` (`n_grads`) are the gradients of
    /// its outputs (NULL for an unused output when the function does not materialize them), `saved` (`n_saved`) the tensors a custom function saved; both are new
    /// handles the host owns. The host writes `n_results` new handles (or NULL: no gradient)
    /// into `results` and hands them over: the library releases them. A custom function gets
    /// one result per input; a hook gets one gradient and returns its replacement (NULL keeps
    /// it). Returns 0, or nonzero with a message in `error` (`error_len` bytes), which the
    /// caller of backward then gets as its error.
    pub backward: Option<
        unsafe extern "C" fn(
            token: i64,
            grads: *const *mut TorchTensor,
            n_grads: i64,
            saved: *const *mut TorchTensor,
            n_saved: i64,
            results: *mut *mut TorchTensor,
            n_results: i64,
            error: *mut c_char,
            error_len: usize,
        ) -> i32,
    >,
    /// Called once when libtorch drops the node or hook `token` (from whichever thread drops
    /// it): the host may forget what it kept for it.
    pub release: Option<unsafe extern "C" fn(token: i64)>,
}

type At = *mut c_void;

extern "C" {
    fn simple_torch_grad(t: At, out: *mut At, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_set_grad(t: At, grad: At, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_grad_fn(t: At, name: *mut c_char, name_len: usize, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_backward(
        roots: *const At, n_roots: i64, grads: *const At, n_grads: i64, retain_graph: c_int, create_graph: c_int,
        inputs: *const At, n_inputs: i64, error: *mut c_char, len: usize,
    ) -> c_int;
    fn simple_torch_autograd_grad(
        roots: *const At, n_roots: i64, grads: *const At, n_grads: i64, inputs: *const At, n_inputs: i64,
        retain_graph: c_int, create_graph: c_int, allow_unused: c_int, out: *mut At, error: *mut c_char, len: usize,
    ) -> c_int;
    fn simple_torch_grad_mode(enable: c_int) -> c_int;
    fn simple_torch_inference_mode(enter: c_int, enabled: c_int, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_is_inference_mode_enabled() -> c_int;
    fn simple_torch_autocast(
        device: *const c_char, enabled: c_int, dtype: c_int, was_enabled: *mut c_int, was_dtype: *mut c_int,
        error: *mut c_char, len: usize,
    ) -> c_int;
    fn simple_torch_autocast_nesting(delta: c_int, level: *mut c_int, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_function_apply(
        host: *const RtTorchAutogradHost, token: i64, name: *const c_char, inputs: *const At, n_inputs: i64,
        outputs: *const At, n_outputs: i64, to_save: *const At, n_save: i64, dirty: *const At, n_dirty: i64,
        non_differentiable: *const At, n_non_differentiable: i64, materialize_grads: c_int, out: *mut At,
        error: *mut c_char, len: usize,
    ) -> c_int;
    fn simple_torch_register_hook(t: At, host: *const RtTorchAutogradHost, token: i64, id: *mut i64, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_remove_hook(t: At, id: i64, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_register_post_accumulate_grad_hook(t: At, host: *const RtTorchAutogradHost, token: i64, id: *mut i64, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_remove_post_accumulate_grad_hook(t: At, id: i64, error: *mut c_char, len: usize) -> c_int;
}

pub(crate) fn at(t: &SharedTensor) -> At {
    t.0.as_ptr() as At
}

/// The tensors behind `count` handles at `handles`, kept alive for the call; a NULL handle is
/// allowed (and stays NULL) only where `optional` says so.
pub(crate) struct Tensors {
    kept: Vec<Option<TensorRef>>,
    pub(crate) pointers: Vec<At>,
}

impl Tensors {
    pub(crate) unsafe fn resolve(handles: *const *const TorchTensor, count: i64, what: &str, optional: bool) -> Result<Tensors> {
        if count < 0 {
            return Err(Error::argument(format!("the number of {what} is {count}")));
        }
        if count > 0 && handles.is_null() {
            return Err(Error::argument(format!("{what} is NULL but its count is {count}")));
        }
        let mut kept = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            let handle = unsafe { *handles.add(i) };
            kept.push(if handle.is_null() && optional {
                None
            } else {
                Some(tensor(handle).map_err(|e| Error { kind: e.kind, message: format!("{what}[{i}]: {}", e.message) })?)
            });
        }
        let pointers = kept.iter().map(|t| t.as_deref().map_or(null_mut(), at)).collect();
        Ok(Tensors { kept, pointers })
    }

    fn len(&self) -> i64 {
        self.kept.len() as i64
    }
}

/// Runs a rust/autograd.cpp function; its C++ exception becomes an argument error (libtorch's
/// own message, which is what torch raises as RuntimeError).
fn cpp(f: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<()> {
    shim::call(f).map_err(Error::argument)
}

/// Handles for the new tensors rust/autograd.cpp wrote (NULL stays NULL).
unsafe fn register_all(tensors: &[At], out: *mut *mut TorchTensor) {
    for (i, &t) in tensors.iter().enumerate() {
        let handle = if t.is_null() { null_mut() } else { register_tensor(unsafe { tch::Tensor::from_ptr(t.cast()) }) };
        unsafe { *out.add(i) = handle };
    }
}

fn check_out<T>(out: *mut T, count: usize) -> Result<()> {
    if out.is_null() && count > 0 {
        return Err(Error::argument("out is NULL"));
    }
    Ok(())
}

// ---- a tensor's gradient -------------------------------------------------------------------

/// 1 if autograd records operations on the tensor (`requires_grad`), 0 if not, -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_requires_grad(h: *const TorchTensor) -> i32 {
    guard("rt_torch_torchtensor_requires_grad", -1, || Ok(tensor(h)?.0.requires_grad().into()))
}

/// Writes a new handle to the tensor's gradient (`.grad`) into `*out`, or NULL if it has none.
/// False on error.
///
/// # Safety
/// `out` must point to a writable `TorchTensor*`.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchtensor_grad(h: *const TorchTensor, out: *mut *mut TorchTensor) -> bool {
    guard("rt_torch_torchtensor_grad", false, || {
        let t = tensor(h)?;
        check_out(out, 1)?;
        let mut grad = null_mut();
        cpp(|e, n| unsafe { simple_torch_grad(at(&t), &mut grad, e, n) })?;
        unsafe { register_all(&[grad], out) };
        Ok(true)
    })
}

/// Sets the tensor's gradient (`t.grad = grad`; NULL: `None`), checking its dtype, device and
/// size as torch does. False on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_set_grad(h: *const TorchTensor, grad: *const TorchTensor) -> bool {
    guard("rt_torch_torchtensor_set_grad", false, || {
        let t = tensor(h)?;
        let grad = if grad.is_null() { None } else { Some(tensor(grad)?) };
        let grad_pointer = grad.as_deref().map_or(null_mut(), at);
        cpp(|e, n| unsafe { simple_torch_set_grad(at(&t), grad_pointer, e, n) })?;
        Ok(true)
    })
}

/// Writes the name of the node that made the tensor (`grad_fn`, e.g. "AddmmBackward0"), NUL
/// terminated, into `name` (`capacity` bytes; 256 hold any name), and returns its length: 0 for
/// a tensor no recorded operation made. -1 on error.
///
/// # Safety
/// `name` must point to `capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchtensor_grad_fn(h: *const TorchTensor, name: *mut c_char, capacity: usize) -> i64 {
    guard("rt_torch_torchtensor_grad_fn", -1, || {
        let t = tensor(h)?;
        if name.is_null() || capacity == 0 {
            return Err(Error::argument("name is NULL or capacity is 0"));
        }
        cpp(|e, n| unsafe { simple_torch_grad_fn(at(&t), name, capacity, e, n) })?;
        Ok(unsafe { CStr::from_ptr(name) }.to_bytes().len() as i64)
    })
}

/// A new handle to the same tensor (not a copy, and no autograd operation: `share(h)` and `h`
/// are one tensor, as two Python names for one torch tensor are). NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_share(h: *const TorchTensor) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_share", null_mut(), || Ok(register_tensor(tensor(h)?.0.shallow_clone())))
}

// ---- backward and grad -----------------------------------------------------------------------

/// `torch.autograd.backward(tensors, grad_tensors, retain_graph, create_graph, inputs)`:
/// accumulates gradients into the leaves' `.grad` (only `inputs`' if `n_inputs` > 0).
/// `grad_tensors` holds one handle per tensor or NULL (no gradient given: the tensor must be a
/// scalar), or is NULL itself. `retain_graph`: -1 None (as `create_graph`), 0 false, 1 true.
/// False on error, e.g. torch's "element 0 of tensors does not require grad and does not have a
/// grad_fn".
///
/// # Safety
/// The arrays must hold their counts of handles.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_autograd_backward(
    tensors: *const *const TorchTensor, n_tensors: i64, grad_tensors: *const *const TorchTensor, retain_graph: i32,
    create_graph: bool, inputs: *const *const TorchTensor, n_inputs: i64,
) -> bool {
    guard("rt_torch_autograd_backward", false, || {
        let roots = unsafe { Tensors::resolve(tensors, n_tensors, "tensors", false)? };
        let grads = unsafe { gradients(grad_tensors, n_tensors)? };
        let inputs = unsafe { Tensors::resolve(inputs, n_inputs, "inputs", false)? };
        cpp(|e, n| unsafe {
            simple_torch_backward(
                roots.pointers.as_ptr(), roots.len(), grads.pointers.as_ptr(), grads.len(), retain_graph,
                create_graph.into(), inputs.pointers.as_ptr(), inputs.len(), e, n,
            )
        })?;
        Ok(true)
    })
}

/// `torch.autograd.grad(outputs, inputs, grad_outputs, retain_graph, create_graph,
/// allow_unused)`: writes one new handle per input into `results` (NULL for an input the outputs
/// do not depend on, which needs `allow_unused`). `grad_outputs` and `retain_graph` as for
/// [`rt_torch_autograd_backward`]. False on error.
///
/// # Safety
/// The arrays must hold their counts of handles; `results` room for `n_inputs`.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_autograd_grad(
    outputs: *const *const TorchTensor, n_outputs: i64, grad_outputs: *const *const TorchTensor,
    inputs: *const *const TorchTensor, n_inputs: i64, retain_graph: i32, create_graph: bool, allow_unused: bool,
    results: *mut *mut TorchTensor,
) -> bool {
    guard("rt_torch_autograd_grad", false, || {
        let roots = unsafe { Tensors::resolve(outputs, n_outputs, "outputs", false)? };
        let grads = unsafe { gradients(grad_outputs, n_outputs)? };
        let inputs = unsafe { Tensors::resolve(inputs, n_inputs, "inputs", false)? };
        check_out(results, inputs.kept.len())?;
        let mut computed = vec![null_mut(); inputs.kept.len()];
        cpp(|e, n| unsafe {
            simple_torch_autograd_grad(
                roots.pointers.as_ptr(), roots.len(), grads.pointers.as_ptr(), grads.len(), inputs.pointers.as_ptr(),
                inputs.len(), retain_graph, create_graph.into(), allow_unused.into(), computed.as_mut_ptr(), e, n,
            )
        })?;
        unsafe { register_all(&computed, results) };
        Ok(true)
    })
}

/// The gradients given for `count` roots: a NULL array means none given.
unsafe fn gradients(handles: *const *const TorchTensor, count: i64) -> Result<Tensors> {
    if handles.is_null() {
        return Ok(Tensors { kept: Vec::new(), pointers: Vec::new() });
    }
    unsafe { Tensors::resolve(handles, count, "the gradients", true) }
}

// ---- grad mode, inference mode, autocast: per thread -------------------------------------------

/// Turns gradient recording on or off for the calling thread (`torch.set_grad_enabled`);
/// returns whether it was on (1) or off (0).
#[no_mangle]
pub extern "C" fn rt_torch_set_grad_enabled(enabled: bool) -> i32 {
    guard("rt_torch_set_grad_enabled", -1, || Ok(unsafe { simple_torch_grad_mode(enabled.into()) }))
}

/// 1 if the calling thread records gradients (`torch.is_grad_enabled()`), 0 if not.
#[no_mangle]
pub extern "C" fn rt_torch_is_grad_enabled() -> i32 {
    guard("rt_torch_is_grad_enabled", -1, || Ok(unsafe { simple_torch_grad_mode(-1) }))
}

/// Enters inference mode (`enabled`) or a region without it (`!enabled`) on the calling thread,
/// as `torch.inference_mode(mode)`; each enter needs an exit on the same thread. False on error.
#[no_mangle]
pub extern "C" fn rt_torch_inference_mode_enter(enabled: bool) -> bool {
    guard("rt_torch_inference_mode_enter", false, || {
        cpp(|e, n| unsafe { simple_torch_inference_mode(1, enabled.into(), e, n) })?;
        Ok(true)
    })
}

/// Leaves the calling thread's innermost inference mode region. False on error (none entered).
#[no_mangle]
pub extern "C" fn rt_torch_inference_mode_exit() -> bool {
    guard("rt_torch_inference_mode_exit", false, || {
        cpp(|e, n| unsafe { simple_torch_inference_mode(0, 0, e, n) })?;
        Ok(true)
    })
}

/// 1 if the calling thread is in inference mode (`torch.is_inference_mode_enabled()`), else 0.
#[no_mangle]
pub extern "C" fn rt_torch_is_inference_mode_enabled() -> i32 {
    guard("rt_torch_is_inference_mode_enabled", -1, || Ok(unsafe { simple_torch_is_inference_mode_enabled() }))
}

/// Reads the calling thread's autocast state for the device type `kind` ("cpu" or "cuda") into
/// `*was_enabled` (0 or 1) and `*was_dtype` (a dtype code), then sets it: `enabled` -1 leaves it,
/// 0 or 1 sets it; `dtype` -1 leaves the cast dtype, else is the dtype code to cast to. False on
/// error.
///
/// # Safety
/// `kind` must be a NUL-terminated string; `was_enabled` and `was_dtype` writable.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_autocast_state(
    kind: *const c_char, enabled: i32, dtype: i32, was_enabled: *mut i32, was_dtype: *mut i32,
) -> bool {
    guard("rt_torch_autocast_state", false, || {
        if kind.is_null() || was_enabled.is_null() || was_dtype.is_null() {
            return Err(Error::argument("kind, was_enabled and was_dtype must not be NULL"));
        }
        if dtype >= 0 && !crate::codes::is_known_dtype(dtype) {
            return Err(Error::argument(format!("{dtype} is not a dtype code")));
        }
        cpp(|e, n| unsafe { simple_torch_autocast(kind, enabled, dtype, was_enabled, was_dtype, e, n) })?;
        Ok(true)
    })
}

/// Entering (`delta` = 1) or leaving (-1) an autocast region on the calling thread; leaving the
/// outermost frees the cache of cast weights. Returns the new nesting level; -1 on error (a
/// `delta` of another value, or leaving with no region entered).
#[no_mangle]
pub extern "C" fn rt_torch_autocast_nesting(delta: i32) -> i32 {
    guard("rt_torch_autocast_nesting", -1, || {
        let mut level = 0;
        cpp(|e, n| unsafe { simple_torch_autocast_nesting(delta, &mut level, e, n) })?;
        Ok(level)
    })
}

// ---- the host's code in the graph ----------------------------------------------------------

/// Records a custom function (`torch.autograd.Function.apply`) whose forward the host has run
/// with grad mode off: `inputs` are its tensor inputs and `outputs` what its forward returned.
/// Writes `n_outputs` new handles into `results`: the outputs, attached (when grad mode is on
/// and an input requires grad) to a new node named `name` whose backward calls
/// `host->backward(token, ...)` with the saved tensors `to_save`. `dirty` are inputs the forward
/// modified in place, `non_differentiable` outputs without gradients (torch's `mark_dirty`,
/// `mark_non_differentiable`). With `materialize_grads` the backward gets zeros for outputs that
/// were not used, else NULL (torch's `set_materialize_grads`). `host->release(token)` runs when
/// the node is dropped (at once if none was recorded). False on error (then `release` is not
/// called).
///
/// # Safety
/// `host` must stay valid while the node lives; the arrays must hold their counts of handles;
/// `name` must be a NUL-terminated string; `results` must have room for `n_outputs`.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_autograd_function_apply(
    host: *const RtTorchAutogradHost, token: i64, name: *const c_char, inputs: *const *const TorchTensor,
    n_inputs: i64, outputs: *const *const TorchTensor, n_outputs: i64, to_save: *const *const TorchTensor,
    n_save: i64, dirty: *const *const TorchTensor, n_dirty: i64, non_differentiable: *const *const TorchTensor,
    n_non_differentiable: i64, materialize_grads: bool, results: *mut *mut TorchTensor,
) -> bool {
    guard("rt_torch_autograd_function_apply", false, || {
        if host.is_null() || name.is_null() {
            return Err(Error::argument("host and name must not be NULL"));
        }
        let inputs = unsafe { Tensors::resolve(inputs, n_inputs, "inputs", false)? };
        let outputs = unsafe { Tensors::resolve(outputs, n_outputs, "outputs", false)? };
        let to_save = unsafe { Tensors::resolve(to_save, n_save, "to_save", false)? };
        let dirty = unsafe { Tensors::resolve(dirty, n_dirty, "dirty", false)? };
        let non_differentiable = unsafe { Tensors::resolve(non_differentiable, n_non_differentiable, "non_differentiable", false)? };
        check_out(results, outputs.kept.len())?;
        let mut computed = vec![null_mut(); outputs.kept.len()];
        cpp(|e, n| unsafe {
            simple_torch_function_apply(
                host, token, name, inputs.pointers.as_ptr(), inputs.len(), outputs.pointers.as_ptr(), outputs.len(),
                to_save.pointers.as_ptr(), to_save.len(), dirty.pointers.as_ptr(), dirty.len(),
                non_differentiable.pointers.as_ptr(), non_differentiable.len(), materialize_grads.into(),
                computed.as_mut_ptr(), e, n,
            )
        })?;
        unsafe { register_all(&computed, results) };
        Ok(true)
    })
}

/// `t.register_hook(...)`: during backward, `host->backward(token, ...)` gets the tensor's
/// gradient and may return a replacement. Returns the hook's id for
/// [`rt_torch_torchtensor_remove_hook`]; `host->release(token)` runs when the hook is removed or
/// the tensor dropped. -1 on error (e.g. a tensor that does not require grad).
///
/// # Safety
/// `host` must stay valid while the hook lives.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchtensor_register_hook(h: *const TorchTensor, host: *const RtTorchAutogradHost, token: i64) -> i64 {
    guard("rt_torch_torchtensor_register_hook", -1, || {
        let t = tensor(h)?;
        if host.is_null() {
            return Err(Error::argument("host is NULL"));
        }
        let mut id = -1;
        cpp(|e, n| unsafe { simple_torch_register_hook(at(&t), host, token, &mut id, e, n) })?;
        Ok(id)
    })
}

/// Removes hook `id` of the tensor. False on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_remove_hook(h: *const TorchTensor, id: i64) -> bool {
    guard("rt_torch_torchtensor_remove_hook", false, || {
        let t = tensor(h)?;
        cpp(|e, n| unsafe { simple_torch_remove_hook(at(&t), id, e, n) })?;
        Ok(true)
    })
}

/// `t.register_post_accumulate_grad_hook(...)`: during backward, after the leaf `t`'s gradient
/// has been accumulated into its `grad`, `host->backward(token, ...)` gets `t` itself as its one
/// gradient and must return no results (`n_results` is 0). Returns the hook's id for
/// [`rt_torch_torchtensor_remove_post_accumulate_grad_hook`]; `host->release(token)` runs when the
/// hook is removed or the tensor dropped. -1 on error (a tensor that is not a leaf requiring grad).
///
/// # Safety
/// `host` must stay valid while the hook lives.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_torchtensor_register_post_accumulate_grad_hook(h: *const TorchTensor, host: *const RtTorchAutogradHost, token: i64) -> i64 {
    guard("rt_torch_torchtensor_register_post_accumulate_grad_hook", -1, || {
        let t = tensor(h)?;
        if host.is_null() {
            return Err(Error::argument("host is NULL"));
        }
        let mut id = -1;
        cpp(|e, n| unsafe { simple_torch_register_post_accumulate_grad_hook(at(&t), host, token, &mut id, e, n) })?;
        Ok(id)
    })
}

/// Removes post-accumulate-grad hook `id` of the tensor. False on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_remove_post_accumulate_grad_hook(h: *const TorchTensor, id: i64) -> bool {
    guard("rt_torch_torchtensor_remove_post_accumulate_grad_hook", false, || {
        let t = tensor(h)?;
        cpp(|e, n| unsafe { simple_torch_remove_post_accumulate_grad_hook(at(&t), id, e, n) })?;
        Ok(true)
    })
}

/// Called by rust/autograd.cpp inside backward: registers `grads` and `saved` (borrowed
/// `at::Tensor*`s) as new handles for the host, calls its backward, and writes new heap
/// tensors for the handles it returned into `results` (releasing those handles). -1 with a
/// message in `error` if the host failed or returned a bad handle.
///
/// # Safety
/// Called only by rust/autograd.cpp, with arrays of the counts given.
#[no_mangle]
pub unsafe extern "C" fn simple_torch_call_host(
    host: *const RtTorchAutogradHost, token: i64, grads: *const At, n_grads: i64, saved: *const At, n_saved: i64,
    results: *mut At, n_results: i64, error: *mut c_char, error_len: usize,
) -> c_int {
    let outcome = catch_unwind(AssertUnwindSafe(|| unsafe { call_host(host, token, grads, n_grads, saved, n_saved, results, n_results) }));
    let message = match outcome {
        Ok(Ok(())) => return 0,
        Ok(Err(message)) => message,
        Err(_) => "internal error while calling the host's backward".to_owned(),
    };
    let bytes = message.as_bytes();
    let n = bytes.len().min(error_len.saturating_sub(1));
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), error.cast::<u8>(), n);
        *error.add(n) = 0;
    }
    -1
}

unsafe fn call_host(
    host: *const RtTorchAutogradHost, token: i64, grads: *const At, n_grads: i64, saved: *const At, n_saved: i64,
    results: *mut At, n_results: i64,
) -> std::result::Result<(), String> {
    let Some(backward) = (unsafe { (*host).backward }) else {
        return Err("the host that made this autograd node has shut down".into());
    };
    let share = |pointers: *const At, count: i64| -> Vec<*mut TorchTensor> {
        (0..count as usize)
            .map(|i| {
                let pointer = unsafe { *pointers.add(i) };
                if pointer.is_null() {
                    return null_mut(); // no gradient for this output (materialize_grads off)
                }
                let borrowed = std::mem::ManuallyDrop::new(unsafe { tch::Tensor::from_ptr(pointer as _) });
                register_tensor(borrowed.shallow_clone())
            })
            .collect()
    };
    let (grads, saved) = (share(grads, n_grads), share(saved, n_saved));
    let mut returned = vec![null_mut::<TorchTensor>(); n_results as usize];
    let mut error = vec![0 as c_char; 4096];
    let status = unsafe {
        backward(token, grads.as_ptr(), n_grads, saved.as_ptr(), n_saved, returned.as_mut_ptr(), n_results, error.as_mut_ptr(), error.len())
    };
    // Every returned handle is the library's now, whatever happens next.
    let mut taken = Vec::with_capacity(returned.len());
    let mut bad = None;
    for (i, &handle) in returned.iter().enumerate() {
        taken.push(if handle.is_null() {
            None
        } else {
            match tensor(handle) {
                Ok(t) => {
                    let _ = release_tensor(handle);
                    Some(t)
                }
                Err(e) => {
                    bad.get_or_insert(format!("the host's backward returned a bad handle as result {i}: {}", e.message));
                    None
                }
            }
        });
    }
    if status != 0 {
        let message = unsafe { CStr::from_ptr(error.as_ptr()) }.to_string_lossy().into_owned();
        return Err(if message.is_empty() { "the host's backward failed without a message".into() } else { message });
    }
    if let Some(message) = bad {
        return Err(message);
    }
    for (i, t) in taken.into_iter().enumerate() {
        let pointer = t.map_or(null_mut(), |t| {
            let mut shared = t.0.shallow_clone();
            let pointer = shared.as_mut_ptr() as At;
            std::mem::forget(shared);
            pointer
        });
        unsafe { *results.add(i) = pointer };
    }
    Ok(())
}
