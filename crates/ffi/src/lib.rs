//! hypar's foreign layer: everything `libhypar` exports, for C (`c`, the
//! ABI declared in `include/hypar.h`) and for Python, Kotlin and Swift
//! (`uniffi_api`), over one shared layer (`shared`) that holds what both
//! faces need: errors, records, argument parsing, callback threads, and the
//! network and topic objects.
//!
//! The native library itself (`libhypar.so`, `libhypar.a`) is the crate
//! `crates/native`, which only links this one.

pub mod c;
pub mod shared;
pub mod uniffi_api;

uniffi::setup_scaffolding!("hypar");
