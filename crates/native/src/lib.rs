//! The native hypar library, `libhypar.so` and `libhypar.a`: the C ABI
//! declared in `include/hypar.h` and the uniffi exports that the Python,
//! Kotlin and Swift bindings load. Every exported symbol is defined in
//! [`hypar_ffi`]; linking it here is all this crate does.

extern crate hypar_ffi;
