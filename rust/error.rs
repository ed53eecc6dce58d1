//! The per-thread error slot and the guard every export runs its body under.
//!
//! Nothing may unwind or abort across the C ABI: a libtorch exception arrives as a `TchError`
//! from tch's fallible `f_*` calls, a Rust panic is caught here, and both become the calling
//! thread's last error plus the export's sentinel result (ABI.md, "Errors").

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

/// Kinds of failure, so that callers can react without parsing messages
/// (`rt_torch_last_error_kind()`; Python maps each to an exception class).
pub const RT_TORCH_ERROR_NONE: i32 = 0;
/// A bad value: shape, dims, dtype, dim index, buffer size, an operation libtorch refuses.
pub const RT_TORCH_ERROR_ARGUMENT: i32 = 1;
/// A device that does not exist: no CUDA, or a GPU index out of range.
pub const RT_TORCH_ERROR_DEVICE: i32 = 2;
/// A handle that is NULL, freed, never handed out, or of the wrong kind.
pub const RT_TORCH_ERROR_HANDLE: i32 = 3;
/// An allocation that failed, on the CPU or a GPU.
pub const RT_TORCH_ERROR_OUT_OF_MEMORY: i32 = 4;
/// A bug in simple_torch (a caught Rust panic).
pub const RT_TORCH_ERROR_INTERNAL: i32 = 5;
/// An index out of range (libtorch's `c10::IndexError`; Python's `IndexError`).
pub const RT_TORCH_ERROR_INDEX: i32 = 6;
/// A value of the wrong type for an operator's argument, a missing or unknown argument
/// (libtorch's `c10::TypeError`; Python's `TypeError`).
pub const RT_TORCH_ERROR_TYPE: i32 = 7;
/// An operator or argument type that is not implemented for these inputs (libtorch's
/// `c10::NotImplementedError`; Python's `NotImplementedError`).
pub const RT_TORCH_ERROR_NOT_IMPLEMENTED: i32 = 8;
/// A distributed failure: a peer that died or never arrived, a timeout, a collective the ranks
/// disagree on, a store that cannot be reached (c10d's errors; Python's `DistError`).
pub const RT_TORCH_ERROR_DISTRIBUTED: i32 = 9;

struct LastError {
    kind: i32,
    message: CString,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

/// Why one call failed: a kind and words for a person.
#[derive(Debug)]
pub struct Error {
    pub kind: i32,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn argument(message: impl Into<String>) -> Self {
        Error { kind: RT_TORCH_ERROR_ARGUMENT, message: message.into() }
    }

    pub fn device(message: impl Into<String>) -> Self {
        Error { kind: RT_TORCH_ERROR_DEVICE, message: message.into() }
    }

    pub fn handle(message: impl Into<String>) -> Self {
        Error { kind: RT_TORCH_ERROR_HANDLE, message: message.into() }
    }

    /// An error from libtorch, with `context` (what was being done, to what) before its text.
    pub fn libtorch(context: impl std::fmt::Display, error: &tch::TchError) -> Self {
        let Error { kind, message } = Error::from(error);
        Error { kind, message: format!("{context}: {message}") }
    }
}

impl From<tch::TchError> for Error {
    fn from(error: tch::TchError) -> Self {
        Error::from(&error)
    }
}

impl From<&tch::TchError> for Error {
    fn from(error: &tch::TchError) -> Self {
        let text = libtorch_text(error);
        let kind = if is_out_of_memory(&text) { RT_TORCH_ERROR_OUT_OF_MEMORY } else { RT_TORCH_ERROR_ARGUMENT };
        Error { kind, message: text }
    }
}

/// libtorch's allocators (CPU and CUDA caching) say so in these words.
fn is_out_of_memory(text: &str) -> bool {
    text.contains("can't allocate memory") || text.contains("out of memory")
}

/// libtorch's own message without the C++ stack trace it appends ("Exception raised from ...",
/// "frame #0: ...").
fn libtorch_text(error: &tch::TchError) -> String {
    match error {
        tch::TchError::Torch(text) => without_cpp_trace(text),
        other => without_cpp_trace(&other.to_string()),
    }
}

/// A C++ exception's text without the stack trace libtorch appends to it.
pub fn without_cpp_trace(text: &str) -> String {
    let text = text.split(" frame #0:").next().unwrap_or_default();
    let kept: Vec<&str> = text
        .lines()
        .take_while(|line| !line.starts_with("Exception raised from") && !line.starts_with("frame #"))
        .filter(|line| !line.trim().is_empty())
        .collect();
    kept.join(" ").trim().to_owned()
}

/// Runs the body of the export `function`: clears the thread's error, catches panics, and turns
/// a failure into the error slot's message plus `on_error`, the export's sentinel result.
pub fn guard<T>(function: &str, on_error: T, body: impl FnOnce() -> Result<T>) -> T {
    QUIET_BACKTRACES.call_once(quiet_backtraces);
    clear();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => {
            set(error.kind, format!("{function}: {}", error.message));
            on_error
        }
        Err(panic) => {
            set(RT_TORCH_ERROR_INTERNAL, format!("{function}: internal error: {}", panic_text(&*panic)));
            on_error
        }
    }
}

static QUIET_BACKTRACES: Once = Once::new();

extern "C" {
    fn simple_torch_quiet_cpp_backtraces();
}

/// Makes libtorch errors cheap (rust/shim.cpp), unless the user asked for C++ stack traces
/// with PyTorch's own switch, TORCH_SHOW_CPP_STACKTRACES=1. This is process-wide.
fn quiet_backtraces() {
    if std::env::var("TORCH_SHOW_CPP_STACKTRACES").as_deref() != Ok("1") {
        unsafe { simple_torch_quiet_cpp_backtraces() }
    }
}

fn panic_text(panic: &(dyn Any + Send)) -> &str {
    if let Some(text) = panic.downcast_ref::<&str>() {
        text
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text
    } else {
        "a Rust panic"
    }
}

fn set(kind: i32, message: String) {
    // A message cannot hold NUL in C; replace rather than lose the message.
    let message = CString::new(message.replace('\0', "\\0")).expect("NUL bytes were replaced");
    LAST_ERROR.with(|slot| *slot.borrow_mut() = Some(LastError { kind, message }));
}

pub fn clear() {
    LAST_ERROR.with(|slot| *slot.borrow_mut() = None);
}

/// The current message, valid until the slot next changes on this thread.
pub fn last() -> *const c_char {
    LAST_ERROR.with(|slot| slot.borrow().as_ref().map_or(std::ptr::null(), |e| e.message.as_ptr()))
}

/// The current error's kind, `RT_TORCH_ERROR_NONE` after a successful call.
pub fn last_kind() -> i32 {
    LAST_ERROR.with(|slot| slot.borrow().as_ref().map_or(RT_TORCH_ERROR_NONE, |e| e.kind))
}
