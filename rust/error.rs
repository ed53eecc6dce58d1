//! The per-thread error slot and the guard every export runs its body under.
//!
//! Nothing may unwind or abort across the C ABI: a libtorch exception arrives as a `TchError`
//! from tch's fallible `f_*` calls, a Rust panic is caught here, and both become the calling
//! thread's last error plus the export's sentinel result (ABI.md, "Errors").

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Why one call failed, in words for a person.
#[derive(Debug)]
pub struct Error(pub String);

pub type Result<T> = std::result::Result<T, Error>;

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error(message.to_owned())
    }
}

impl From<tch::TchError> for Error {
    fn from(error: tch::TchError) -> Self {
        Error(libtorch_text(&error))
    }
}

/// libtorch's own message without the C++ stack trace it appends ("Exception raised from ...",
/// "frame #0: ...").
pub fn libtorch_text(error: &tch::TchError) -> String {
    let text = match error {
        tch::TchError::Torch(text) => text.clone(),
        other => other.to_string(),
    };
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
    clear();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(Error(message))) => {
            set(format!("{function}: {message}"));
            on_error
        }
        Err(panic) => {
            set(format!("{function}: internal error: {}", panic_text(&*panic)));
            on_error
        }
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

fn set(message: String) {
    // A message cannot hold NUL in C; replace rather than lose the message.
    let message = CString::new(message.replace('\0', "\\0")).expect("NUL bytes were replaced");
    LAST_ERROR.with(|slot| *slot.borrow_mut() = Some(message));
}

pub fn clear() {
    LAST_ERROR.with(|slot| *slot.borrow_mut() = None);
}

/// The current message, valid until the slot next changes on this thread.
pub fn last() -> *const c_char {
    LAST_ERROR.with(|slot| slot.borrow().as_ref().map_or(std::ptr::null(), |m| m.as_ptr()))
}
