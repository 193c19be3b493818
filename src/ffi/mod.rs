//! The C ABI (`libhypar`, `include/hypar.h`): opaque handles, `hypar_result`
//! codes, a thread-local detail message for the last failure, and callback
//! delivery on library-owned threads. Every exported function runs inside
//! [`guard`], so no panic ever crosses into C.
//!
//! The header is generated from this module by cbindgen (`cbindgen.toml`);
//! the doc comments here are what C programmers read.

#![allow(non_camel_case_types)]

mod network;
mod topic;

pub use network::*;
pub use topic::*;

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::Error;

/// The major version of the library this header belongs to.
pub const HYPAR_VERSION_MAJOR: u32 = 0;
/// The minor version of the library this header belongs to.
pub const HYPAR_VERSION_MINOR: u32 = 1;
/// The patch version of the library this header belongs to.
pub const HYPAR_VERSION_PATCH: u32 = 0;

/// What a call returned. `HYPAR_OK` is 0; the codes are never renumbered,
/// new ones are only appended. `hypar_last_error` gives the details of the
/// last failure on the calling thread.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum hypar_result {
    /// Success.
    HYPAR_OK = 0,
    /// A required pointer argument was NULL.
    HYPAR_ERR_NULL_ARGUMENT = 1,
    /// An argument was malformed: bad UTF-8, a bad multiaddr, a bad key.
    HYPAR_ERR_INVALID_ARGUMENT = 2,
    /// The payload's frame exceeds the network's maximum message size.
    HYPAR_ERR_MESSAGE_TOO_LARGE = 3,
    /// The output buffer is too small; `*written` says how large it must be.
    HYPAR_ERR_BUFFER_TOO_SMALL = 4,
    /// The network has shut down (or been freed); the handle is inert.
    HYPAR_ERR_SHUT_DOWN = 5,
    /// An internal error (a bug) was caught before it reached the caller.
    HYPAR_ERR_PANIC = 6,
    /// A configuration value is out of range.
    HYPAR_ERR_INVALID_CONFIG = 7,
    /// A listen address could not be bound.
    HYPAR_ERR_LISTEN = 8,
    /// The topic is already joined on this network.
    HYPAR_ERR_ALREADY_JOINED = 9,
    /// Too many publishes of the topic wait for the network thread; retry later.
    HYPAR_ERR_QUEUE_FULL = 10,
    /// The network thread could not start or run.
    HYPAR_ERR_RUNTIME = 11,
    /// The handle was created in another process (this one is a `fork` of it).
    HYPAR_ERR_FORKED = 12,
}

use hypar_result::*;

/// A failure on its way to C: the code and the detail for `hypar_last_error`.
pub(crate) struct Fail {
    code: hypar_result,
    message: String,
}

impl Fail {
    pub(crate) fn new(code: hypar_result, message: impl Into<String>) -> Fail {
        Fail { code, message: message.into() }
    }

    pub(crate) fn null(arg: &str) -> Fail {
        Fail::new(HYPAR_ERR_NULL_ARGUMENT, format!("argument `{arg}` is NULL"))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Fail {
        Fail::new(HYPAR_ERR_INVALID_ARGUMENT, message)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        let code = match e {
            Error::MessageTooLarge { .. } => HYPAR_ERR_MESSAGE_TOO_LARGE,
            Error::ShutDown => HYPAR_ERR_SHUT_DOWN,
            Error::InvalidMultiaddr { .. } | Error::InvalidKeypair(_) => HYPAR_ERR_INVALID_ARGUMENT,
            Error::InvalidConfig(_) => HYPAR_ERR_INVALID_CONFIG,
            Error::Listen { .. } => HYPAR_ERR_LISTEN,
            Error::AlreadyJoined(_) => HYPAR_ERR_ALREADY_JOINED,
            Error::QueueFull { .. } => HYPAR_ERR_QUEUE_FULL,
            Error::Runtime(_) => HYPAR_ERR_RUNTIME,
            Error::Forked => HYPAR_ERR_FORKED,
        };
        Fail::new(code, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: String) {
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = message);
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let what = panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str));
    format!("internal error (please report it): {}", what.unwrap_or("a panic"))
}

