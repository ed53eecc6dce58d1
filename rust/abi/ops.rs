//! Every operator libtorch registers, through one checked entry: `rt_torch_op_call`.
//!
//! Operators are found by name (`rt_torch_op_find("aten::add", "Tensor")`) or listed by id
//! (`0..rt_torch_op_count()`, each with its schema in PyTorch's syntax). Arguments and results
//! are [`RtTorchValue`]s. rust/ops.cpp matches them against the schema, builds libtorch's boxed
//! stack and calls the cached operator; this side turns handles into tensors before the call and
//! tensors into handles after it, so that C++ never sees a handle and the caller never sees a
//! pointer.

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::Arc;

use crate::error::{guard, Error, Result};
use crate::generators::Generator;
use crate::handles::{self, register_tensor, TensorRef, TorchTensor};

/// No value: an optional argument left out, or an undefined tensor returned.
pub const RT_TORCH_VALUE_NONE: i32 = 0;
/// `int_value` is 0 or 1. Also fits a `Scalar` argument, and a `Tensor` one as PyTorch's
/// Python bindings take a number there: a 0-d "wrapped number" tensor, which does not decide the
/// result's dtype (as INT, FLOAT and COMPLEX do too).
pub const RT_TORCH_VALUE_BOOL: i32 = 1;
/// `int_value`. Fits `int`, `SymInt` and `Scalar`, and `float`/`complex` by conversion; an
/// `int[N]` argument repeats it N times, as PyTorch does.
pub const RT_TORCH_VALUE_INT: i32 = 2;
/// `real`. Fits `float`, `Scalar`, and `complex` by conversion.
pub const RT_TORCH_VALUE_FLOAT: i32 = 3;
/// `real` + `imag` i. Fits `complex` and `Scalar`.
pub const RT_TORCH_VALUE_COMPLEX: i32 = 4;
/// `ptr` is a NUL-terminated UTF-8 string.
pub const RT_TORCH_VALUE_STR: i32 = 5;
/// `ptr` is a `TorchTensor*` handle. In results, `from_argument` says whether it is new.
pub const RT_TORCH_VALUE_TENSOR: i32 = 6;
/// `ptr` points to `len` `int64_t`. Fits `int[]`, `SymInt[]` and `Scalar[]`.
pub const RT_TORCH_VALUE_INT_LIST: i32 = 7;
/// `ptr` points to `len` `double`. Fits `float[]` and `Scalar[]`.
pub const RT_TORCH_VALUE_FLOAT_LIST: i32 = 8;
/// `ptr` points to `len` `bool` (one byte each).
pub const RT_TORCH_VALUE_BOOL_LIST: i32 = 9;
/// `ptr` points to `len` `TorchTensor*` handles, none NULL.
pub const RT_TORCH_VALUE_TENSOR_LIST: i32 = 10;
/// `ptr` points to `len` `TorchTensor*` handles, NULL for None (`Tensor?[]`, as in indexing).
pub const RT_TORCH_VALUE_OPTIONAL_TENSOR_LIST: i32 = 11;
/// `int_value` is a dtype code (c10's ScalarType number, as `RT_TORCH_DTYPE_*`).
pub const RT_TORCH_VALUE_SCALAR_TYPE: i32 = 12;
/// `int_value` is c10's Layout number: 0 strided, 1 sparse, 2 sparse_csr, ...
pub const RT_TORCH_VALUE_LAYOUT: i32 = 13;
/// `int_value` is c10's MemoryFormat number: 0 contiguous, 1 preserve, 2 channels_last,
/// 3 channels_last_3d.
pub const RT_TORCH_VALUE_MEMORY_FORMAT: i32 = 14;
/// `int_value` is a device code: -1 the CPU, N `cuda:N`.
pub const RT_TORCH_VALUE_DEVICE: i32 = 15;
/// `ptr` is a `TorchGenerator*` handle (`rt_torch_generator_create`).
pub const RT_TORCH_VALUE_GENERATOR: i32 = 16;

