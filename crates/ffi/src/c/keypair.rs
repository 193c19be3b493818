//! C handles for identities.

use std::ffi::c_char;

use hypar::Keypair;

use super::boundary::boundary;
use super::handles::{arg_bytes, arg_out, take_box, try_ref, write_handle, write_out, Castable, OwnershipBox};
use super::hypar_result;
use crate::shared::ForeignError;

/// An Ed25519 identity. Create with `hypar_keypair_generate` or
/// `hypar_keypair_from_bytes`; release with `hypar_keypair_free`.
pub struct hypar_keypair {
    _private: [u8; 0],
}

impl Castable for hypar_keypair {
    type Ownership = OwnershipBox;
    type RustType = Keypair;
}

/// Create a fresh random identity into `*out`. Release it with
/// `hypar_keypair_free`. Returns `HYPAR_ERR_NULL_ARGUMENT` if `out` is NULL.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn hypar_keypair_generate(out: *mut *mut hypar_keypair) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: `out` is NULL or writable (the function's contract).
        unsafe { write_handle(arg_out(out, "out")?, Keypair::generate()) };
        Ok(())
    })
}

/// Read an identity from `len` bytes at `key`, in libp2p's protobuf key
/// encoding (what `hypar_keypair_to_bytes` writes). Only Ed25519 keys are
/// accepted; anything else returns `HYPAR_ERR_INVALID_ARGUMENT`. The bytes
/// are copied; the caller keeps ownership of `key`.
///
/// # Safety
/// `key` is NULL or points to `len` readable bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn hypar_keypair_from_bytes(
    key: *const u8,
    len: usize,
    out: *mut *mut hypar_keypair,
) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: the pointers are as the function's contract states.
        unsafe {
            let out = arg_out(out, "out")?;
            let key = Keypair::from_bytes(arg_bytes(key, len, "key")?)?;
            write_handle(out, key);
        }
        Ok(())
    })
}

/// Write the secret key's bytes (libp2p protobuf encoding, 68 bytes for
/// Ed25519) into `buf`, to persist the identity; keep them secret.
/// `*written` is set to the byte count. If `len` is too small, returns
/// `HYPAR_ERR_BUFFER_TOO_SMALL`, leaves `buf` untouched and sets `*written`
/// to the size needed (`buf` may be NULL when `len` is 0).
///
/// # Safety
/// `keypair` is NULL or live; `buf` is NULL or points to `len` writable
/// bytes; `written` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn hypar_keypair_to_bytes(
    keypair: *const hypar_keypair,
    buf: *mut u8,
    len: usize,
    written: *mut usize,
) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: the pointers are as the function's contract states.
        unsafe { write_out(&try_ref(keypair, "keypair")?.to_bytes(), false, buf, len, written) }
    })
}

/// Write the identity's peer id (such as `12D3KooW...`) into `buf` as a
/// NUL-terminated string. `*written` is set to the string length plus one
/// for the NUL. If `len` is too small, returns `HYPAR_ERR_BUFFER_TOO_SMALL`
/// and sets `*written` to the size needed.
///
/// # Safety
/// As for `hypar_keypair_to_bytes`.
#[no_mangle]
pub unsafe extern "C" fn hypar_keypair_peer_id(
    keypair: *const hypar_keypair,
    buf: *mut c_char,
    len: usize,
    written: *mut usize,
) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: the pointers are as the function's contract states.
        unsafe {
            let id = try_ref(keypair, "keypair")?.peer_id().to_string();
            write_out(id.as_bytes(), true, buf.cast(), len, written)
        }
    })
}

/// Release a keypair. NULL is ignored.
///
/// # Safety
/// `keypair` is NULL or a live keypair not used again afterwards.
#[no_mangle]
pub unsafe extern "C" fn hypar_keypair_free(keypair: *mut hypar_keypair) {
    // SAFETY: the function's contract.
    boundary(|| drop(unsafe { take_box(keypair) }))
}