/// The panic boundary every exported function runs in: a failure becomes its
/// code plus the thread's last-error detail, a panic becomes `HYPAR_ERR_PANIC`.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Fail>) -> hypar_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => HYPAR_OK,
        Ok(Err(fail)) => {
            set_last_error(fail.message);
            fail.code
        }
        Err(panic) => {
            set_last_error(panic_message(&*panic));
            HYPAR_ERR_PANIC
        }
    }
}

/// [`guard`] for functions that return nothing (the `_free` family).
pub(crate) fn guard_void(body: impl FnOnce()) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(body)) {
        set_last_error(panic_message(&*panic));
    }
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, arg: &str) -> Result<&'a str, Fail> {
    if p.is_null() {
        return Err(Fail::null(arg));
    }
    CStr::from_ptr(p).to_str().map_err(|e| Fail::invalid(format!("argument `{arg}` is not valid UTF-8: {e}")))
}

/// A byte-buffer argument; NULL is allowed when `len` is 0.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes that outlive `'a`.
pub(crate) unsafe fn arg_bytes<'a>(p: *const u8, len: usize, arg: &str) -> Result<&'a [u8], Fail> {
    match (p.is_null(), len) {
        (true, 0) => Ok(&[]),
        (true, _) => Err(Fail::null(arg)),
        (false, _) => Ok(std::slice::from_raw_parts(p, len)),
    }
}

/// A reference to an opaque handle.
///
/// # Safety
/// `p` is NULL or a live handle of this type.
pub(crate) unsafe fn arg_ref<'a, T>(p: *const T, arg: &str) -> Result<&'a T, Fail> {
    p.as_ref().ok_or_else(|| Fail::null(arg))
}

/// Check an out-pointer before doing the work, so nothing is lost when it is NULL.
pub(crate) fn arg_out<T>(p: *mut T, arg: &str) -> Result<*mut T, Fail> {
    if p.is_null() {
        Err(Fail::null(arg))
    } else {
        Ok(p)
    }
}

/// Copy `bytes` into the caller's buffer, or report the size it needs.
/// With `nul`, a terminating NUL is added and counted.
///
/// # Safety
/// `buf` is NULL or points to `len` writable bytes; `written` is NULL or writable.
pub(crate) unsafe fn write_out(
    bytes: &[u8],
    nul: bool,
    buf: *mut u8,
    len: usize,
    written: *mut usize,
) -> Result<(), Fail> {
    let written = arg_out(written, "written")?;
    if buf.is_null() && len > 0 {
        return Err(Fail::null("buf"));
    }
    let needed = bytes.len() + usize::from(nul);
    if len < needed {
        *written = needed;
        return Err(Fail::new(
            HYPAR_ERR_BUFFER_TOO_SMALL,
            format!("the buffer holds {len} bytes and the answer needs {needed}"),
        ));
    }
    std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len());
    if nul {
        *buf.add(bytes.len()) = 0;
    }
    *written = needed;
    Ok(())
}

/// The id of this process, to detect use of a handle after `fork`.
pub(crate) fn check_process(pid: u32) -> Result<(), Fail> {
    if pid == std::process::id() {
        Ok(())
    } else {
        Err(Fail::new(
            HYPAR_ERR_FORKED,
            "this handle was created in the parent process; a forked child must create its own network",
        ))
    }
}

/// A `void *userdata` that the caller promised may be used from the
/// library's delivery thread.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub *mut std::ffi::c_void);

// SAFETY: the header documents that userdata is handed to callbacks on the
// library's delivery threads; making that sound is the caller's contract.
unsafe impl Send for UserData {}