/// One argument or result of [`rt_torch_op_call`]: a tag (`RT_TORCH_VALUE_*`) and the fields
/// that tag uses; the others are ignored. Zero-initialise and set what the tag needs.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RtTorchValue {
    /// What this value is: `RT_TORCH_VALUE_*`.
    pub tag: i32,
    /// Results only: 1 when a tensor result is the handle of one of the call's own tensor
    /// arguments (in-place and `out=` operators return their operand), which the caller already
    /// owns; 0 for a new handle that the caller now owns and frees.
    pub from_argument: i32,
    /// Arguments only: NULL for a positional argument, else the schema's name of the argument
    /// (a keyword argument). Keywords come after every positional argument.
    pub name: *const c_char,
    /// BOOL, INT, SCALAR_TYPE, LAYOUT, MEMORY_FORMAT, DEVICE.
    pub int_value: i64,
    /// FLOAT, COMPLEX (its real part).
    pub real: f64,
    /// COMPLEX (its imaginary part).
    pub imag: f64,
    /// TENSOR and GENERATOR (a handle), STR, and the lists' elements.
    pub ptr: *const c_void,
    /// The lists' number of elements.
    pub len: i64,
}

/// The most arguments a call may pass, and elements a list argument may hold: far above any
/// schema's, so that a garbage count is refused before anything is read.
const MAX_ARGUMENTS: i64 = 1024;
const MAX_LIST_LEN: i64 = 1 << 24;

extern "C" {
    fn simple_torch_op_count() -> i64;
    fn simple_torch_op_find(name: *const c_char, overload: *const c_char) -> i64;
    fn simple_torch_op_schema(op: i64) -> *const c_char;
    fn simple_torch_op_call(op: i64, args: *const RtTorchValue, n_args: i64, out: *mut RtTorchValue, out_cap: i64) -> i64;
    fn simple_torch_op_error(kind: *mut i32) -> *const c_char;
}

/// Number of operators known now; ids `0..count` are valid (more appear if libraries register
/// operators later and are found by name). -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_op_count() -> i64 {
    guard("rt_torch_op_count", -1, || Ok(unsafe { simple_torch_op_count() }))
}

/// The id of operator `name` (e.g. "aten::add") with overload `overload` ("" or NULL for the
/// default overload, e.g. "Tensor"), stable for the life of the process. -1 if there is none,
/// with an error that names the closest operators.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string; so must `overload`.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_op_find(name: *const c_char, overload: *const c_char) -> i64 {
    guard("rt_torch_op_find", -1, || {
        if name.is_null() {
            return Err(Error::argument("the operator name is NULL"));
        }
        let overload = if overload.is_null() { c"".as_ptr() } else { overload };
        let id = unsafe { simple_torch_op_find(name, overload) };
        if id < 0 {
            return Err(cpp_error());
        }
        Ok(id)
    })
}

/// The schema of operator `op` in PyTorch's syntax (`c10::toString`), e.g.
/// "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor": a static string,
/// valid for the life of the process. NULL on error (an unknown id).
#[no_mangle]
pub extern "C" fn rt_torch_op_schema(op: i64) -> *const c_char {
    guard("rt_torch_op_schema", null(), || {
        let schema = unsafe { simple_torch_op_schema(op) };
        if schema.is_null() {
            return Err(unknown_op(op));
        }
        Ok(schema)
    })
}

/// The failure rust/ops.cpp recorded for this thread's last call.
fn cpp_error() -> Error {
    let mut kind = 0;
    let message = unsafe { CStr::from_ptr(simple_torch_op_error(&mut kind)) };
    Error { kind, message: message.to_string_lossy().into_owned() }
}

fn unknown_op(op: i64) -> Error {
    let count = unsafe { simple_torch_op_count() };
    Error::argument(format!("{op} is not an operator id (ids are 0 to {}; find one with rt_torch_op_find)", count - 1))
}

thread_local! {
    /// The handles of the list results of this thread's last rt_torch_op_call.
    static LIST_RESULTS: RefCell<Vec<Vec<*mut TorchTensor>>> = const { RefCell::new(Vec::new()) };
}

