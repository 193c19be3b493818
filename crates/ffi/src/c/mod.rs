//! The C ABI (`libhypar`, `include/hypar.h`): opaque handles over the
//! shared foreign layer, `hypar_result` codes, a thread-local detail message
//! for the last failure, and callbacks on library-owned threads. Every
//! exported function runs inside [`boundary`], so no panic ever crosses
//! into C, and turns pointers into values only through [`handles`].
//!
//! The header is generated from this module by cbindgen (`cbindgen.toml`);
//! the doc comments here are what C programmers read.

#![allow(non_camel_case_types)]

mod boundary;
mod config;
mod handles;
mod keypair;
mod network;
mod topic;
mod topic_options;

pub use config::*;
pub use keypair::*;
pub use network::*;
pub use topic::*;
pub use topic_options::*;

use std::ffi::{c_char, c_int, CStr};

use crate::shared::ErrorKind;
use boundary::{boundary, with_last_error};

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

impl From<ErrorKind> for hypar_result {
    fn from(kind: ErrorKind) -> Self {
        use hypar_result::*;
        match kind {
            ErrorKind::NullArgument => HYPAR_ERR_NULL_ARGUMENT,
            ErrorKind::InvalidArgument => HYPAR_ERR_INVALID_ARGUMENT,
            ErrorKind::MessageTooLarge => HYPAR_ERR_MESSAGE_TOO_LARGE,
            ErrorKind::BufferTooSmall => HYPAR_ERR_BUFFER_TOO_SMALL,
            ErrorKind::ShutDown => HYPAR_ERR_SHUT_DOWN,
            ErrorKind::Panic => HYPAR_ERR_PANIC,
            ErrorKind::InvalidConfig => HYPAR_ERR_INVALID_CONFIG,
            ErrorKind::Listen => HYPAR_ERR_LISTEN,
            ErrorKind::AlreadyJoined => HYPAR_ERR_ALREADY_JOINED,
            ErrorKind::QueueFull => HYPAR_ERR_QUEUE_FULL,
            ErrorKind::Runtime => HYPAR_ERR_RUNTIME,
            ErrorKind::Forked => HYPAR_ERR_FORKED,
        }
    }
}

/// The name of a result code, such as `"HYPAR_ERR_NULL_ARGUMENT"`, as a
/// static NUL-terminated string; `"HYPAR_UNKNOWN"` for a value that is not a
/// code. Never returns NULL. The argument is an `int` so that any value is safe.
#[no_mangle]
pub extern "C" fn hypar_result_name(code: c_int) -> *const c_char {
    boundary(|| -> &'static CStr {
        match code {
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
        }
    })
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
    let copy = |message: &str| {
        if !buf.is_null() && len > 0 {
            let n = message.len().min(len - 1);
            // SAFETY: `buf` holds `len > n` writable bytes by the caller's contract.
            unsafe {
                std::ptr::copy_nonoverlapping(message.as_ptr(), buf.cast::<u8>(), n);
                *buf.add(n) = 0;
            }
        }
        message.len()
    };
    boundary(|| with_last_error(copy).unwrap_or(0))
}

/// The library's version as a static NUL-terminated string, such as
/// `"0.1.0"`. Compare with `HYPAR_VERSION_*` to detect a header that does not
/// match the library. Never returns NULL.
#[no_mangle]
pub extern "C" fn hypar_version() -> *const c_char {
    boundary(|| -> &'static CStr { c_version() })
}

/// The crate version as a C string.
fn c_version() -> &'static CStr {
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => c"unknown",
    }
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
            // SAFETY: the name is a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(hypar_result_name(code)) }.to_str().unwrap();
            assert!(name.starts_with("HYPAR_") && name != "HYPAR_UNKNOWN", "{code}");
        }
        // SAFETY: as above.
        assert_eq!(unsafe { CStr::from_ptr(hypar_result_name(-1)) }, c"HYPAR_UNKNOWN");
        // SAFETY: as above.
        assert_eq!(unsafe { CStr::from_ptr(hypar_version()) }.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn a_panic_becomes_a_code_and_a_message() {
        let r: hypar_result = boundary(|| -> Result<(), crate::shared::ForeignError> { panic!("boom") });
        assert_eq!(r, hypar_result::HYPAR_ERR_PANIC);
        let mut buf = [0 as c_char; 64];
        // SAFETY: the buffer is writable for its length, then NUL-terminated.
        let n = unsafe { hypar_last_error(buf.as_mut_ptr(), buf.len()) };
        // SAFETY: as above.
        let msg = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
        assert!(msg.contains("boom") && n == msg.len(), "{msg}");
    }
}