/// The name of a result code, such as `"HYPAR_ERR_NULL_ARGUMENT"`, as a
/// static NUL-terminated string; `"HYPAR_UNKNOWN"` for a value that is not a
/// code. Never returns NULL. The argument is an `int` so that any value is safe.
#[no_mangle]
pub extern "C" fn hypar_result_name(code: c_int) -> *const c_char {
    let name: &'static CStr = match code {
        0 => c"HYPAR_OK",
        1 => c"HYPAR_ERR_NULL_ARGUMENT",
        2 => c"HYPAR_ERR_INVALID_ARGUMENT",
        3 => c"HYPAR_ERR_MESSAGE_TOO_LARGE",
        4 => c"HYPAR_ERR_BUFFER_TOO_SMALL",
        5 => c"HYPAR_ERR_SHUT_DOWN",
        6 => c"HYPAR_ERR_PANIC",
        7 => c"HYPAR_ERR_INVALID_CONFIG",
        8 => c"HYPAR_ERR_LISTEN",
        9 => c"HYPAR_ERR_ALREADY_JOINED",
        10 => c"HYPAR_ERR_QUEUE_FULL",
        11 => c"HYPAR_ERR_RUNTIME",
        12 => c"HYPAR_ERR_FORKED",
        _ => c"HYPAR_UNKNOWN",
    };
    name.as_ptr()
}

/// Copy the detail message of the last failed call on this thread into
/// `buf` (truncated to `len - 1` bytes and always NUL-terminated when `len`
/// is at least 1), and return the full message length without the NUL, as
/// `snprintf` does. Returns 0 if no call on this thread has failed. `buf` may
/// be NULL when `len` is 0, to ask for the length only.
///
/// # Safety
/// `buf` is NULL or points to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn hypar_last_error(buf: *mut c_char, len: usize) -> usize {
    let copy = |message: &String| {
        if !buf.is_null() && len > 0 {
            let n = message.len().min(len - 1);
            std::ptr::copy_nonoverlapping(message.as_ptr(), buf.cast::<u8>(), n);
            *buf.add(n) = 0;
        }
        message.len()
    };
    catch_unwind(AssertUnwindSafe(|| LAST_ERROR.try_with(|e| copy(&e.borrow())).unwrap_or(0))).unwrap_or(0)
}

/// The library's version as a static NUL-terminated string, such as
/// `"0.1.0"`. Compare with `HYPAR_VERSION_*` to detect a header that does not
/// match the library. Never returns NULL.
#[no_mangle]
pub extern "C" fn hypar_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_constants_match_the_crate() {
        assert_eq!(HYPAR_VERSION_MAJOR.to_string(), env!("CARGO_PKG_VERSION_MAJOR"));
        assert_eq!(HYPAR_VERSION_MINOR.to_string(), env!("CARGO_PKG_VERSION_MINOR"));
        assert_eq!(HYPAR_VERSION_PATCH.to_string(), env!("CARGO_PKG_VERSION_PATCH"));
    }

    #[test]
    fn every_code_has_its_own_name() {
        for code in 0..=12 {
            let name = unsafe { CStr::from_ptr(hypar_result_name(code)) }.to_str().unwrap();
            assert!(name.starts_with("HYPAR_") && name != "HYPAR_UNKNOWN", "{code}");
        }
        assert_eq!(unsafe { CStr::from_ptr(hypar_result_name(-1)) }, c"HYPAR_UNKNOWN");
    }

    #[test]
    fn a_panic_becomes_a_code_and_a_message() {
        assert_eq!(guard(|| panic!("boom")), HYPAR_ERR_PANIC);
        let mut buf = [0 as c_char; 64];
        let n = unsafe { hypar_last_error(buf.as_mut_ptr(), buf.len()) };
        let msg = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
        assert!(msg.contains("boom") && n == msg.len(), "{msg}");
    }
}