/// Calls operator `op` with `n_args` arguments: positional ones first, then keyword ones
/// (`name` set); omitted arguments take the schema's defaults. Writes the operator's results,
/// one value per schema return, into `out` (which must hold them all: `out_cap`) and returns how
/// many it wrote; -1 on error, with nothing written and no handle created.
///
/// Each tag is checked against the schema's type of its argument, and every handle, lists'
/// included, against the registry. Tensor results are new handles owned by the caller, except
/// that one which is an argument's own tensor (in-place and `out=` forms) comes back as that
/// argument's handle with `from_argument` = 1. A `Tensor[]` result is a TENSOR_LIST whose
/// `ptr` array belongs to the library and stays valid until the thread's next
/// `rt_torch_op_call`; the handles in it are all new and the caller's to free (an argument
/// returned inside a list gets a new handle to the same tensor); an `int[]` result likewise. A
/// STR result is valid for as long. Autograd records the call as libtorch does (grad mode is per
/// thread).
///
/// # Safety
/// `args` must point to `n_args` values (or be NULL when `n_args` is 0) whose pointers hold
/// what their tags say, and `out` to `out_cap` writable values.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_op_call(op: i64, args: *const RtTorchValue, n_args: i64, out: *mut RtTorchValue, out_cap: i64) -> i64 {
    guard("rt_torch_op_call", -1, || unsafe { op_call(op, args, n_args, out, out_cap) })
}

unsafe fn op_call(op: i64, args: *const RtTorchValue, n_args: i64, out: *mut RtTorchValue, out_cap: i64) -> Result<i64> {
    if !(0..=MAX_ARGUMENTS).contains(&n_args) {
        return Err(Error::argument(format!("n_args is {n_args}; it must be 0 to {MAX_ARGUMENTS}")));
    }
    if args.is_null() && n_args > 0 {
        return Err(Error::argument(format!("args is NULL but n_args is {n_args}")));
    }
    if out_cap < 0 || (out.is_null() && out_cap > 0) {
        return Err(Error::argument(format!("out is {} with out_cap {out_cap}", if out.is_null() { "NULL" } else { "set" })));
    }
    let args = if n_args == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(args, n_args as usize) } };
    let mut inputs = Inputs::default();
    // The values C++ reads, handles replaced by what they stand for: on the stack for the usual
    // call, where an allocation would cost as much as checking a handle.
    let mut on_stack = [unsafe { std::mem::zeroed::<RtTorchValue>() }; 16]; // zeroes: valid NONE values
    let mut on_heap = Vec::new();
    let shim_args = if args.len() <= on_stack.len() {
        &mut on_stack[..args.len()]
    } else {
        on_heap.resize(args.len(), on_stack[0]);
        &mut on_heap[..]
    };
    for (i, (shim, value)) in shim_args.iter_mut().zip(args).enumerate() {
        *shim = inputs.resolve(i, value)?;
    }

    // C++ writes the results into `out` (no more than `out_cap`), then tensors become handles here.
    let written = unsafe { simple_torch_op_call(op, shim_args.as_ptr(), n_args, out, out_cap) };
    if written < 0 {
        return Err(cpp_error());
    }
    LIST_RESULTS.with(|lists| lists.borrow_mut().clear());
    let results = if written == 0 { &mut [][..] } else { unsafe { std::slice::from_raw_parts_mut(out, written as usize) } };
    for result in results {
        match result.tag {
            RT_TORCH_VALUE_TENSOR => result.ptr = inputs.handle_of(result.ptr.cast_mut(), &mut result.from_argument).cast(),
            RT_TORCH_VALUE_TENSOR_LIST | RT_TORCH_VALUE_OPTIONAL_TENSOR_LIST => {
                // C++'s array of `at::Tensor*` (NULL for None), valid until this thread's next call.
                let tensors = if result.len == 0 {
                    &[][..]
                } else {
                    unsafe { std::slice::from_raw_parts(result.ptr.cast::<*mut c_void>(), result.len as usize) }
                };
                // Every element is a new at::Tensor (C++ never hands back an argument in a list).
                let handles: Vec<*mut TorchTensor> =
                    tensors.iter().map(|&t| if t.is_null() { null_mut() } else { new_handle(t) }).collect();
                result.ptr = handles.as_ptr().cast();
                result.len = handles.len() as i64;
                LIST_RESULTS.with(|lists| lists.borrow_mut().push(handles));
            }
            _ => {}
        }
    }
    Ok(written)
}

