//! Handles and arguments: how a C pointer becomes a Rust value and back.
//!
//! Every opaque C type names the Rust type behind it and how it is owned
//! ([`Castable`]); the helpers here are the only places that turn pointers
//! into references or boxes, so no exported function writes
//! `Box::into_raw` or `from_raw` itself. Every helper is an `unsafe fn`
//! whose contract is what the header promises of the pointer.

use std::ffi::{c_char, CStr};

use crate::shared::{ErrorKind, ForeignError};

/// The handle was created by a `_new`-style function as a `Box`, and is
/// released by its `_free` function.
pub(crate) struct OwnershipBox;

/// An opaque C type: the Rust value behind its pointers, and its ownership.
pub(crate) trait Castable {
    type Ownership;
    type RustType;
}

/// Hand `value` to C as a new handle.
pub(crate) fn to_box_ptr<C: Castable<Ownership = OwnershipBox>>(value: C::RustType) -> *mut C {
    Box::into_raw(Box::new(value)).cast::<C>()
}

/// Store `value` as a new handle in `*out`.
///
/// # Safety
/// `out` was checked with [`arg_out`] (non-NULL) and is writable.
pub(crate) unsafe fn write_handle<C: Castable<Ownership = OwnershipBox>>(out: *mut *mut C, value: C::RustType) {
    // SAFETY: the caller's contract.
    unsafe { *out = to_box_ptr(value) };
}

/// Take back ownership of a handle for its `_free` function; `None` for NULL.
///
/// # Safety
/// `p` is NULL or a handle of this type, not used again afterwards.
pub(crate) unsafe fn take_box<C: Castable<Ownership = OwnershipBox>>(p: *mut C) -> Option<Box<C::RustType>> {
    // SAFETY: a non-NULL `p` came from `to_box_ptr` for this type.
    (!p.is_null()).then(|| unsafe { Box::from_raw(p.cast::<C::RustType>()) })
}

/// The value behind a handle argument called `arg`.
///
/// # Safety
/// `p` is NULL or a live handle of this type, not freed during `'a`.
pub(crate) unsafe fn try_ref<'a, C: Castable>(p: *const C, arg: &str) -> Result<&'a C::RustType, ForeignError> {
    // SAFETY: the caller's contract; a handle points to its Rust type.
    unsafe { p.cast::<C::RustType>().as_ref() }.ok_or_else(|| ForeignError::null(arg))
}

/// The value behind a handle argument the caller lets us change.
///
/// # Safety
/// `p` is NULL or a live handle of this type that no other thread uses
/// during `'a`.
pub(crate) unsafe fn try_mut<'a, C: Castable<Ownership = OwnershipBox>>(
    p: *mut C,
    arg: &str,
) -> Result<&'a mut C::RustType, ForeignError> {
    // SAFETY: the caller's contract; a handle points to its Rust type.
    unsafe { p.cast::<C::RustType>().as_mut() }.ok_or_else(|| ForeignError::null(arg))
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, arg: &str) -> Result<&'a str, ForeignError> {
    if p.is_null() {
        return Err(ForeignError::null(arg));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|e| ForeignError::invalid(format!("argument `{arg}` is not valid UTF-8: {e}")))
}

/// An array of `len` string arguments; NULL is allowed when `len` is 0.
///
/// # Safety
/// `p` is NULL or points to `len` pointers, each NULL or a NUL-terminated
/// string, all outliving `'a`.
pub(crate) unsafe fn arg_strs<'a>(
    p: *const *const c_char,
    len: usize,
    arg: &str,
) -> Result<Vec<&'a str>, ForeignError> {
    let items = match (p.is_null(), len) {
        (true, 0) => return Ok(Vec::new()),
        (true, _) => return Err(ForeignError::null(arg)),
        // SAFETY: `len` readable pointers by the caller's contract.
        (false, n) => unsafe { std::slice::from_raw_parts(p, n) },
    };
    // SAFETY: each item is NULL or a NUL-terminated string.
    items.iter().enumerate().map(|(i, &s)| unsafe { arg_str(s, &format!("{arg}[{i}]")) }).collect()
}

/// A byte-buffer argument; NULL is allowed when `len` is 0.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes that outlive `'a`.
pub(crate) unsafe fn arg_bytes<'a>(p: *const u8, len: usize, arg: &str) -> Result<&'a [u8], ForeignError> {
    match (p.is_null(), len) {
        (true, 0) => Ok(&[]),
        (true, _) => Err(ForeignError::null(arg)),
        // SAFETY: `len` readable bytes by the caller's contract.
        (false, _) => Ok(unsafe { std::slice::from_raw_parts(p, len) }),
    }
}

/// An out-pointer, checked before any work so nothing is lost when it is NULL.
///
/// # Safety
/// None beyond what the header states: the pointer is only checked here.
pub(crate) unsafe fn arg_out<T>(p: *mut T, arg: &str) -> Result<*mut T, ForeignError> {
    if p.is_null() {
        Err(ForeignError::null(arg))
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
) -> Result<(), ForeignError> {
    // SAFETY: only checked for NULL.
    let written = unsafe { arg_out(written, "written")? };
    if buf.is_null() && len > 0 {
        return Err(ForeignError::null("buf"));
    }
    let needed = bytes.len() + usize::from(nul);
    if len < needed {
        // SAFETY: `written` is non-NULL and writable by the caller's contract.
        unsafe { *written = needed };
        return Err(ForeignError::new(
            ErrorKind::BufferTooSmall,
            format!("the buffer holds {len} bytes and the answer needs {needed}"),
        ));
    }
    // SAFETY: `buf` holds `len >= needed` writable bytes; `written` is writable.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len());
        if nul {
            *buf.add(bytes.len()) = 0;
        }
        *written = needed;
    }
    Ok(())
}

/// A `void *userdata` that the caller promised may be used from the
/// library's callback threads.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub(crate) *mut std::ffi::c_void);

// SAFETY: the header documents that userdata is handed to callbacks on the
// library's threads; making that sound is the caller's contract.
unsafe impl Send for UserData {}