/// The header of a call packed into one buffer for [`rt_torch_op_call_frame`]. In memory the
/// header is followed by `n_args` argument values, then room for `out_cap` result values (each
/// an [`RtTorchValue`]): one pointer carries the whole call, and the results come back in it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RtTorchOpFrame {
    /// The operator's id (`rt_torch_op_find`).
    pub op: i64,
    /// How many argument values follow the header.
    pub n_args: i64,
    /// How many result values fit after the arguments.
    pub out_cap: i64,
    /// Set by the call: how many results it wrote after the arguments, or -1 on error.
    pub written: i64,
}

/// Calls operator `frame->op` as [`rt_torch_op_call`] does, with the whole call in one buffer:
/// the arguments are the `n_args` values after the header, and the results are written into the
/// `out_cap` values after those; `written` gets their number (-1 on error). The checks, the
/// results and their ownership are exactly `rt_torch_op_call`'s.
///
/// Returns the new handle when the operator returned one value and it is a new tensor, the
/// common case (the handle is also the first result: the caller owns it once); NULL otherwise:
/// either the results are to be read from the frame (`written` >= 0), or the call failed
/// (`written` = -1, and the error recorded).
///
/// It exists for callers that pay per argument crossing the boundary (ctypes converts one
/// pointer here against five for `rt_torch_op_call`) and per result read back (none in the
/// common case). The frame is read before the operator runs and written after it, so one buffer
/// per thread serves every call of that thread, even a nested one (an operator running host
/// code that calls operators).
///
/// # Safety
/// `frame` must be NULL or point to the header followed by `n_args` values (as for
/// `rt_torch_op_call`'s `args`) and then `out_cap` writable values.
#[no_mangle]
pub unsafe extern "C" fn rt_torch_op_call_frame(frame: *mut RtTorchOpFrame) -> *mut TorchTensor {
    guard("rt_torch_op_call_frame", null_mut(), || {
        if frame.is_null() {
            return Err(Error::argument("the frame is NULL"));
        }
        let (op, n_args, out_cap) = unsafe { ((*frame).op, (*frame).n_args, (*frame).out_cap) };
        unsafe { (*frame).written = -1 };
        if out_cap < 0 {
            return Err(Error::argument(format!("out_cap is {out_cap}; it must be 0 or more")));
        }
        // wrapping_add: computing the pointer is harmless; op_call checks n_args before it reads
        // or writes anything through it.
        let args = unsafe { frame.add(1) }.cast::<RtTorchValue>();
        let out = args.wrapping_add(n_args.clamp(0, MAX_ARGUMENTS) as usize);
        let written = unsafe { op_call(op, args, n_args, out, out_cap) }?;
        unsafe { (*frame).written = written };
        if written == 1 {
            let first = unsafe { &*out };
            if first.tag == RT_TORCH_VALUE_TENSOR && first.from_argument == 0 {
                return Ok(first.ptr.cast_mut().cast());
            }
        }
        Ok(null_mut())
    })
}

/// The tensors behind a call's handles, kept alive until the call returns, and the pointer
/// lists handed to C++ in their place.
#[derive(Default)]
struct Inputs {
    /// (the `at::Tensor*` C++ sees, the caller's handle, the tensor it keeps alive)
    tensors: Vec<(*mut c_void, *mut TorchTensor, TensorRef)>,
    lists: Vec<Vec<*const c_void>>,
    generators: Vec<Arc<Generator>>,
}

impl Inputs {
    /// The argument as C++ takes it: handles replaced by `at::Tensor*`, after checking them,
    /// and the lengths and pointers of lists.
    fn resolve(&mut self, index: usize, value: &RtTorchValue) -> Result<RtTorchValue> {
        let mut shim = *value;
        let what = || argument_name(index, value);
        match value.tag {
            RT_TORCH_VALUE_TENSOR => shim.ptr = self.tensor(value.ptr).map_err(|e| in_argument(e, &what()))?,
            RT_TORCH_VALUE_GENERATOR => {
                let generator = handles::generator(value.ptr.cast()).map_err(|e| in_argument(e, &what()))?;
                shim.ptr = generator.as_ptr();
                self.generators.push(generator);
            }
            RT_TORCH_VALUE_STR if value.ptr.is_null() => {
                return Err(Error::argument(format!("{}: the string is NULL", what())));
            }
            RT_TORCH_VALUE_INT_LIST | RT_TORCH_VALUE_FLOAT_LIST | RT_TORCH_VALUE_BOOL_LIST => check_list(value, &what())?,
            RT_TORCH_VALUE_TENSOR_LIST | RT_TORCH_VALUE_OPTIONAL_TENSOR_LIST => {
                check_list(value, &what())?;
                let handles = if value.len == 0 {
                    &[][..]
                } else {
                    unsafe { std::slice::from_raw_parts(value.ptr.cast::<*const TorchTensor>(), value.len as usize) }
                };
                let optional = value.tag == RT_TORCH_VALUE_OPTIONAL_TENSOR_LIST;
                let mut pointers = Vec::with_capacity(handles.len());
                for (i, &handle) in handles.iter().enumerate() {
                    pointers.push(if handle.is_null() && optional {
                        null()
                    } else {
                        self.tensor(handle.cast()).map_err(|e| in_argument(e, &format!("{}, element {i}", what())))?
                    });
                }
                shim.ptr = pointers.as_ptr().cast();
                self.lists.push(pointers); // moving the Vec keeps its heap buffer where it is
            }
            _ => {} // plain values; C++ checks the tag against the schema
        }
        Ok(shim)
    }

    fn tensor(&mut self, handle: *const c_void) -> Result<*const c_void> {
        let tensor = handles::tensor(handle.cast())?;
        let pointer = tensor.0.as_ptr().cast::<c_void>().cast_mut();
        self.tensors.push((pointer, handle.cast_mut().cast(), tensor));
        Ok(pointer)
    }

    /// The handle for a tensor that C++ returned: the argument's own handle when C++ gave back
    /// an argument's `at::Tensor*` (the result is that very tensor), else a new handle owning
    /// the new `at::Tensor` C++ made.
    fn handle_of(&self, tensor: *mut c_void, from_argument: &mut i32) -> *mut TorchTensor {
        if let Some((_, handle, _)) = self.tensors.iter().find(|(pointer, _, _)| *pointer == tensor) {
            *from_argument = 1;
            return *handle;
        }
        *from_argument = 0;
        new_handle(tensor)
    }
}

/// A new handle owning the new `at::Tensor` that C++ made.
fn new_handle(tensor: *mut c_void) -> *mut TorchTensor {
    register_tensor(unsafe { tch::Tensor::from_ptr(tensor.cast()) })
}

fn check_list(value: &RtTorchValue, what: &str) -> Result<()> {
    if !(0..=MAX_LIST_LEN).contains(&value.len) {
        return Err(Error::argument(format!("{what}: a list of length {}", value.len)));
    }
    if value.ptr.is_null() && value.len > 0 {
        return Err(Error::argument(format!("{what}: the list is NULL but its length is {}", value.len)));
    }
    Ok(())
}

/// "argument 2" or "argument 'alpha'", for messages.
fn argument_name(index: usize, value: &RtTorchValue) -> String {
    if value.name.is_null() {
        format!("argument {index}")
    } else {
        format!("argument '{}'", unsafe { CStr::from_ptr(value.name) }.to_string_lossy())
    }
}

fn in_argument(error: Error, what: &str) -> Error {
    Error { kind: error.kind, message: format!("{what}: {}", error.message) }
}
